//! Rows and columns for the JS reader: `rows` gives the column names once, then per row its
//! timestamp and its fields; `columns` (`format: "columns"`) gives each column whole; `entries`
//! (`read()`'s default format, built into objects in JS) is whichever of the two is cheaper for the
//! table. Values are tagged as in the batch format ([`crate::ingest::wire`]).

use std::borrow::Cow;

use crate::ingest::wire::{encode_bytes, encode_value, len_u32};
use crate::merge::column::Column;
use crate::merge::table::Table;
use crate::value::Value;

/// `entries` as `rows` follow (a tag byte).
pub const ENTRIES_AS_ROWS: u8 = 0;
/// `entries` as `columns` follow (a tag byte).
pub const ENTRIES_AS_COLUMNS: u8 = 1;
/// Tables of at most this many columns, at least half their cells present, go to JS as columns:
/// an object per row is built fastest from them (one shape of object for the whole read). Wider
/// or sparser tables go as rows, which carry only the cells present (columns carry a byte per row
/// per column, and building an object checks every column).
const ENTRIES_AS_COLUMNS_MAX: usize = 64;

/// Encodes a normalized table as `entries`: a tag byte (`ENTRIES_AS_*`), then `rows` or `columns`.
pub fn encode_entries(table: &Table) -> Vec<u8> {
    let mut out = Vec::new();
    let columns = table.columns();
    let dense = || 2 * columns.iter().map(Column::present_count).sum::<usize>() >= table.len() * columns.len();
    if columns.len() <= ENTRIES_AS_COLUMNS_MAX && dense() {
        out.push(ENTRIES_AS_COLUMNS);
        write_columns(&mut out, table);
    } else {
        out.push(ENTRIES_AS_ROWS);
        write_rows(&mut out, table);
    }
    out
}

/// Encodes a normalized table as `rows` (see [`crate::ingest::wire`]); absent cells are left out.
fn write_rows(out: &mut Vec<u8>, table: &Table) {
    let columns = table.columns();
    out.extend_from_slice(&len_u32(columns.len()).to_le_bytes());
    for column in columns {
        encode_bytes(out, column.name.as_bytes());
    }
    out.extend_from_slice(&len_u32(table.len()).to_le_bytes());
    for (row, timestamp) in table.timestamps().iter().enumerate() {
        out.extend_from_slice(&timestamp.to_le_bytes());
        let count_at = out.len();
        out.extend_from_slice(&0u32.to_le_bytes());
        let mut count = 0u32;
        for (index, column) in columns.iter().enumerate() {
            if let Some(value) = column.get(row) {
                out.extend_from_slice(&len_u32(index).to_le_bytes());
                encode_value(out, &value);
                count += 1;
            }
        }
        if let Some(slot) = out.get_mut(count_at..count_at + 4) {
            slot.copy_from_slice(&count.to_le_bytes());
        }
    }
}

/// A column of `columns` whose every cell is a number: its doubles follow, 8-aligned.
pub const COLUMN_NUMBERS: u8 = 0;
/// Any other column: per row a presence byte (0 absent, 1 present), then the value if present.
pub const COLUMN_VALUES: u8 = 1;

/// Encodes a normalized table as `columns`: the row count, the timestamps (8-aligned doubles),
/// the column count, then per column its name, its kind (`COLUMN_*`) and its cells.
pub fn encode_columns(table: &Table) -> Vec<u8> {
    let mut out = Vec::new();
    write_columns(&mut out, table);
    out
}

fn write_columns(out: &mut Vec<u8>, table: &Table) {
    let rows = table.len();
    out.reserve(16 + rows * 8 * (1 + table.columns().len()));
    out.extend_from_slice(&len_u32(rows).to_le_bytes());
    push_doubles(out, table.timestamps());
    out.extend_from_slice(&len_u32(table.columns().len()).to_le_bytes());
    for column in table.columns() {
        encode_bytes(out, column.name.as_bytes());
        match all_numbers(column, rows) {
            Some(values) => {
                out.push(COLUMN_NUMBERS);
                push_doubles(out, &values);
            }
            None => {
                out.push(COLUMN_VALUES);
                for row in 0..rows {
                    match column.get(row) {
                        Some(value) => {
                            out.push(1);
                            encode_value(out, &value);
                        }
                        None => out.push(0),
                    }
                }
            }
        }
    }
}

/// The column's numbers if every one of its `rows` cells holds one.
fn all_numbers(column: &Column, rows: usize) -> Option<Cow<'_, [f64]>> {
    match column.numbers() {
        Some((values, present)) => present.iter().all(|p| *p).then_some(Cow::Borrowed(values)),
        None => (0..rows)
            .map(|row| match column.get(row) {
                Some(Value::F64(v)) => Some(v),
                _ => None,
            })
            .collect::<Option<Vec<f64>>>()
            .map(Cow::Owned),
    }
}

/// Doubles in little-endian order from the next multiple of 8.
fn push_doubles(out: &mut Vec<u8>, values: &[f64]) {
    out.resize(out.len().next_multiple_of(8), 0);
    out.reserve(values.len() * 8);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}
