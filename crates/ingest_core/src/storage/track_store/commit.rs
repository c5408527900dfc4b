//! Sealing: rows staged as segments and metadata (nothing visible yet), then a group of staged
//! tracks made durable and listed at once ([`commit`]), then taken by each store.

use std::path::{Path, PathBuf};

use super::{DataJsonl, Listing, SegmentInfo, TrackStore, DATA_JSONL, METADATA_FILE};
use crate::error::{IngestError, Result};
use crate::merge::table::Table;
use crate::storage::{fsx, jsonl, segment};

/// Groups of at least this many tracks are committed with `syncfs` (see [`commit`]).
const SYNCFS_FROM: usize = 8;

/// One track's part of a group seal: new segments written in place (unlisted) and the metadata
/// listing them written to its temporary file. [`commit`] makes a group durable and listed, then
/// [`TrackStore::apply`] takes its listing; [`Staged::abandon`] undoes one that failed.
#[derive(Debug)]
pub struct Staged {
    pub(super) listing: Listing,
    pub(super) meta_path: PathBuf,
    pub(super) meta_tmp: PathBuf,
    /// The new segment files.
    pub(super) written: Vec<PathBuf>,
    /// Segment files the new listing no longer names (rewritten with rows merged in).
    pub(super) replaced: Vec<PathBuf>,
    pub(super) bytes_written: u64,
}

impl Staged {
    /// The track's directory.
    fn dir(&self) -> &Path {
        self.meta_path.parent().unwrap_or(&self.meta_path)
    }

    /// How many new segment files.
    pub fn segments_written(&self) -> u64 {
        self.written.len() as u64
    }

