//! Reading segments back into tables (see the module docs for the layout).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use parquet::column::reader::ColumnReader;
use parquet::data_type::ByteArray;
use parquet::file::reader::{FileReader, SerializedFileReader};

use super::{PResult, KINDS_KEY, NULLS_KEY, TIMESTAMP};
use crate::error::{IngestError, Result};
use crate::merge::table::{Column, ColumnName, Table};
use crate::storage::tagged;
use crate::value::{Elem, Kind, Value};

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
pub(super) fn timestamp_range(group: &parquet::file::metadata::RowGroupMetaData) -> Option<(f64, f64)> {
    match group.columns().first()?.statistics()? {
        parquet::file::statistics::Statistics::Double(s) => Some((*s.min_opt()?, *s.max_opt()?)),
        _ => None,
    }
}

/// Reads the row groups of a segment that may hold timestamps in `[start, end]` (whole groups:
/// the caller trims to the exact range).
pub fn read_range(path: &Path, start: f64, end: f64) -> Result<Table> {
    decode_guarded(path, start, end, Leaves::All)
}

/// The timestamps of a segment's row groups that may hold timestamps in `[start, end]`, sorted:
/// only the timestamp column is read (to learn which timestamps a segment holds).
pub fn read_timestamps(path: &Path, start: f64, end: f64) -> Result<Vec<f64>> {
    Ok(decode_guarded(path, start, end, Leaves::Timestamps)?
        .timestamps()
        .to_vec())
}

/// A segment's chart summary (see [`super::summary`]), from its footer alone; `None` if it has
/// none or one that does not match the file.
pub fn read_summary(path: &Path) -> Result<Option<super::Summary>> {
    let corrupt = |reason: String| IngestError::corrupt(path, reason);
    std::panic::catch_unwind(|| {
        let file = File::open(path).map_err(|e| IngestError::io(path, "nothing (reading)", e))?;
        super::pages::check_footer(&file).map_err(corrupt)?;
        let reader = SerializedFileReader::new(file).map_err(|e| corrupt(e.to_string()))?;
        let metadata = reader.metadata().file_metadata();
        let rows = usize::try_from(metadata.num_rows()).unwrap_or(0);
        Ok((metadata.key_value_metadata().into_iter().flatten())
            .find(|kv| kv.key == super::summary::SUMMARY_KEY)
            .and_then(|kv| kv.value.as_deref())
            .and_then(|text| super::summary::decode(text, rows)))
    })
    .unwrap_or_else(|_| Err(corrupt("the Parquet decoder failed on this file".into())))
}

/// Which leaf columns a decode reads.
#[derive(Clone, Copy, PartialEq)]
enum Leaves {
    All,
    Timestamps,
}

fn decode_guarded(path: &Path, start: f64, end: f64, leaves: Leaves) -> Result<Table> {
    // The parquet crate can panic on some corrupt files (a missing dictionary page, …); a panic
    // here must become an error, not the end of the writer thread.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decode_range(path, start, end, leaves)))
        .unwrap_or_else(|_| Err(IngestError::corrupt(path, "the Parquet decoder failed on this file")))
}

fn decode_range(path: &Path, start: f64, end: f64, leaves: Leaves) -> Result<Table> {
    let corrupt = |reason: String| IngestError::corrupt(path, reason);
    let file = File::open(path).map_err(|e| IngestError::io(path, "nothing (reading)", e))?;
    // A second handle for the page-header check (see `pages`), which reads at offsets.
    let headers = file
        .try_clone()
        .map_err(|e| IngestError::io(path, "nothing (reading)", e))?;
    super::pages::check_footer(&headers).map_err(corrupt)?;
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
    let mut by_name: std::collections::HashMap<ColumnName, usize> = std::collections::HashMap::new();
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
        super::pages::check_row_group(&headers, group.metadata()).map_err(corrupt)?;
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
            if leaves == Leaves::Timestamps {
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
            match by_name.get(&column.name).and_then(|index| columns.get_mut(*index)) {
                Some(existing) => existing.append(column),
                None => {
                    by_name.insert(column.name.clone(), columns.len());
                    columns.push(column);
                }
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
            if present.len() != rows {
                return Ok(None);
            }
            // As many values as rows: every cell is present, and the values are the column.
            if leaf.values.len() == rows {
                return Ok(Some(Cells::Numbers(leaf.values, present)));
            }
            let mut values = leaf.values.into_iter();
            let mut dense = Vec::with_capacity(rows);
            for p in &present {
                if !*p {
                    dense.push(0.0);
                    continue;
                }
                let Some(value) = values.next() else {
                    return Ok(None);
                };
                dense.push(value);
            }
            Ok(Some(Cells::Numbers(dense, present)))
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
