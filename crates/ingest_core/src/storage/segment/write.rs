//! Writing segments (see the module docs for the layout).

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use parquet::basic::{Compression, Encoding, IntType, LogicalType, Repetition, Type as Physical, ZstdLevel};
use parquet::column::writer::ColumnWriter;
use parquet::data_type::ByteArray;
use parquet::errors::ParquetError;
use parquet::file::metadata::{KeyValue, SortingColumn};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::{ColumnPath, Type};

use super::{PResult, KINDS_KEY, NULLS_KEY, ROW_GROUP_ROWS, TIMESTAMP, WRITE_CHUNK_ROWS};
use crate::error::{IngestError, Result};
use crate::merge::table::{Column, Table};
use crate::storage::tagged;
use crate::value::{Elem, Kind, Packed, Value};

/// See `properties`.
const DICTIONARY_PAGE_BYTES: usize = 64 * 1024;

fn element_type(elem: Elem) -> PResult<Type> {
    let (physical, logical) = match elem {
        Elem::I8 => (Physical::INT32, Some((8, true))),
        Elem::U8 | Elem::U8Clamped => (Physical::INT32, Some((8, false))),
        Elem::I16 => (Physical::INT32, Some((16, true))),
        Elem::U16 => (Physical::INT32, Some((16, false))),
        Elem::I32 => (Physical::INT32, None),
        Elem::U32 => (Physical::INT32, Some((32, false))),
        Elem::F32 => (Physical::FLOAT, None),
        Elem::F64 => (Physical::DOUBLE, None),
        Elem::I64 => (Physical::INT64, None),
        Elem::U64 => (Physical::INT64, Some((64, false))),
    };
    Type::primitive_type_builder("element", physical)
        .with_repetition(Repetition::REQUIRED)
        .with_logical_type(logical.map(|(bit_width, is_signed)| LogicalType::Integer(IntType { bit_width, is_signed })))
        .build()
}

fn column_type(name: &str, kind: Kind) -> PResult<Type> {
    let primitive = |physical, logical| {
        Type::primitive_type_builder(name, physical)
            .with_repetition(Repetition::OPTIONAL)
            .with_logical_type(logical)
            .build()
    };
    let list = |element: Type| {
        let repeated = Type::group_type_builder("list")
            .with_repetition(Repetition::REPEATED)
            .with_fields(vec![Arc::new(element)])
            .build()?;
        Type::group_type_builder(name)
            .with_repetition(Repetition::OPTIONAL)
            .with_logical_type(Some(LogicalType::List))
            .with_fields(vec![Arc::new(repeated)])
            .build()
    };
    match kind {
        Kind::F64 => primitive(Physical::DOUBLE, None),
        Kind::Bool => primitive(Physical::BOOLEAN, None),
        Kind::Str => primitive(Physical::BYTE_ARRAY, Some(LogicalType::String)),
        Kind::BigInt => primitive(Physical::INT64, None),
        Kind::Json | Kind::Mixed => primitive(Physical::BYTE_ARRAY, Some(LogicalType::Json)),
        Kind::Null => primitive(Physical::INT32, Some(LogicalType::Unknown)),
        Kind::F64List => list(element_type(Elem::F64)?),
        Kind::Typed(elem) => list(element_type(elem)?),
    }
}

fn leaf_path(name: &str, kind: Kind) -> ColumnPath {
    match kind {
        Kind::F64List | Kind::Typed(_) => ColumnPath::new(vec![name.into(), "list".into(), "element".into()]),
        _ => ColumnPath::new(vec![name.into()]),
    }
}

/// Segments with fewer rows are written uncompressed: a zstd context per column chunk costs more
/// than it saves on a handful of values (an entry with 100,000 keys spent half its flush creating
/// them), and compaction merges small segments into compressed ones later.
const COMPRESS_FROM_ROWS: usize = 16;

