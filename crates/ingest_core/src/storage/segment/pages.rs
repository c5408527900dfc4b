//! A bounded check of a file's footer and a row group's page headers before the `parquet` crate
//! parses them.
//!
//! The crate's Thrift decoding trusts list sizes when it skips fields it does not know (and skips
//! boolean list elements without reading a byte), so a corrupt page header or footer claiming a
//! list of ~2^31 elements makes it spin for seconds to minutes (both found by the `segment` fuzz
//! target; the inputs are in `fuzz/known-hangs/`). These walk the footer and every page header of
//! every column chunk with a compact-Thrift reader over their bytes, where no count may exceed the
//! bytes left, and report the first that does not parse.

use std::fs::File;
use std::os::unix::fs::FileExt;

use parquet::file::metadata::RowGroupMetaData;

/// The most bytes a page header may take (ours take well under 1 KiB).
const MAX_HEADER_BYTES: u64 = 1 << 20;
/// Nesting deeper than this is not a page header.
const MAX_DEPTH: u8 = 16;

/// Checks the page headers of every column chunk of `group` in `file`.
pub(crate) fn check_row_group(file: &File, group: &RowGroupMetaData) -> Result<(), String> {
    for (index, chunk) in group.columns().iter().enumerate() {
        let start = chunk
            .dictionary_page_offset()
            .unwrap_or_else(|| chunk.data_page_offset());
        let (Ok(start), Ok(size)) = (u64::try_from(start), u64::try_from(chunk.compressed_size())) else {
            return Err(format!("column chunk {index} has a negative offset or size"));
        };
        let end = start.saturating_add(size);
        let mut at = start;
        while at < end {
            let mut header = vec![0; usize::try_from((end - at).min(MAX_HEADER_BYTES)).unwrap_or(0)];
            file.read_exact_at(&mut header, at)
                .map_err(|e| format!("column chunk {index}: page header at byte {at}: {e}"))?;
            let (header_len, page_len) = page_sizes(&header)
                .ok_or_else(|| format!("column chunk {index}: malformed page header at byte {at}"))?;
            at = at.saturating_add(header_len).saturating_add(page_len);
        }
    }
    Ok(())
}

/// The most bytes a footer may take (ours take a few KiB; thousands of columns, a few MiB).
pub(crate) const MAX_FOOTER_BYTES: u64 = 64 << 20;

/// Checks that the footer of `file` (the `FileMetaData` before the last 8 bytes) is one Thrift
/// struct within its stated length.
pub(crate) fn check_footer(file: &File) -> Result<(), String> {
    let len = file.metadata().map_err(|e| format!("footer: {e}"))?.len();
    let mut tail = [0u8; 8];
    if len < 12 || file.read_exact_at(&mut tail, len - 8).is_err() || &tail[4..] != b"PAR1" {
        return Err("not a Parquet file (no PAR1 footer)".into());
    }
    let footer_len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if footer_len > MAX_FOOTER_BYTES || footer_len + 12 > len {
        return Err(format!("footer length {footer_len} does not fit the file"));
    }
    let mut footer = vec![0; usize::try_from(footer_len).map_err(|e| e.to_string())?];
    file.read_exact_at(&mut footer, len - 8 - footer_len)
        .map_err(|e| format!("footer: {e}"))?;
    check_footer_bytes(&footer)
}

/// Checks that `footer` (a file's `FileMetaData`) is one Thrift struct within its bytes.
pub(crate) fn check_footer_bytes(footer: &[u8]) -> Result<(), String> {
    let mut thrift = Thrift { bytes: footer, at: 0 };
    thrift
        .skip(STRUCT, MAX_DEPTH)
        .ok_or_else(|| "malformed footer (a count longer than its bytes, or cut short)".to_string())
}

/// The length of the page header at the start of `bytes` and its `compressed_page_size`.
fn page_sizes(bytes: &[u8]) -> Option<(u64, u64)> {
    let mut thrift = Thrift { bytes, at: 0 };
    let mut field_id: i64 = 0;
    let mut compressed = None;
    loop {
        let header = thrift.byte()?;
        if header == 0 {
            break;
        }
        let kind = header & 0x0f;
        let delta = header >> 4;
        field_id = if delta == 0 {
            zigzag(thrift.varint()?)
        } else {
            field_id + i64::from(delta)
        };
        if field_id == 3 && kind == I32 {
            compressed = Some(u64::try_from(zigzag(thrift.varint()?)).ok()?);
        } else {
            thrift.skip(kind, MAX_DEPTH)?;
        }
    }
    Some((thrift.at as u64, compressed?))
}

