//! A segment's row groups as a reader elsewhere needs them (an object store's copy fetches only
//! the row groups a time range needs): their byte ranges and timestamps, from the file's last
//! bytes alone.

use parquet::file::metadata::ParquetMetaDataReader;

use super::pages::{check_footer_bytes, MAX_FOOTER_BYTES};
use super::read::timestamp_range;
use crate::error::{IngestError, Result};

/// One row group: bytes `[start, end)` of the file, and its timestamps' range if recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct RowGroupSpan {
    pub start: u64,
    pub end: u64,
    pub timestamps: Option<(f64, f64)>,
}

/// What the last bytes of a segment say.
#[derive(Debug, Clone, PartialEq)]
pub enum Footer {
    /// The row groups, in file order.
    RowGroups(Vec<RowGroupSpan>),
    /// The footer is longer than the bytes given: pass the file's last `n` bytes.
    NeedsTail(u64),
}

/// Reads the footer in `tail`, the last bytes of a segment of `file_len` bytes (`what` names it in
/// errors). Every offset is checked against the file's length: a crafted footer is an error.
pub fn row_groups(tail: &[u8], file_len: u64, what: &str) -> Result<Footer> {
    let corrupt = |reason: String| IngestError::corrupt(std::path::Path::new(what), reason);
    let n = tail.len();
    if n < 8 || file_len < 12 || n as u64 > file_len || &tail[n - 4..] != b"PAR1" {
        return Err(corrupt("not the end of a Parquet file (no PAR1 footer)".into()));
    }
    let footer_len = u64::from(u32::from_le_bytes([tail[n - 8], tail[n - 7], tail[n - 6], tail[n - 5]]));
    if footer_len > MAX_FOOTER_BYTES || footer_len + 12 > file_len {
        return Err(corrupt(format!("footer length {footer_len} does not fit the file")));
    }
    let needed = footer_len + 8;
    if (n as u64) < needed {
        return Ok(Footer::NeedsTail(needed));
    }
    let footer = &tail[n - 8 - footer_len as usize..n - 8];
    check_footer_bytes(footer).map_err(corrupt)?;
    let metadata = std::panic::catch_unwind(|| ParquetMetaDataReader::decode_metadata(footer))
        .map_err(|_| corrupt("the Parquet decoder failed on this footer".into()))?
        .map_err(|e| corrupt(e.to_string()))?;
    let data_end = file_len - needed;
    let mut spans = Vec::with_capacity(metadata.num_row_groups());
    for (index, group) in metadata.row_groups().iter().enumerate() {
        let mut start = u64::MAX;
        let mut end = 0u64;
        for chunk in group.columns() {
            let first = chunk
                .dictionary_page_offset()
                .unwrap_or_else(|| chunk.data_page_offset());
            let (Ok(first), Ok(size)) = (u64::try_from(first), u64::try_from(chunk.compressed_size())) else {
                return Err(corrupt(format!("row group {index} has a negative offset or size")));
            };
            start = start.min(first);
            end = end.max(first.saturating_add(size));
        }
        if start >= end || end > data_end {
            return Err(corrupt(format!("row group {index} lies outside the file's data")));
        }
        spans.push(RowGroupSpan {
            start,
            end,
            timestamps: timestamp_range(group),
        });
    }
    Ok(Footer::RowGroups(spans))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::table::{ColumnName, Table};
    use crate::value::Value;

    #[test]
    fn row_groups_from_the_tail_match_the_file() -> Result<()> {
        let rows = 3 * super::super::ROW_GROUP_ROWS + 10;
        let x = ColumnName::from("x");
        let mut table = Table::new();
        for i in 0..rows {
            table.push(i as f64, [(&x, Value::F64(i as f64 * 0.5))]);
        }
        table.normalize();
        let bytes = super::super::to_bytes(&table)?;
        let len = bytes.len() as u64;
        // Too short a tail asks for more.
        let Footer::NeedsTail(needed) = row_groups(&bytes[bytes.len() - 16..], len, "t")? else {
            panic!("16 bytes cannot hold the footer");
        };
        let tail = &bytes[bytes.len() - needed as usize..];
        let Footer::RowGroups(groups) = row_groups(tail, len, "t")? else {
            panic!("the footer fits");
        };
        assert_eq!(groups.len(), 4);
        assert_eq!(groups[0].start, 4, "after the PAR1 magic");
        assert!(groups.windows(2).all(|w| w[0].end <= w[1].start));
        assert_eq!(
            groups[2].timestamps,
            Some((
                (2 * super::super::ROW_GROUP_ROWS) as f64,
                (3 * super::super::ROW_GROUP_ROWS - 1) as f64
            ))
        );
        // A crafted length is an error, not a panic or a huge allocation.
        let mut crafted = tail.to_vec();
        let n = crafted.len();
        crafted[n - 8..n - 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(row_groups(&crafted, len, "t").is_err());
        Ok(())
    }
}