fn properties(columns: &[(&Column, Kind)], rows: usize) -> PResult<WriterProperties> {
    let compression = match rows < COMPRESS_FROM_ROWS {
        true => Compression::UNCOMPRESSED,
        false => Compression::ZSTD(ZstdLevel::try_new(1)?),
    };
    let mut builder = WriterProperties::builder()
        .set_compression(compression)
        // Data pages v2 compress values only and skip the v1 writer's extra copies of each page
        // (RL rows with a 64-float array: 635 → 435 ns/row to encode; `npm run bench:core`).
        .set_writer_version(WriterVersion::PARQUET_2_0)
        .set_dictionary_enabled(false)
        // Dictionaries serve repeated strings (labels, sources, tags); a column of unique strings
        // falls back to plain pages after this much instead of interning its first megabyte.
        .set_dictionary_page_size_limit(DICTIONARY_PAGE_BYTES)
        .set_column_encoding(ColumnPath::new(vec![TIMESTAMP.into()]), Encoding::BYTE_STREAM_SPLIT)
        // Rows are sorted by timestamp (the first column), unique per segment: declared, so other
        // engines (DuckDB, DataFusion, polars) can skip sorting and prune by it.
        .set_sorting_columns(Some(vec![SortingColumn {
            column_idx: 0,
            descending: false,
            nulls_first: false,
        }]));
    for (column, kind) in columns {
        let path = leaf_path(&column.name, *kind);
        builder = match kind {
            Kind::F64 => builder.set_column_encoding(path, Encoding::BYTE_STREAM_SPLIT),
            // Statistics over array elements would cost a comparison per element and serve no
            // row-group pruning (only timestamps do).
            Kind::F64List | Kind::Typed(Elem::F32 | Elem::F64) => builder
                .set_column_encoding(path.clone(), Encoding::BYTE_STREAM_SPLIT)
                .set_column_statistics_enabled(path, EnabledStatistics::None),
            Kind::Typed(_) => builder.set_column_statistics_enabled(path, EnabledStatistics::None),
            Kind::Str | Kind::Json | Kind::Mixed => builder.set_column_dictionary_enabled(path, true),
            _ => builder,
        };
    }
    Ok(builder.build())
}

/// Encodes `table` (normalized) as one Parquet file into `sink`.
fn encode<W: std::io::Write + Send>(sink: W, table: &Table) -> PResult<W> {
    let columns: Vec<(&Column, Kind)> = table
        .columns()
        .iter()
        .filter_map(|c| c.kind().map(|k| (c, k)))
        .collect();
    let mut fields = vec![Arc::new(
        Type::primitive_type_builder(TIMESTAMP, Physical::DOUBLE)
            .with_repetition(Repetition::REQUIRED)
            .build()?,
    )];
    for (column, kind) in &columns {
        fields.push(Arc::new(column_type(&column.name, *kind)?));
    }
    let schema = Arc::new(Type::group_type_builder("schema").with_fields(fields).build()?);
    let mut writer = SerializedFileWriter::new(sink, schema, Arc::new(properties(&columns, table.len())?))?;
    let kinds: BTreeMap<&str, String> = columns.iter().map(|(c, k)| (&*c.name, k.name())).collect();
    writer.append_key_value_metadata(KeyValue::new(
        KINDS_KEY.into(),
        serde_json::to_string(&kinds).unwrap_or_default(),
    ));
    let nulls: BTreeMap<&str, Vec<[usize; 2]>> = columns
        .iter()
        .filter(|(_, kind)| *kind != Kind::Mixed)
        .filter_map(|(c, _)| {
            let runs = null_runs(c);
            (!runs.is_empty()).then_some((&*c.name, runs))
        })
        .collect();
    if !nulls.is_empty() {
        writer.append_key_value_metadata(KeyValue::new(
            NULLS_KEY.into(),
            serde_json::to_string(&nulls).unwrap_or_default(),
        ));
    }
    if let Some(summary) = super::summary::encode(table) {
        writer.append_key_value_metadata(KeyValue::new(super::summary::SUMMARY_KEY.into(), summary));
    }

    // Row groups of bounded size, so a time-range read skips the groups outside its range.
    let mut from = 0;
    loop {
        let to = (from + ROW_GROUP_ROWS).min(table.len());
        let mut row_group = writer.next_row_group()?;
        let mut leaves = std::iter::once(None).chain(columns.iter().map(Some));
        while let Some(mut leaf) = row_group.next_column()? {
            match leaves.next().flatten() {
                None => {
                    if let ColumnWriter::DoubleColumnWriter(w) = leaf.untyped() {
                        w.write_batch(table.timestamps().get(from..to).unwrap_or_default(), None, None)?;
                    }
                }
                Some((column, kind)) => write_column(leaf.untyped(), column, *kind, from..to)?,
            }
            leaf.close()?;
        }
        row_group.close()?;
        from = to;
        if from >= table.len() {
            break;
        }
    }
    writer.into_inner()
}

