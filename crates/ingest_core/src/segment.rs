//! Parquet segments: one table per track, `timestamp` (REQUIRED DOUBLE, strictly increasing) plus
//! one OPTIONAL column per field, where a null cell means "the entry had no such field".
//!
//! Physical layout per column kind (standard Parquet, readable by DuckDB / pyarrow / polars):
//! number → DOUBLE (byte-stream-split), boolean → BOOLEAN, string → BYTE_ARRAY (String),
//! bigint → INT64, json / mixed → BYTE_ARRAY (JSON), number[] and typed arrays → 3-level LIST of
//! their element type; a column of only explicit nulls → INT32 with the NULL logical type. The exact
//! JS kind of each column is kept in the file's key-value metadata (`dash.kinds`) so reads give back
//! the same JS types. Explicit nulls are Parquet nulls like absent fields, and the rows where they
//! are explicit are listed in `dash.nulls` (`{column: [[first_row, count], …]}`), so other readers
//! see plain typed columns and we still tell `null` from absent. (Mixed columns tag their nulls
//! instead.) Compression: zstd level 1.

use std::collections::BTreeMap;
use std::fs::File;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use parquet::basic::{Compression, Encoding, IntType, LogicalType, Repetition, Type as Physical, ZstdLevel};
use parquet::column::reader::ColumnReader;
use parquet::column::writer::ColumnWriter;
use parquet::data_type::ByteArray;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::{ColumnPath, Type};

use crate::error::{IngestError, Result};
use crate::table::{Column, ColumnName, Table};
use crate::tagged;
use crate::value::{Elem, Kind, Value};

const KINDS_KEY: &str = "dash.kinds";
const NULLS_KEY: &str = "dash.nulls";
/// Rows per row group: small enough that range reads skip most of a segment, large enough that
/// per-group overhead stays negligible.
const ROW_GROUP_ROWS: usize = 64 * 1024;
/// Rows per `write_batch` call for general columns.
const WRITE_CHUNK_ROWS: usize = 256;
pub const TIMESTAMP: &str = "timestamp";

type PResult<T> = std::result::Result<T, parquet::errors::ParquetError>;

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

