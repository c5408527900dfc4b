//! Rows and columns for the JS reader: `rows` gives the column names once, then per row its
//! timestamp and its fields; `columns` (`format: "columns"`) gives each column whole; `entries`
//! (`read()`'s default format, built into objects in JS) is whichever of the two is cheaper for the
//! table. Values are tagged as in the batch format ([`crate::ingest::wire`]).

use std::borrow::Cow;
use std::collections::HashSet;

use crate::ingest::wire::{encode_bytes, encode_value, len_u32};
use crate::merge::column::{Column, ColumnName};
use crate::merge::parts::Parts;
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

/// Encodes a read's rows as `entries`: a tag byte (`ENTRIES_AS_*`), then `rows` or `columns`.
pub fn encode_entries(parts: &Parts) -> Vec<u8> {
    let mut out = Vec::new();
    let names = names(parts);
    let present: usize = (parts.tables().iter())
        .flat_map(|t| t.columns())
        .map(Column::present_count)
        .sum();
    if names.len() <= ENTRIES_AS_COLUMNS_MAX && 2 * present >= parts.len() * names.len() {
        out.push(ENTRIES_AS_COLUMNS);
        write_columns(&mut out, parts, &names);
    } else {
        out.push(ENTRIES_AS_ROWS);
        write_rows(&mut out, parts, &names);
    }
    out
}

/// The column names of all parts, in first-seen order.
fn names(parts: &Parts) -> Vec<&ColumnName> {
    let mut seen = HashSet::new();
    (parts.tables().iter())
        .flat_map(|t| t.columns())
        .map(|c| &c.name)
        .filter(|name| seen.insert(*name))
        .collect()
}

/// Encodes rows as `rows` (see [`crate::ingest::wire`]); absent cells are left out.
fn write_rows(out: &mut Vec<u8>, parts: &Parts, names: &[&ColumnName]) {
    out.extend_from_slice(&len_u32(names.len()).to_le_bytes());
    for name in names {
        encode_bytes(out, name.as_bytes());
    }
    out.extend_from_slice(&len_u32(parts.len()).to_le_bytes());
    for table in parts.tables() {
        // Cells in the order of `names`, whatever the part's own column order.
        let columns: Vec<(u32, &Column)> = (names.iter().enumerate())
            .filter_map(|(index, name)| Some((len_u32(index), table.column(name)?)))
            .collect();
        for (row, timestamp) in table.timestamps().iter().enumerate() {
            out.extend_from_slice(&timestamp.to_le_bytes());
            let count_at = out.len();
            out.extend_from_slice(&0u32.to_le_bytes());
            let mut count = 0u32;
            for (index, column) in &columns {
                if let Some(value) = column.get(row) {
                    out.extend_from_slice(&index.to_le_bytes());
                    encode_value(out, &value);
                    count += 1;
                }
            }
            if let Some(slot) = out.get_mut(count_at..count_at + 4) {
                slot.copy_from_slice(&count.to_le_bytes());
            }
        }
    }
}

/// A column of `columns` whose every cell is a number: its doubles follow, 8-aligned.
pub const COLUMN_NUMBERS: u8 = 0;
/// Any other column: per row a presence byte (0 absent, 1 present), then the value if present.
pub const COLUMN_VALUES: u8 = 1;

/// Encodes a read's rows as `columns`: the row count, the timestamps (8-aligned doubles), the
/// column count, then per column its name, its kind (`COLUMN_*`) and its cells.
pub fn encode_columns(parts: &Parts) -> Vec<u8> {
    let mut out = Vec::new();
    write_columns(&mut out, parts, &names(parts));
    out
}

fn write_columns(out: &mut Vec<u8>, parts: &Parts, names: &[&ColumnName]) {
    let rows = parts.len();
    out.reserve(16 + rows * 8 * (1 + names.len()));
    out.extend_from_slice(&len_u32(rows).to_le_bytes());
    push_doubles(out, parts.tables().iter().map(Table::timestamps));
    out.extend_from_slice(&len_u32(names.len()).to_le_bytes());
    for name in names {
        encode_bytes(out, name.as_bytes());
        // The column of each part (`None` where a part has no such column: its cells are absent).
        let columns: Vec<(&Table, Option<&Column>)> = (parts.tables().iter()).map(|t| (t, t.column(name))).collect();
        let numbers: Option<Vec<Cow<'_, [f64]>>> = (columns.iter())
            .map(|(table, column)| all_numbers(column.as_ref()?, table.len()))
            .collect();
        match numbers {
            Some(values) => {
                out.push(COLUMN_NUMBERS);
                push_doubles(out, values.iter().map(|v| &**v));
            }
            None => {
                out.push(COLUMN_VALUES);
                for (table, column) in columns {
                    for row in 0..table.len() {
                        match column.and_then(|c| c.get(row)) {
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

/// The doubles of every slice of `runs`, in order and little-endian, from the next multiple of 8.
/// Staged through a small buffer, so the answer's memory is written once (a zero fill first would
/// touch every fresh page twice).
fn push_doubles<'a>(out: &mut Vec<u8>, runs: impl Iterator<Item = &'a [f64]> + Clone) {
    const STAGE: usize = 1024;
    out.resize(out.len().next_multiple_of(8), 0);
    out.reserve(runs.clone().map(<[f64]>::len).sum::<usize>() * 8);
    let mut stage = [0u8; STAGE * 8];
    for chunk in runs.flat_map(|run| run.chunks(STAGE)) {
        for (slot, v) in stage.chunks_exact_mut(8).zip(chunk) {
            slot.copy_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(stage.get(..chunk.len() * 8).unwrap_or_default());
    }
}