/// The operating-system error a Parquet error carries (a write that failed), so its code
/// (`ENOSPC`) reaches the caller; any other Parquet error as an I/O error around it.
fn io_error(error: ParquetError) -> std::io::Error {
    match error {
        ParquetError::External(inner) => match inner.downcast::<std::io::Error>() {
            Ok(io) => *io,
            Err(other) => std::io::Error::other(other),
        },
        other => std::io::Error::other(other),
    }
}

/// Writes `table` (normalized) to `path` as one Parquet file (created fresh: see
/// [`crate::storage::fsx::create_fresh`]), not synced: the caller syncs (see [`crate::storage::track_store::commit`]).
/// Returns its size. `lost` says what a failure loses (for the error).
pub fn write(path: &Path, table: &Table, lost: &str) -> Result<u64> {
    let file = crate::storage::fsx::create_fresh(path).map_err(|e| IngestError::io(path, lost, e))?;
    let file = encode(file, table).map_err(|e| IngestError::io(path, lost, io_error(e)))?;
    let size = file.metadata().map_err(|e| IngestError::io(path, lost, e))?.len();
    Ok(size)
}

/// `table` (normalized) as the bytes of one self-contained Parquet file.
pub fn to_bytes(table: &Table) -> Result<Vec<u8>> {
    encode(Vec::new(), table).map_err(|e| IngestError::internal("encoding Parquet in memory", e))
}

/// The rows holding an explicit null, as `[first_row, count]` runs.
fn null_runs(column: &Column) -> Vec<[usize; 2]> {
    let mut runs: Vec<[usize; 2]> = Vec::new();
    let Some(cells) = column.general() else {
        return runs;
    };
    for (row, cell) in cells.iter().enumerate() {
        if let Some(Value::Null) = cell {
            match runs.last_mut() {
                Some([first, count]) if *first + *count == row => *count += 1,
                _ => runs.push([row, 1]),
            }
        }
    }
    runs
}