fn properties(columns: &[(&Column, Kind)]) -> PResult<WriterProperties> {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?))
        .set_dictionary_enabled(false)
        .set_column_encoding(ColumnPath::new(vec![TIMESTAMP.into()]), Encoding::BYTE_STREAM_SPLIT);
    for (column, kind) in columns {
        let path = leaf_path(&column.name, *kind);
        builder = match kind {
            Kind::F64 | Kind::F64List | Kind::Typed(Elem::F32 | Elem::F64) => {
                builder.set_column_encoding(path, Encoding::BYTE_STREAM_SPLIT)
            }
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
    let mut writer = SerializedFileWriter::new(sink, schema, Arc::new(properties(&columns)?))?;
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

/// Writes `table` (normalized) to `path` as one Parquet file and fsyncs it. Returns its size.
pub fn write(path: &Path, table: &Table) -> Result<u64> {
    let lost = || format!("segment of {} rows", table.len());
    let file = File::create(path).map_err(|e| IngestError::io(path, lost(), e))?;
    let file = encode(file, table).map_err(|e| IngestError::io(path, lost(), std::io::Error::other(e)))?;
    file.sync_all().map_err(|e| IngestError::io(path, lost(), e))?;
    let size = file.metadata().map_err(|e| IngestError::io(path, lost(), e))?.len();
    Ok(size)
}

/// `table` (normalized) as the bytes of one self-contained Parquet file.
pub fn to_bytes(table: &Table) -> Result<Vec<u8>> {
    encode(Vec::new(), table).map_err(|e| IngestError::Writer(format!("encoding Parquet in memory: {e}")))
}

/// The rows holding an explicit null, as `[first_row, count]` runs.
fn null_runs(column: &Column) -> Vec<[usize; 2]> {
    let mut runs: Vec<[usize; 2]> = Vec::new();
    if column.numbers().is_some() {
        return runs;
    }
    for (row, cell) in column.cells().iter().enumerate() {
        if let Some(Value::Null) = cell {
            match runs.last_mut() {
                Some([first, count]) if *first + *count == row => *count += 1,
                _ => runs.push([row, 1]),
            }
        }
    }
    runs
}

/// Definition levels of a flat optional column (1 = present) and its present values.
fn flat<T>(cells: &[Option<Value>], mut pick: impl FnMut(&Value) -> Option<T>) -> (Vec<i16>, Vec<T>) {
    let mut defs = Vec::with_capacity(cells.len());
    let mut values = Vec::with_capacity(cells.len());
    for cell in cells {
        match cell.as_ref().and_then(&mut pick) {
            Some(v) => {
                defs.push(1);
                values.push(v);
            }
            None => defs.push(0),
        }
    }
    (defs, values)
}

/// Levels of a 3-level list column: def 0 = absent, 1 = empty list, 2 = element.
fn nested<T>(cells: &[Option<Value>], mut items: impl FnMut(&Value, &mut Vec<T>)) -> (Vec<i16>, Vec<i16>, Vec<T>) {
    let (mut defs, mut reps, mut values) = (Vec::new(), Vec::new(), Vec::new());
    for cell in cells {
        let before = values.len();
        if let Some(value) = cell {
            items(value, &mut values);
        }
        let count = values.len() - before;
        match (cell, count) {
            (None | Some(Value::Null), _) => {
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

fn typed_items<const N: usize, T>(value: &Value, out: &mut Vec<T>, convert: impl Fn([u8; N]) -> T) {
    if let Value::Typed { bytes, .. } = value {
        for chunk in bytes.chunks_exact(N) {
            let mut array = [0u8; N];
            array.copy_from_slice(chunk);
            out.push(convert(array));
        }
    }
}

/// Writes rows `rows` of `column` into one column chunk.
fn write_column(writer: &mut ColumnWriter<'_>, column: &Column, kind: Kind, rows: Range<usize>) -> PResult<()> {
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
    let bytes_of = |v: &Value| -> Option<ByteArray> {
        match (kind, v) {
            (Kind::Mixed, v) => Some(ByteArray::from(tagged::encode(v).into_bytes())),
            (_, Value::Str(s) | Value::Json(s)) => Some(ByteArray::from(s.as_bytes().to_vec())),
            _ => None,
        }
    };
    // In chunks, so the level and value buffers stay small and hot (large fresh allocations cost
    // page faults on every seal).
    for cells in selected.chunks(WRITE_CHUNK_ROWS) {
        match (&mut *writer, kind) {
            (ColumnWriter::Int32ColumnWriter(w), Kind::Null) => {
                // Every row is null or absent; which are explicit nulls is in `dash.nulls`.
                w.write_batch(&[], Some(&vec![0; cells.len()]), None)?;
            }
            (ColumnWriter::DoubleColumnWriter(w), Kind::F64) => {
                let (defs, values) = flat(cells, |v| if let Value::F64(x) = v { Some(*x) } else { None });
                w.write_batch(&values, Some(&defs), None)?;
            }
            (ColumnWriter::BoolColumnWriter(w), Kind::Bool) => {
                let (defs, values) = flat(cells, |v| if let Value::Bool(x) = v { Some(*x) } else { None });
                w.write_batch(&values, Some(&defs), None)?;
            }
            (ColumnWriter::Int64ColumnWriter(w), Kind::BigInt) => {
                let (defs, values) = flat(cells, |v| if let Value::BigInt(x) = v { Some(*x) } else { None });
                w.write_batch(&values, Some(&defs), None)?;
            }
            (ColumnWriter::ByteArrayColumnWriter(w), Kind::Str | Kind::Json | Kind::Mixed) => {
                let (defs, values) = flat(cells, bytes_of);
                w.write_batch(&values, Some(&defs), None)?;
            }
            (ColumnWriter::DoubleColumnWriter(w), Kind::F64List) => {
                let (defs, reps, values) = nested(cells, |v, out| {
                    if let Value::F64List(items) = v {
                        out.extend_from_slice(items);
                    }
                });
                w.write_batch(&values, Some(&defs), Some(&reps))?;
            }
            (ColumnWriter::DoubleColumnWriter(w), Kind::Typed(Elem::F64)) => {
                let (defs, reps, values) = nested(cells, |v, out| typed_items(v, out, f64::from_le_bytes));
                w.write_batch(&values, Some(&defs), Some(&reps))?;
            }
            (ColumnWriter::FloatColumnWriter(w), Kind::Typed(Elem::F32)) => {
                let (defs, reps, values) = nested(cells, |v, out| typed_items(v, out, f32::from_le_bytes));
                w.write_batch(&values, Some(&defs), Some(&reps))?;
            }
            (ColumnWriter::Int64ColumnWriter(w), Kind::Typed(Elem::I64 | Elem::U64)) => {
                // U64 is stored as its bit pattern with the UINT_64 logical type.
                let (defs, reps, values) = nested(cells, |v, out| typed_items(v, out, i64::from_le_bytes));
                w.write_batch(&values, Some(&defs), Some(&reps))?;
            }
            (ColumnWriter::Int32ColumnWriter(w), Kind::Typed(elem)) => {
                let (defs, reps, values) = nested(cells, |v, out| match elem {
                    Elem::I8 => typed_items(v, out, |b: [u8; 1]| i32::from(i8::from_le_bytes(b))),
                    Elem::U8 | Elem::U8Clamped => typed_items(v, out, |b: [u8; 1]| i32::from(b[0])),
                    Elem::I16 => typed_items(v, out, |b| i32::from(i16::from_le_bytes(b))),
                    Elem::U16 => typed_items(v, out, |b| i32::from(u16::from_le_bytes(b))),
                    // U32 is stored as its bit pattern with the UINT_32 logical type.
                    _ => typed_items(v, out, i32::from_le_bytes),
                });
                w.write_batch(&values, Some(&defs), Some(&reps))?;
            }
            (_, kind) => {
                return Err(parquet::errors::ParquetError::General(format!(
                    "no writer for column kind {}",
                    kind.name()
                )))
            }
        }
    }
    Ok(())
}

/// Levels and values of one leaf column, read whole.
struct Leaf<T> {
    defs: Vec<i16>,
    reps: Vec<i16>,
    values: Vec<T>,
}

fn read_leaf<T: parquet::data_type::DataType>(
    mut reader: parquet::column::reader::ColumnReaderImpl<T>,
    rows: usize,
) -> PResult<Leaf<T::T>> {
    let mut leaf = Leaf {
        defs: Vec::new(),
        reps: Vec::new(),
        values: Vec::new(),
    };
    let mut read = 0;
    while read < rows {
        let (records, _, _) = reader.read_records(
            rows - read,
            Some(&mut leaf.defs),
            Some(&mut leaf.reps),
            &mut leaf.values,
        )?;
        if records == 0 {
            break;
        }
        read += records;
    }
    Ok(leaf)
}

impl<T> Leaf<T> {
    /// Cells of a flat optional column.
    fn flat_cells(self, rows: usize, mut make: impl FnMut(T) -> Option<Value>) -> Option<Vec<Option<Value>>> {
        let mut values = self.values.into_iter();
        let cells: Vec<Option<Value>> = if self.defs.is_empty() {
            values
                .map(&mut make)
                .collect::<Option<Vec<_>>>()?
                .into_iter()
                .map(Some)
                .collect()
        } else {
            let mut out = Vec::with_capacity(rows);
            for def in self.defs {
                out.push(if def > 0 { Some(make(values.next()?)?) } else { None });
            }
            out
        };
        (cells.len() == rows).then_some(cells)
    }

    /// Cells of a 3-level list column; `make` turns one row's elements into a value.
    fn list_cells(self, rows: usize, make: impl Fn(Vec<T>) -> Value) -> Option<Vec<Option<Value>>> {
        let mut values = self.values.into_iter();
        let mut cells: Vec<Option<Value>> = Vec::with_capacity(rows);
        let mut current: Option<Vec<T>> = None;
        for (def, rep) in self.defs.into_iter().zip(self.reps) {
            if rep == 0 {
                if let Some(items) = current.take() {
                    cells.push(Some(make(items)));
                }
                if def == 0 {
                    cells.push(None);
                    continue;
                }
                current = Some(Vec::new());
            }
            if def >= 2 {
                current.as_mut()?.push(values.next()?);
            }
        }
        if let Some(items) = current.take() {
            cells.push(Some(make(items)));
        }
        (cells.len() == rows).then_some(cells)
    }
}

fn le_bytes<T, const N: usize>(items: Vec<T>, to_bytes: impl Fn(T) -> [u8; N]) -> Box<[u8]> {
    items.into_iter().flat_map(to_bytes).collect()
}

/// Narrowing an INT32 leaf back to the element type it was written from; the logical type
/// guarantees the range, so the casts are exact.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn int32_bytes(elem: Elem, items: Vec<i32>) -> Box<[u8]> {
    match elem {
        Elem::I8 => le_bytes(items, |v| (v as i8).to_le_bytes()),
        Elem::U8 | Elem::U8Clamped => le_bytes(items, |v| (v as u8).to_le_bytes()),
        Elem::I16 => le_bytes(items, |v| (v as i16).to_le_bytes()),
        Elem::U16 => le_bytes(items, |v| (v as u16).to_le_bytes()),
        _ => le_bytes(items, i32::to_le_bytes),
    }
}

/// Reads a segment written by `write` back into a table.
pub fn read(path: &Path) -> Result<Table> {
    read_range(path, f64::NEG_INFINITY, f64::INFINITY)
}

/// The timestamp range of a row group, from its statistics (`None` if it has none).
fn timestamp_range(group: &parquet::file::metadata::RowGroupMetaData) -> Option<(f64, f64)> {
    match group.columns().first()?.statistics()? {
        parquet::file::statistics::Statistics::Double(s) => Some((*s.min_opt()?, *s.max_opt()?)),
        _ => None,
    }
}

/// Reads the row groups of a segment that may hold timestamps in `[start, end]` (whole groups:
/// the caller trims to the exact range).
pub fn read_range(path: &Path, start: f64, end: f64) -> Result<Table> {
    let corrupt = |reason: String| IngestError::corrupt(path, reason);
    let file = File::open(path).map_err(|e| IngestError::io(path, "nothing (reading)", e))?;
    let reader = SerializedFileReader::new(file).map_err(|e| corrupt(e.to_string()))?;
    let metadata = reader.metadata();
    let key_value = |key: &str| {
        metadata
            .file_metadata()
            .key_value_metadata()
            .and_then(|kvs| kvs.iter().find(|kv| kv.key == key))
            .and_then(|kv| kv.value.as_deref())
    };
    let kinds: BTreeMap<String, String> = key_value(KINDS_KEY)
        .and_then(|text| serde_json::from_str(text).ok())
        .ok_or_else(|| corrupt(format!("no {KINDS_KEY} metadata")))?;
    let nulls: BTreeMap<String, Vec<[usize; 2]>> = match key_value(NULLS_KEY) {
        Some(text) => serde_json::from_str(text).map_err(|e| corrupt(format!("{NULLS_KEY}: {e}")))?,
        None => BTreeMap::new(),
    };
    let schema = metadata.file_metadata().schema_descr();

    let mut timestamps: Vec<f64> = Vec::new();
    let mut columns: Vec<Column> = Vec::new();
    // (first row in the file, first row in the table, rows) of every row group read.
    let mut spans: Vec<(usize, usize, usize)> = Vec::new();
    let mut file_row = 0;
    for group_index in 0..reader.num_row_groups() {
        let group = reader.get_row_group(group_index).map_err(|e| corrupt(e.to_string()))?;
        let rows = usize::try_from(group.metadata().num_rows()).map_err(|e| corrupt(e.to_string()))?;
        file_row += rows;
        if let Some((lo, hi)) = timestamp_range(group.metadata()) {
            if hi < start || lo > end {
                continue;
            }
        }
        spans.push((file_row - rows, timestamps.len(), rows));
        for leaf_index in 0..schema.num_columns() {
            let name = schema
                .column(leaf_index)
                .path()
                .parts()
                .first()
                .cloned()
                .unwrap_or_default();
            let column_reader = group
                .get_column_reader(leaf_index)
                .map_err(|e| corrupt(e.to_string()))?;
            if name == TIMESTAMP {
                let ColumnReader::DoubleColumnReader(r) = column_reader else {
                    return Err(corrupt("timestamp is not DOUBLE".into()));
                };
                timestamps.extend(read_leaf(r, rows).map_err(|e| corrupt(e.to_string()))?.values);
                continue;
            }
            let kind = kinds
                .get(&name)
                .and_then(|k| Kind::from_name(k))
                .ok_or_else(|| corrupt(format!("no kind for column {name:?}")))?;
            let cells = read_cells(column_reader, kind, rows)
                .map_err(|e| corrupt(e.to_string()))?
                .ok_or_else(|| corrupt(format!("column {name:?} does not decode as {}", kind.name())))?;
            let name = ColumnName::from(name.as_str());
            let column = match cells {
                Cells::Numbers(values, present) => Column::from_numbers(name, values, present),
                Cells::Values(cells) => Column::from_cells(name, cells),
            };
            match columns.iter_mut().find(|c| c.name == column.name) {
                Some(existing) => existing.append(column),
                None => columns.push(column),
            }
        }
    }
    if columns.iter().any(|c| c.len() != timestamps.len()) {
        return Err(corrupt("columns of unequal length".into()));
    }
    for column in &mut columns {
        for [first, count] in nulls.get(&*column.name).into_iter().flatten() {
            if first.saturating_add(*count) > file_row {
                return Err(corrupt(format!("{NULLS_KEY} of {:?} beyond the last row", column.name)));
            }
            for row in *first..first + count {
                let span = spans.iter().find(|(from, _, rows)| (*from..from + rows).contains(&row));
                if let Some((from, at, _)) = span {
                    column.set(at + (row - from), Value::Null);
                }
            }
        }
    }
    Ok(Table::from_columns(timestamps, columns))
}

/// What one leaf column decodes to: compact numbers, or general cells.
enum Cells {
    Numbers(Vec<f64>, Vec<bool>),
    Values(Vec<Option<Value>>),
}

fn read_cells(reader: ColumnReader, kind: Kind, rows: usize) -> PResult<Option<Cells>> {
    match (reader, kind) {
        (ColumnReader::DoubleColumnReader(r), Kind::F64) => {
            let leaf = read_leaf(r, rows)?;
            let present: Vec<bool> = leaf.defs.iter().map(|d| *d > 0).collect();
            let mut values = leaf.values.into_iter();
            let dense: Option<Vec<f64>> = present
                .iter()
                .map(|p| if *p { values.next() } else { Some(0.0) })
                .collect();
            Ok(dense.filter(|d| d.len() == rows).map(|d| Cells::Numbers(d, present)))
        }
        (reader, kind) => Ok(read_value_cells(reader, kind, rows)?.map(Cells::Values)),
    }
}

fn read_value_cells(reader: ColumnReader, kind: Kind, rows: usize) -> PResult<Option<Vec<Option<Value>>>> {
    let utf8 = |b: ByteArray| String::from_utf8(b.data().to_vec()).ok().map(String::into_boxed_str);
    Ok(match (reader, kind) {
        (ColumnReader::Int32ColumnReader(r), Kind::Null) => read_leaf(r, rows)?.flat_cells(rows, |_| Some(Value::Null)),
        (ColumnReader::DoubleColumnReader(r), Kind::F64) => {
            read_leaf(r, rows)?.flat_cells(rows, |v| Some(Value::F64(v)))
        }
        (ColumnReader::BoolColumnReader(r), Kind::Bool) => {
            read_leaf(r, rows)?.flat_cells(rows, |v| Some(Value::Bool(v)))
        }
        (ColumnReader::Int64ColumnReader(r), Kind::BigInt) => {
            read_leaf(r, rows)?.flat_cells(rows, |v| Some(Value::BigInt(v)))
        }
        (ColumnReader::ByteArrayColumnReader(r), Kind::Str) => {
            read_leaf(r, rows)?.flat_cells(rows, |b| utf8(b).map(Value::Str))
        }
        (ColumnReader::ByteArrayColumnReader(r), Kind::Json) => {
            read_leaf(r, rows)?.flat_cells(rows, |b| utf8(b).map(Value::Json))
        }
        (ColumnReader::ByteArrayColumnReader(r), Kind::Mixed) => {
            read_leaf(r, rows)?.flat_cells(rows, |b| utf8(b).and_then(|s| tagged::decode(&s)))
        }
        (ColumnReader::DoubleColumnReader(r), Kind::F64List) => {
            read_leaf(r, rows)?.list_cells(rows, |items| Value::F64List(items.into()))
        }
        (ColumnReader::DoubleColumnReader(r), Kind::Typed(elem @ Elem::F64)) => {
            read_leaf(r, rows)?.list_cells(rows, |items| Value::Typed {
                elem,
                bytes: le_bytes(items, f64::to_le_bytes),
            })
        }
        (ColumnReader::FloatColumnReader(r), Kind::Typed(elem @ Elem::F32)) => {
            read_leaf(r, rows)?.list_cells(rows, |items| Value::Typed {
                elem,
                bytes: le_bytes(items, f32::to_le_bytes),
            })
        }
        (ColumnReader::Int64ColumnReader(r), Kind::Typed(elem @ (Elem::I64 | Elem::U64))) => read_leaf(r, rows)?
            .list_cells(rows, |items| Value::Typed {
                elem,
                bytes: le_bytes(items, i64::to_le_bytes),
            }),
        (ColumnReader::Int32ColumnReader(r), Kind::Typed(elem)) => {
            read_leaf(r, rows)?.list_cells(rows, |items| Value::Typed {
                elem,
                bytes: int32_bytes(elem, items),
            })
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_reads_skip_row_groups_and_keep_explicit_nulls() {
        let dir = std::env::temp_dir().join(format!("dash-seg-range-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("r.parquet");
        let (x, note) = (ColumnName::from("x"), ColumnName::from("note"));
        let mut table = Table::new();
        let rows = 3 * ROW_GROUP_ROWS + 10;
        for i in 0..rows {
            let value = if i % 1000 == 7 {
                Value::Null
            } else {
                Value::Str(format!("n{i}").into())
            };
            table.push(i as f64, [(&x, Value::F64(i as f64)), (&note, value)]);
        }
        table.normalize();
        write(&path, &table).unwrap();
        let start = (2 * ROW_GROUP_ROWS + 5) as f64;
        let part = read_range(&path, start, start + 100.0).unwrap();
        assert_eq!(part.len(), ROW_GROUP_ROWS, "only the third row group is read");
        assert_eq!(part.timestamps()[0], (2 * ROW_GROUP_ROWS) as f64);
        let notes = part.columns().iter().find(|c| *c.name == *"note").unwrap();
        for (row, ts) in part.timestamps().iter().enumerate() {
            let i = *ts as usize;
            let expected = if i % 1000 == 7 {
                Value::Null
            } else {
                Value::Str(format!("n{i}").into())
            };
            assert_eq!(notes.get(row), Some(expected), "row {i}");
        }
        assert_eq!(read(&path).unwrap().len(), rows);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn every_kind_round_trips_with_absent_cells() {
        let dir = std::env::temp_dir().join(format!("dash-seg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.parquet");
        let samples: Vec<(&str, Vec<Value>)> = vec![
            ("num", vec![Value::F64(1.5), Value::F64(f64::NAN)]),
            ("flag", vec![Value::Bool(true), Value::Bool(false)]),
            ("text", vec![Value::Str("ü🌍".into()), Value::Str("".into())]),
            ("big", vec![Value::BigInt(i64::MIN), Value::BigInt(7)]),
            (
                "list",
                vec![Value::F64List(vec![1.0, 2.0].into()), Value::F64List(Vec::new().into())],
            ),
            ("json", vec![Value::Json("[\"a\"]".into()), Value::Json("[{}]".into())]),
            ("str_or_null", vec![Value::Null, Value::Str("x".into())]),
            ("num_or_null", vec![Value::F64(1.0), Value::Null]),
            ("only_null", vec![Value::Null, Value::Null]),
            ("mixed", vec![Value::Bool(true), Value::Str("x".into())]),
        ];
        let mut typed: Vec<(String, Vec<Value>)> = Vec::new();
        for elem in Elem::ALL {
            let bytes: Vec<u8> = (0..elem.size() * 2).map(|i| i as u8 + 1).collect();
            typed.push((
                elem.js_name().into(),
                vec![
                    Value::Typed {
                        elem,
                        bytes: bytes.into(),
                    },
                    Value::Typed {
                        elem,
                        bytes: Vec::new().into(),
                    },
                ],
            ));
        }
        let names: Vec<(ColumnName, Vec<Value>)> = samples
            .into_iter()
            .map(|(n, v)| (ColumnName::from(n), v))
            .chain(typed.into_iter().map(|(n, v)| (ColumnName::from(n.as_str()), v)))
            .collect();
        let mut table = Table::new();
        // Row 0: first sample of each column; row 1: nothing (all absent); row 2: second sample.
        table.push(0.0, names.iter().map(|(n, v)| (n, v[0].clone())));
        table.push(1.0, std::iter::empty());
        table.push(2.0, names.iter().map(|(n, v)| (n, v[1].clone())));
        table.normalize();
        write(&path, &table).expect("writes");
        let back = read(&path).expect("reads");
        assert_eq!(back.timestamps(), table.timestamps());
        for column in table.columns() {
            let other = back
                .columns()
                .iter()
                .find(|c| c.name == column.name)
                .expect("column kept");
            for (a, b) in column.cells().iter().zip(other.cells().iter()) {
                match (a, b) {
                    (Some(a), Some(b)) => {
                        assert!(a.identical(b), "{}: {a:?} vs {b:?}", column.name)
                    }
                    (None, None) => {}
                    _ => panic!("{}: presence differs: {a:?} vs {b:?}", column.name),
                }
            }
        }
        std::fs::remove_dir_all(dir).ok();
    }
}
