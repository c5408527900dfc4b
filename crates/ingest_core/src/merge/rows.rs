//! Rows for the JS reader (`read()`'s default format): the column names once, then per row its
//! timestamp and its fields, each value tagged as in the batch format ([`crate::ingest::wire`]).

use crate::ingest::wire::{encode_bytes, encode_value, len_u32};
use crate::merge::table::Table;

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
