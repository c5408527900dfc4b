//! Rows and columns for the JS reader: `rows` (`read()`'s default format) gives the column names
//! once, then per row its timestamp and its fields; `columns` (`format: "columns"`) gives each
//! column whole. Values are tagged as in the batch format ([`crate::ingest::wire`]).

use std::borrow::Cow;

use crate::ingest::wire::{encode_bytes, encode_value, len_u32};
use crate::merge::column::Column;
use crate::merge::table::Table;
use crate::value::Value;

/// Encodes a normalized table as `rows` (see [`crate::ingest::wire`]); absent cells are left out.
pub fn encode_rows(table: &Table) -> Vec<u8> {
    let mut out = Vec::new();
    let columns = table.columns();
    out.extend_from_slice(&len_u32(columns.len()).to_le_bytes());
    for column in columns {
        encode_bytes(&mut out, column.name.as_bytes());
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
                encode_value(&mut out, &value);
                count += 1;
            }
        }
        if let Some(slot) = out.get_mut(count_at..count_at + 4) {
            slot.copy_from_slice(&count.to_le_bytes());
        }
    }
    out
}

/// A column of `columns` whose every cell is a number: its doubles follow, 8-aligned.
pub const COLUMN_NUMBERS: u8 = 0;
/// Any other column: per row a presence byte (0 absent, 1 present), then the value if present.
pub const COLUMN_VALUES: u8 = 1;

/// Encodes a normalized table as `columns`: the row count, the timestamps (8-aligned doubles),
/// the column count, then per column its name, its kind (`COLUMN_*`) and its cells.
pub fn encode_columns(table: &Table) -> Vec<u8> {
    let rows = table.len();
    let mut out = Vec::with_capacity(16 + rows * 8 * (1 + table.columns().len()));
    out.extend_from_slice(&len_u32(rows).to_le_bytes());
    push_doubles(&mut out, table.timestamps());
    out.extend_from_slice(&len_u32(table.columns().len()).to_le_bytes());
    for column in table.columns() {
        encode_bytes(&mut out, column.name.as_bytes());
        match all_numbers(column, rows) {
            Some(values) => {
                out.push(COLUMN_NUMBERS);
                push_doubles(&mut out, &values);
            }
            None => {
                out.push(COLUMN_VALUES);
                for row in 0..rows {
                    match column.get(row) {
                        Some(value) => {
                            out.push(1);
                            encode_value(&mut out, &value);
                        }
                        None => out.push(0),
                    }
                }
            }
        }
    }
    out
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
