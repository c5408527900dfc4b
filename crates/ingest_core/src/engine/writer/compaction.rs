//! When the writer compacts (see `TrackStore::stage_compaction` for what): in the background while
//! no command waits, and at once for a track whose small segments pile up.

use std::sync::atomic::Ordering::Relaxed;

use super::Writer;
use crate::storage::track_store::TrackStore;

/// Tracks compacted in one background step (each step is one group commit).
const COMPACT_STEP_TRACKS: usize = 16;

/// A track with more small segments than this after a seal is compacted at once, not only when
/// the writer is idle (idle compaction keeps about two dozen at most).
const MAX_SMALL_SEGMENTS: usize = 32;

impl Writer {
    /// After a seal of the tracks `sealed`: they are due for background compaction, which runs
    /// while the writer is idle; a track whose small segments pile up anyway (a producer that
    /// never lets it idle) is compacted now, so their count stays bounded.
    pub(super) fn schedule_compaction(&mut self, sealed: Vec<usize>) {
        let mut crowded = self.crowded(sealed.clone());
        self.compaction_due.extend(sealed);
        while !crowded.is_empty() {
            let merged = self.compact(crowded);
            crowded = self.crowded(merged);
        }
    }

    /// Those of the tracks `indices` with more than `MAX_SMALL_SEGMENTS` small segments.
    fn crowded(&self, indices: Vec<usize>) -> Vec<usize> {
        let crowded = |index: &usize| {
            let store = self.tracks.get(*index).and_then(|t| t.store.as_ref());
            store.is_some_and(|s| s.small_segments() > MAX_SMALL_SEGMENTS)
        };
        indices.into_iter().filter(crowded).collect()
    }

    /// One step of background compaction, run while no command waits: a few of the tracks sealed
    /// since (see [`Writer::compact`]); a track with more to merge stays due.
    pub(super) fn compact_step(&mut self) {
        let indices: Vec<usize> = self.compaction_due.iter().take(COMPACT_STEP_TRACKS).copied().collect();
        for index in &indices {
            self.compaction_due.remove(index);
        }
        let again = self.compact(indices);
        self.compaction_due.extend(again);
    }

    /// Merges small segments (see [`TrackStore::stage_compaction`]) of the tracks `indices`, one
    /// tier each, as one group like a seal; returns the tracks that merged something (they may
    /// have more to merge). A failure loses nothing (the rows stay in the segments they were in),
    /// so it is not reported; those tracks wait for their next seal.
    fn compact(&mut self, indices: Vec<usize>) -> Vec<usize> {
        let mut members = Vec::new();
        let mut group = Vec::new();
        for index in indices {
            let store = self.tracks.get(index).and_then(|t| t.store.as_ref());
            if let Some(Ok(Some(staged))) = store.map(TrackStore::stage_compaction) {
                members.push(index);
                group.push(staged);
            }
        }
        let (listed, result) = self.commit(&members, group);
        let merged: Vec<usize> = listed.iter().map(|(index, _)| *index).collect();
        for (index, staged) in listed {
            self.stats.compactions.fetch_add(1, Relaxed);
            self.apply(index, staged);
        }
        match result {
            Ok(()) => merged,
            Err(_) => Vec::new(),
        }
    }
}