const BOOL_TRUE: u8 = 1;
const BOOL_FALSE: u8 = 2;
const BYTE: u8 = 3;
const I16: u8 = 4;
const I32: u8 = 5;
const I64: u8 = 6;
const DOUBLE: u8 = 7;
const BINARY: u8 = 8;
const LIST: u8 = 9;
const SET: u8 = 10;
const MAP: u8 = 11;
const STRUCT: u8 = 12;

fn zigzag(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

/// Thrift compact protocol over a byte slice; every method fails at the end of the bytes.
struct Thrift<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Thrift<'_> {
    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.at)
    }

    fn byte(&mut self) -> Option<u8> {
        let byte = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(byte)
    }

    fn take(&mut self, n: u64) -> Option<()> {
        let n = usize::try_from(n).ok()?;
        (n <= self.remaining()).then(|| self.at += n)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f).checked_shl(shift).unwrap_or(0);
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    /// A collection of `count` elements: each takes at least one byte.
    fn count(&mut self, count: u64) -> Option<u64> {
        (count <= self.remaining() as u64).then_some(count)
    }

    fn skip(&mut self, kind: u8, depth: u8) -> Option<()> {
        let depth = depth.checked_sub(1)?;
        match kind {
            BOOL_TRUE | BOOL_FALSE => Some(()),
            BYTE => self.byte().map(|_| ()),
            I16 | I32 | I64 => self.varint().map(|_| ()),
            DOUBLE => self.take(8),
            BINARY => {
                let len = self.varint()?;
                self.take(len)
            }
            LIST | SET => {
                let header = self.byte()?;
                let element = header & 0x0f;
                let count = match header >> 4 {
                    15 => self.varint()?,
                    n => u64::from(n),
                };
                for _ in 0..self.count(count)? {
                    match element {
                        // In a collection a boolean is a byte.
                        BOOL_TRUE | BOOL_FALSE => self.byte().map(|_| ())?,
                        _ => self.skip(element, depth)?,
                    }
                }
                Some(())
            }
            MAP => {
                let count = self.varint()?;
                if count == 0 {
                    return Some(());
                }
                let kinds = self.byte()?;
                for _ in 0..self.count(count)? {
                    self.skip(kinds >> 4, depth)?;
                    self.skip(kinds & 0x0f, depth)?;
                }
                Some(())
            }
            STRUCT => loop {
                let header = self.byte()?;
                if header == 0 {
                    return Some(());
                }
                if header >> 4 == 0 {
                    self.varint()?;
                }
                self.skip(header & 0x0f, depth)?;
            },
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_footer_with_a_list_longer_than_its_bytes_is_refused() {
        let check = |name: &str, bytes: &[u8]| {
            let path = std::env::temp_dir().join(format!("dash-footer-{}-{name}", std::process::id()));
            std::fs::write(&path, bytes).unwrap();
            let result = check_footer(&File::open(&path).unwrap());
            std::fs::remove_file(path).ok();
            result
        };
        let hang = include_bytes!("../../../../../fuzz/known-hangs/segment-footer-huge-list.parquet");
        assert!(check("hang", hang).is_err());
        let good = include_bytes!("../../../../../fuzz/seeds/segment/mixed.parquet");
        assert_eq!(check("good", good), Ok(()));
        assert!(check("short", &good[..good.len() - 3]).is_err());
    }

    #[test]
    fn a_list_longer_than_its_bytes_is_refused_at_once() {
        // PageHeader { 1: type = 0, 2: uncompressed = 1, 3: compressed = 1, 8: list of 2^31 bools }
        let mut header = vec![0x15, 0x00, 0x15, 0x02, 0x15, 0x02, 0x59, 0xf1];
        header.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x07]);
        header.push(0);
        assert_eq!(page_sizes(&header), None);
        // The same header without the list parses.
        let header = [0x15, 0x00, 0x15, 0x02, 0x15, 0x02, 0x00];
        assert_eq!(page_sizes(&header), Some((7, 1)));
    }
}