/// Writes typed arrays of `elem` (raw little-endian bytes, one item per row, `None` = absent or
/// null) into a list column chunk.
fn write_typed<'a>(
    writer: &mut ColumnWriter<'_>,
    elem: Elem,
    rows: impl Iterator<Item = Option<&'a [u8]>>,
) -> PResult<()> {
    match (writer, elem) {
        (ColumnWriter::DoubleColumnWriter(w), Elem::F64) => {
            let (defs, reps, values) = nested(rows, |b, out| elements(b, out, f64::from_le_bytes));
            w.write_batch(&values, Some(&defs), Some(&reps))?;
        }
        (ColumnWriter::FloatColumnWriter(w), Elem::F32) => {
            let (defs, reps, values) = nested(rows, |b, out| elements(b, out, f32::from_le_bytes));
            w.write_batch(&values, Some(&defs), Some(&reps))?;
        }
        (ColumnWriter::Int64ColumnWriter(w), Elem::I64 | Elem::U64) => {
            // U64 is stored as its bit pattern with the UINT_64 logical type.
            let (defs, reps, values) = nested(rows, |b, out| elements(b, out, i64::from_le_bytes));
            w.write_batch(&values, Some(&defs), Some(&reps))?;
        }
        (ColumnWriter::Int32ColumnWriter(w), elem) => {
            let (defs, reps, values) = nested(rows, |b, out| match elem {
                Elem::I8 => elements(b, out, |b: [u8; 1]| i32::from(i8::from_le_bytes(b))),
                Elem::U8 | Elem::U8Clamped => elements(b, out, |b: [u8; 1]| i32::from(b[0])),
                Elem::I16 => elements(b, out, |b| i32::from(i16::from_le_bytes(b))),
                Elem::U16 => elements(b, out, |b| i32::from(u16::from_le_bytes(b))),
                // U32 is stored as its bit pattern with the UINT_32 logical type.
                _ => elements(b, out, i32::from_le_bytes),
            });
            w.write_batch(&values, Some(&defs), Some(&reps))?;
        }
        (_, elem) => return Err(no_writer(Kind::Typed(elem))),
    }
    Ok(())
}

/// Definition levels of a flat optional column (1 = present) and its present values, one item
/// per row (`None` = absent); `pick` gives a present item's value (`None` = a null).
fn flat<X, T>(
    items: impl ExactSizeIterator<Item = Option<X>>,
    mut pick: impl FnMut(X) -> Option<T>,
) -> (Vec<i16>, Vec<T>) {
    let mut defs = Vec::with_capacity(items.len());
    let mut values = Vec::with_capacity(items.len());
    for item in items {
        match item.and_then(&mut pick) {
            Some(v) => {
                defs.push(1);
                values.push(v);
            }
            None => defs.push(0),
        }
    }
    (defs, values)
}

/// Levels and values of a 3-level list column, one item of `lists` per row (`None` = absent or
/// null): def 0 = absent, 1 = empty list, 2 = element. `items` appends a list's elements.
fn nested<'a, L: ?Sized + 'a, T>(
    lists: impl Iterator<Item = Option<&'a L>>,
    mut items: impl FnMut(&L, &mut Vec<T>),
) -> (Vec<i16>, Vec<i16>, Vec<T>) {
    let (mut defs, mut reps, mut values) = (Vec::new(), Vec::new(), Vec::new());
    for list in lists {
        let before = values.len();
        if let Some(list) = list {
            items(list, &mut values);
        }
        match (list, values.len() - before) {
            (None, _) => {
                defs.push(0);
                reps.push(0);
            }
            (Some(_), 0) => {
                defs.push(1);
                reps.push(0);
            }
            (Some(_), n) => {
                defs.extend(std::iter::repeat_n(2, n));
                reps.push(0);
                reps.extend(std::iter::repeat_n(1, n - 1));
            }
        }
    }
    (defs, reps, values)
}

/// Appends the elements of a typed array's little-endian `bytes`, converted.
fn elements<const N: usize, T>(bytes: &[u8], out: &mut Vec<T>, convert: impl Fn([u8; N]) -> T) {
    out.extend(bytes.chunks_exact(N).map(|chunk| {
        let mut array = [0u8; N];
        array.copy_from_slice(chunk);
        convert(array)
    }));
}

fn no_writer(kind: Kind) -> parquet::errors::ParquetError {
    parquet::errors::ParquetError::General(format!("no writer for column kind {}", kind.name()))
}

