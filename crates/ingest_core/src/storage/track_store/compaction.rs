//! Compaction: small segments of a similar size merged into one, so a track flushed often keeps
//! few files (see [`TrackStore::stage_compaction`]).

use super::{SegmentInfo, Staged, TrackStore};
use crate::error::Result;

/// How many small segments of a tier are merged into one (at most `COMPACT_MERGE_MAX`).
const COMPACT_FANOUT: u64 = 4;
const COMPACT_MERGE_MAX: usize = 2 * COMPACT_FANOUT as usize;
/// Segments below both bounds are small.
const SMALL_ROWS: u64 = 65_536;
const SMALL_MEMORY_BYTES: u64 = 1 << 20;

/// Whether a segment is small enough to be merged by compaction: few rows, and little memory
/// once read (so a merge of `COMPACT_MERGE_MAX` of them stays within a few MiB).
fn is_small(segment: &SegmentInfo) -> bool {
    segment.rows < SMALL_ROWS && segment.memory_bytes.is_some_and(|m| m < SMALL_MEMORY_BYTES)
}

impl TrackStore {
    /// How many of the track's segments are small (see [`TrackStore::stage_compaction`]).
    pub fn small_segments(&self) -> usize {
        self.listing.segments.iter().filter(|s| is_small(s)).count()
    }

    /// Stages the merge of small segments of a similar size, if there are enough of them, so a
    /// track flushed often does not keep one small file per flush (size-tiered: segments of
    /// `COMPACT_FANOUT^k` to `COMPACT_FANOUT^(k+1)` rows form tier `k`; a tier of `COMPACT_FANOUT`
    /// or more small segments is merged into one, which lands in a higher tier). A track thus keeps
    /// at most `COMPACT_FANOUT - 1` small segments per tier, a few dozen in all, plus large ones
    /// (each at least `SMALL_ROWS` rows or `SMALL_MEMORY_BYTES` of memory). A merge reads at most
    /// `COMPACT_MERGE_MAX` small segments. Segments never share a timestamp, so merging is
    /// concatenating and sorting. The newest segment is left out (see below).
    pub fn stage_compaction(&self) -> Result<Option<Staged>> {
        let tier = |s: &SegmentInfo| {
            let mut tier = 0;
            let mut rows = s.rows;
            while rows >= COMPACT_FANOUT {
                rows /= COMPACT_FANOUT;
                tier += 1;
            }
            tier
        };
        let mut tiers: std::collections::BTreeMap<u32, Vec<&SegmentInfo>> = std::collections::BTreeMap::new();
        // The newest segment waits for the next seal: by then an upload (remote mode) has sent
        // it, and a merge of segments all sent need not be sent again.
        let newest = self.listing.segments.iter().map(|s| &s.file).max();
        for segment in (self.listing.segments.iter()).filter(|s| is_small(s) && Some(&s.file) != newest) {
            tiers.entry(tier(segment)).or_default().push(segment);
        }
        let Some(chosen) = tiers.into_values().find(|t| t.len() as u64 >= COMPACT_FANOUT) else {
            return Ok(None);
        };
        let chosen: Vec<SegmentInfo> = chosen.into_iter().take(COMPACT_MERGE_MAX).cloned().collect();
        let mut staged = self.staged(self.listing.clone());
        let result = (|| {
            let merged = self.load_segments(&chosen)?;
            self.stage_segment(&mut staged, merged)?;
            if let Some(segment) = staged.listing.segments.last_mut() {
                segment.compacted_from = chosen.iter().map(|s| s.file.clone()).collect();
            }
            for old in &chosen {
                staged.listing.segments.retain(|s| s.file != old.file);
                staged.replaced.push(self.dir.join(&old.file));
            }
            self.stage_metadata(&staged)
        })();
        match result {
            Ok(()) => Ok(Some(staged)),
            Err(error) => {
                staged.abandon();
                Err(error)
            }
        }
    }
}
