//! What an object store's copy of an experiment needs from a segment it has not fetched whole:
//! its row groups' byte ranges and timestamps, from the file's last bytes.

use ingest_core::storage::segment::{self, Footer};
use napi::bindgen_prelude::Buffer;
use napi::Env;
use napi_derive::napi;

use crate::error::check;

#[napi(object)]
pub struct RowGroupSpan {
    /// Bytes `[start, end)` of the file.
    pub start: f64,
    pub end: f64,
    pub min_timestamp: Option<f64>,
    pub max_timestamp: Option<f64>,
}

/// Either the row groups, or how many of the file's last bytes the footer needs (`needsTail`).
#[napi(object)]
pub struct SegmentFooter {
    pub row_groups: Option<Vec<RowGroupSpan>>,
    pub needs_tail: Option<f64>,
}

/// Reads the footer in `tail`, the last bytes of segment `what` of `file_length` bytes.
#[napi(catch_unwind)]
pub fn segment_row_groups(env: Env, tail: Buffer, file_length: f64, what: String) -> napi::Result<SegmentFooter> {
    // A length from a manifest: a whole number of bytes below 2^53 (checked), so the cast is exact.
    if !(file_length.is_finite() && file_length >= 0.0 && file_length.fract() == 0.0 && file_length < 9.0e15) {
        return Err(napi::Error::from_reason(format!(
            "segment length {file_length} is not a byte count"
        )));
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let footer = check(&env, segment::row_groups(&tail, file_length as u64, &what))?;
    // Offsets stay below the file length (checked), far below 2^53, where f64 is exact.
    #[allow(clippy::cast_precision_loss)]
    Ok(match footer {
        Footer::NeedsTail(n) => SegmentFooter {
            row_groups: None,
            needs_tail: Some(n as f64),
        },
        Footer::RowGroups(groups) => SegmentFooter {
            row_groups: Some(
                groups
                    .into_iter()
                    .map(|g| RowGroupSpan {
                        start: g.start as f64,
                        end: g.end as f64,
                        min_timestamp: g.timestamps.map(|t| t.0),
                        max_timestamp: g.timestamps.map(|t| t.1),
                    })
                    .collect(),
            ),
            needs_tail: None,
        },
    })
}