    /// Bytes of new segments.
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written
    }

    /// Removes what a staged seal wrote (it was never listed), so the rows count as lost and the
    /// listed segments stay as they were.
    pub fn abandon(self) {
        for path in self.written.iter().chain([&self.meta_tmp]) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Makes a group of staged seals durable and listed: every new segment and metadata file of the
/// group is made durable, then each metadata file is renamed into place, then the renames are
/// made durable. A group of `SYNCFS_FROM` tracks or more does each step with one `syncfs` (two
/// syncs however many tracks, instead of several fsyncs per track); a smaller group fsyncs its
/// own files and directories (a `syncfs` would also wait for every other dirty page of the file
/// system, the write-ahead log's among them). A crash before the renames leaves only unlisted
/// files (removed by recovery; the rows are in the write-ahead log); after, every listed segment
/// is whole.
///
/// Returns how many of the group, in order, are listed (renamed into place: apply them, whatever
/// the result) and whether the commit completed; the rest are not listed (abandon them).
pub fn commit(root: &Path, group: &[Staged]) -> (usize, Result<()>) {
    if group.is_empty() {
        return (0, Ok(()));
    }
    let lost = "the rows being sealed";
    let whole_file_system = group.len() >= SYNCFS_FROM;
    let sync_written = || -> Result<()> {
        if whole_file_system {
            return fsx::sync_filesystem(root, lost);
        }
        for staged in group {
            for file in staged.written.iter().chain([&staged.meta_tmp]) {
                fsx::sync_file(file, lost)?;
            }
            fsx::sync_dir(staged.dir())?;
        }
        Ok(())
    };
    let sync_renames = || -> Result<()> {
        match whole_file_system {
            true => fsx::sync_filesystem(root, lost),
            false => group.iter().try_for_each(|staged| fsx::sync_dir(staged.dir())),
        }
    };
    if let Err(error) = sync_written() {
        return (0, Err(error));
    }
    for (listed, staged) in group.iter().enumerate() {
        if let Err(error) = fsx::rename(&staged.meta_tmp, &staged.meta_path, lost) {
            // Those renamed are listed; make them durable if the file system still can.
            let _ = sync_renames();
            return (listed, Err(error));
        }
    }
    (group.len(), sync_renames())
}

impl TrackStore {
    /// Makes `rows` (normalized) durable on its own: [`TrackStore::stage`], [`commit`],
    /// [`TrackStore::apply`]. Returns the table that was written, whose allocations the caller may
    /// reuse (see [`Table::clear`]).
    #[cfg(test)]
    pub fn seal(&mut self, rows: Table) -> Result<Table> {
        let (staged, rows) = self.stage(rows)?;
        if let Some(staged) = staged {
            let (listed, result) = commit(&self.root, std::slice::from_ref(&staged));
            match listed {
                0 => staged.abandon(),
                _ => self.apply(staged),
            }
            result?;
        }
        Ok(rows)
    }

    /// Writes `rows` (normalized) as segments and the metadata listing them to a temporary file;
    /// nothing is durable or visible to readers until [`commit`] (then [`TrackStore::apply`]).
    ///
    /// Cost stays proportional to the rows touched: new rows go into a new segment of their own,
    /// even where its time range overlaps older segments, except rows whose timestamp an older
    /// segment already holds: such a segment is rewritten with them merged in (it alone, not its
    /// neighbours). So segments never share a timestamp, a late row costs a small segment, and
    /// memory stays within one segment plus `rows`. Returns `None` for no rows, and the table
    /// for reuse.
    pub fn stage(&self, rows: Table) -> Result<(Option<Staged>, Table)> {
        let mut rows = rows;
        let mut listing = self.listing.clone();
        if listing.data_jsonl == DataJsonl::Foreign && !rows.is_empty() {
            // First write into an SDK track: its rows become the oldest part of this segment.
            let mut imported = jsonl::read_rows(&self.dir.join(DATA_JSONL))?;
            imported.absorb(rows);
            imported.normalize();
            rows = imported;
            listing.data_jsonl = DataJsonl::Derived("imported");
        }
        let (Some(&lo), Some(&hi)) = (rows.timestamps().first(), rows.timestamps().last()) else {
            return Ok((None, rows));
        };
        fsx::create_dir_within(&self.root, &self.dir)?;
        let mut staged = self.staged(listing);
        let result = (|| {
            let mut rest = rows;
            // Segments whose range holds one of the new timestamps (not merely overlaps the batch's
            // range), with the new timestamps' span inside each.
            let new = rest.timestamps();
            let candidates: Vec<(SegmentInfo, f64, f64)> = (self.listing.segments.iter())
                .filter(|s| s.max_timestamp >= lo && s.min_timestamp <= hi)
                .filter_map(|s| {
                    let from = new.partition_point(|t| *t < s.min_timestamp);
                    let to = new.partition_point(|t| *t <= s.max_timestamp);
                    Some((
                        s.clone(),
                        *new.get(from)?,
                        *new.get(to.checked_sub(1)?).filter(|_| to > from)?,
                    ))
                })
                .collect();
            for (old, first, last) in candidates {
                let path = self.dir.join(&old.file);
                let held = segment::read_timestamps(&path, first, last)?;
                let (shared, others) = rest.split(|ts| held.binary_search_by(|h| h.total_cmp(&ts)).is_ok());
                rest = others;
                if shared.is_empty() {
                    continue;
                }
                let mut merged = segment::read(&path)?;
                merged.absorb(shared);
                merged.normalize();
                self.stage_segment(&mut staged, merged)?;
                staged.listing.segments.retain(|s| s.file != old.file);
                staged.replaced.push(path);
            }
            let reusable = self.stage_segment(&mut staged, rest)?;
            self.stage_metadata(&staged)?;
            Ok(reusable)
        })();
        match result {
            Ok(reusable) => Ok((Some(staged), reusable)),
            Err(error) => {
                staged.abandon();
                Err(error)
            }
        }
    }

    /// An empty staging of `listing`.
    pub(super) fn staged(&self, listing: Listing) -> Staged {
        Staged {
            meta_path: self.dir.join(METADATA_FILE),
            meta_tmp: fsx::temp_path(&self.dir.join(METADATA_FILE)),
            written: Vec::new(),
            replaced: Vec::new(),
            listing,
            bytes_written: 0,
        }
    }

    /// Sorts the staged listing and writes the metadata listing it to its temporary file.
    pub(super) fn stage_metadata(&self, staged: &Staged) -> Result<()> {
        let mut listing = staged.listing.clone();
        listing
            .segments
            .sort_by(|a, b| a.min_timestamp.total_cmp(&b.min_timestamp));
        let text = self.metadata_text(&listing);
        let lost = format!("rows of track {:?}", self.topic);
        let mut file = fsx::create_fresh(&staged.meta_tmp).map_err(|e| IngestError::io(&staged.meta_tmp, &lost, e))?;
        std::io::Write::write_all(&mut file, text.as_bytes()).map_err(|e| IngestError::io(&staged.meta_tmp, &lost, e))
    }

    /// Writes `rows` (if any) as the store's next segment, in place but unlisted; returns the table
    /// for reuse.
    pub(super) fn stage_segment(&self, staged: &mut Staged, rows: Table) -> Result<Table> {
        let (Some(&min_timestamp), Some(&max_timestamp)) = (rows.timestamps().first(), rows.timestamps().last()) else {
            return Ok(rows);
        };
        let file = format!("seg-{:08}.parquet", staged.listing.next_segment);
        staged.listing.next_segment += 1;
        let path = self.dir.join(&file);
        let tmp = fsx::temp_path(&path);
        let lost = format!("{} rows of track {:?}", rows.len(), self.topic);
        let bytes = segment::write(&tmp, &rows, &lost).inspect_err(|_| {
            // A partial temporary file only takes space (on a full disk, the space needed next).
            let _ = std::fs::remove_file(&tmp);
        })?;
        // In place (so the group's syncs cover the name), but unlisted: readers do not see it,
        // and recovery removes it if the metadata never lists it.
        fsx::rename(&tmp, &path, &lost)?;
        staged.written.push(path);
        staged.bytes_written += bytes;
        // A reused table may keep columns this segment has no value in.
        let present = rows.columns().iter().filter(|c| c.has_values());
        staged.listing.columns.extend(present.map(|c| c.name.to_string()));
        staged.listing.segments.push(SegmentInfo {
            file,
            rows: rows.len() as u64,
            min_timestamp,
            max_timestamp,
            bytes,
            memory_bytes: Some(rows.memory_bytes() as u64),
            compacted_from: Vec::new(),
        });
        Ok(rows)
    }

    /// Takes the state a committed [`Staged`] describes, and removes the segments it replaced
    /// (no longer listed, so a leftover is harmless and recovery removes it).
    pub fn apply(&mut self, staged: Staged) {
        for old in &staged.replaced {
            let _ = std::fs::remove_file(old);
        }
        self.listing = staged.listing;
        self.listing
            .segments
            .sort_by(|a, b| a.min_timestamp.total_cmp(&b.min_timestamp));
    }
}