/// Writes rows `rows` of `column` into one column chunk.
fn write_column(writer: &mut ColumnWriter<'_>, column: &Column, kind: Kind, rows: Range<usize>) -> PResult<()> {
    let packed = match kind {
        Kind::Typed(elem) => Some(Packed::Typed(elem)),
        Kind::Str => Some(Packed::Str),
        Kind::Json => Some(Packed::Json),
        _ => None,
    };
    if let Some(packed) = packed {
        // Runs of bytes straight from the column (packed or general), in chunks like below.
        for from in rows.clone().step_by(WRITE_CHUNK_ROWS) {
            let chunk = (from..(from + WRITE_CHUNK_ROWS).min(rows.end)).map(|row| column.packed(row, packed));
            match (&mut *writer, packed) {
                (ColumnWriter::ByteArrayColumnWriter(w), Packed::Str | Packed::Json) => {
                    let (defs, values) = flat(chunk, |run| Some(ByteArray::from(run.to_vec())));
                    w.write_batch(&values, Some(&defs), None)?;
                }
                (writer, Packed::Typed(elem)) => write_typed(writer, elem, chunk)?,
                (_, packed) => return Err(no_writer(packed.kind())),
            }
        }
        return Ok(());
    }
    if let (ColumnWriter::DoubleColumnWriter(w), Some((values, present))) = (&mut *writer, column.numbers()) {
        // The sensor fast path: numbers straight from the column, no per-cell values.
        let values = values.get(rows.clone()).unwrap_or_default();
        let present = present.get(rows).unwrap_or_default();
        let defs: Vec<i16> = present.iter().map(|p| i16::from(*p)).collect();
        if present.iter().all(|p| *p) {
            w.write_batch(values, Some(&defs), None)?;
        } else {
            let dense: Vec<f64> = values
                .iter()
                .zip(present)
                .filter(|(_, p)| **p)
                .map(|(v, _)| *v)
                .collect();
            w.write_batch(&dense, Some(&defs), None)?;
        }
        return Ok(());
    }
    let all = column.cells();
    let selected: &[Option<Value>] = all.get(rows).unwrap_or_default();

    // In chunks, so the level and value buffers stay small and hot (large fresh allocations cost
    // page faults on every seal).
    for cells in selected.chunks(WRITE_CHUNK_ROWS) {
        match (&mut *writer, kind) {
            (ColumnWriter::Int32ColumnWriter(w), Kind::Null) => {
                // Every row is null or absent; which are explicit nulls is in `dash.nulls`.
                w.write_batch(&[], Some(&vec![0; cells.len()]), None)?;
            }
            (ColumnWriter::DoubleColumnWriter(w), Kind::F64) => {
                let (defs, values) = flat(cells.iter().map(Option::as_ref), |v| {
                    if let Value::F64(x) = v {
                        Some(*x)
                    } else {
                        None
                    }
                });
                w.write_batch(&values, Some(&defs), None)?;
            }
            (ColumnWriter::BoolColumnWriter(w), Kind::Bool) => {
                let (defs, values) = flat(cells.iter().map(Option::as_ref), |v| {
                    if let Value::Bool(x) = v {
                        Some(*x)
                    } else {
                        None
                    }
                });
                w.write_batch(&values, Some(&defs), None)?;
            }
            (ColumnWriter::Int64ColumnWriter(w), Kind::BigInt) => {
                let (defs, values) = flat(cells.iter().map(Option::as_ref), |v| {
                    if let Value::BigInt(x) = v {
                        Some(*x)
                    } else {
                        None
                    }
                });
                w.write_batch(&values, Some(&defs), None)?;
            }
            (ColumnWriter::ByteArrayColumnWriter(w), Kind::Mixed) => {
                let (defs, values) = flat(cells.iter().map(Option::as_ref), |v| {
                    Some(ByteArray::from(tagged::encode(v).into_bytes()))
                });
                w.write_batch(&values, Some(&defs), None)?;
            }
            (ColumnWriter::DoubleColumnWriter(w), Kind::F64List) => {
                let lists = cells.iter().map(|cell| match cell {
                    Some(Value::F64List(items)) => Some(&**items),
                    _ => None,
                });
                let (defs, reps, values) = nested(lists, |items, out| out.extend_from_slice(items));
                w.write_batch(&values, Some(&defs), Some(&reps))?;
            }
            (_, kind) => return Err(no_writer(kind)),
        }
    }
    Ok(())
}
