//! One track's directory: sealed Parquet segments plus `metadata.json` (the ml-dash fields and
//! the segment list, which is the source of truth for what is durable).
//!
//! A track written by the Python SDK keeps its rows in `data.jsonl`; such a file is part of the
//! track (the oldest rows) until this engine first seals rows into the track, which imports it into
//! a segment. From then on, like after `export_ml_dash`, `data.jsonl` is a derived copy that reads
//! ignore (`dataJsonl` in the metadata says which).
//!
//! Invariant: every segment is sorted with unique timestamps, and no two segments share a
//! timestamp (their time ranges may overlap). New rows go into a segment of their own; a segment
//! holding one of their timestamps is rewritten with them merged in ([`commit`]: new files
//! durable first, then the metadata, then old files removed), so equal timestamps merge whatever
//! the flush timing, and readers (ours or DuckDB over `*.parquet`) never see a timestamp twice.
//! Small segments are merged in the background ([`TrackStore::stage_compaction`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value as Json};

use crate::error::{IngestError, Result};
use crate::merge::downsample::{downsample, downsample_summarized};
use crate::merge::parts::Parts;
use crate::merge::table::Table;
use crate::{storage::fsx, storage::jsonl, storage::segment, time};

mod commit;
mod compaction;

pub use commit::{commit, Staged};

pub const METADATA_FILE: &str = "metadata.json";
pub const DATA_JSONL: &str = "data.jsonl";
/// The `format` of the metadata this engine writes.
const FORMAT: &str = "dash-ingest/parquet-segments/1";

/// What a track's `data.jsonl` is to this engine.
#[derive(Debug, Clone, Copy, PartialEq)]
enum DataJsonl {
    Absent,
    /// Written by the Python SDK: rows of this track not (yet) in any segment.
    Foreign,
    /// Written or imported by this engine: a copy of rows the segments hold.
    Derived(&'static str),
}

/// A track's summary, as `tracks.list()` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackSummary {
    pub topic: String,
    pub total_entries: u64,
    pub columns: Vec<String>,
    pub first_timestamp: Option<f64>,
    pub last_timestamp: Option<f64>,
    /// The track's directory.
    pub dir: PathBuf,
    /// Parquet segments holding the rows, and their size on disk.
    pub segments: usize,
    pub segment_bytes: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SegmentInfo {
    pub file: String,
    pub rows: u64,
    pub min_timestamp: f64,
    pub max_timestamp: f64,
    pub bytes: u64,
    /// Memory its rows take once read, roughly (`None` in metadata written before it was kept:
    /// such a segment is never taken for a small one).
    pub memory_bytes: Option<u64>,
    /// For a segment compaction made, the segments it merged (exactly their rows, nothing else):
    /// what an upload already sent of them it need not send again. Empty otherwise.
    pub compacted_from: Vec<String>,
}

#[derive(Debug)]
pub struct TrackStore {
    /// The experiment directory: the store writes nothing outside it (see [`fsx`]).
    root: PathBuf,
    topic: String,
    dir: PathBuf,
    created_at: String,
    /// What the metadata on disk lists.
    listing: Listing,
}

/// What a track's metadata lists: its segments (sorted by first timestamp; their time ranges may
/// overlap, their timestamps never do) and what is known of them.
#[derive(Debug, Clone, PartialEq)]
struct Listing {
    segments: Vec<SegmentInfo>,
    columns: BTreeSet<String>,
    next_segment: u64,
    data_jsonl: DataJsonl,
}

impl Listing {
    fn total_rows(&self) -> u64 {
        self.segments.iter().map(|s| s.rows).sum()
    }

    fn first_timestamp(&self) -> Option<f64> {
        self.segments.iter().map(|s| s.min_timestamp).min_by(f64::total_cmp)
    }

    fn last_timestamp(&self) -> Option<f64> {
        self.segments.iter().map(|s| s.max_timestamp).max_by(f64::total_cmp)
    }
}

/// Reads the topic recorded in a track directory's metadata, if any.
pub fn recorded_topic(dir: &Path) -> Result<Option<String>> {
    Ok(fsx::read_json(&dir.join(METADATA_FILE))?
        .and_then(|meta| meta.get("topic").and_then(Json::as_str).map(str::to_string)))
}

/// Every track directory under `tracks_dir` (an experiment's `tracks/`) with the topic its
/// metadata records, in directory-name order; directories without one are not tracks.
pub fn track_dirs(tracks_dir: &Path) -> Result<Vec<(PathBuf, String)>> {
    let entries = match std::fs::read_dir(tracks_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(IngestError::io(tracks_dir, "nothing (listing)", e)),
    };
    let mut dirs = Vec::new();
    for entry in entries.flatten() {
        let dir = entry.path();
        if let Some(topic) = recorded_topic(&dir)? {
            dirs.push((dir, topic));
        }
    }
    dirs.sort();
    Ok(dirs)
}

fn num(v: &Json, key: &str) -> Option<f64> {
    v.get(key).and_then(Json::as_f64)
}

/// JSON for a timestamp; non-finite values cannot occur (timestamps are validated finite).
fn ts_json(v: Option<f64>) -> Json {
    v.and_then(serde_json::Number::from_f64)
        .map_or(Json::Null, Json::Number)
}

/// Repairs what a crash can leave in a track directory: removes temporary files and every
/// segment the metadata does not list. An unlisted segment is either one whose seal was never
/// acknowledged (its rows are still in the write-ahead log, which the caller replays next) or an
/// old segment a rewrite had replaced, brought back by a power loss before its unlink reached the
/// disk: adopting it would revert acknowledged values. Returns how many segments were removed.
/// Only safe while holding the experiment's lock.
pub fn recover(root: &Path, dir: &Path) -> Result<usize> {
    let Some(topic) = recorded_topic(dir)? else {
        return Ok(0);
    };
    let store = TrackStore::open(root, dir.to_path_buf(), &topic)?;
    let entries = std::fs::read_dir(dir).map_err(|e| IngestError::io(dir, "nothing (listing)", e))?;
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let unlisted = is_segment_name(&name) && !store.listing.segments.iter().any(|s| s.file == name);
        if name.ends_with(".tmp") || unlisted {
            std::fs::remove_file(entry.path()).map_err(|e| IngestError::io(entry.path(), "nothing (cleanup)", e))?;
            removed += usize::from(unlisted);
        }
    }
    if removed > 0 {
        fsx::sync_dir(dir)?;
    }
    Ok(removed)
}

/// Whether `name` is a segment's file name as this engine makes them (`seg-<digits>.parquet`):
/// a name read from metadata is trusted no further than that.
fn is_segment_name(name: &str) -> bool {
    name.strip_prefix("seg-")
        .and_then(|rest| rest.strip_suffix(".parquet"))
        .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// Blocks a chart's pixel column must span before the chart is drawn from summaries: a span's
/// extremes miss at most the rows of the blocks it shares with its neighbours (see
/// [`downsample_summarized`]), so most of each span is in blocks of its own.
const SUMMARIZED_BLOCKS_PER_SPAN: usize = 2;

/// How often a reader starts over when a segment its metadata listed was replaced meanwhile.
const SNAPSHOT_ATTEMPTS: u32 = 100;

/// A reader's consistent view of a track: what `read` reads of its current metadata's segments.
/// A writer replaces segments (new ones published, then the metadata, then old ones removed), so
/// a reader that finds a listed segment gone reads the newer metadata and starts over.
pub fn read_snapshot<T>(root: &Path, dir: &Path, topic: &str, read: impl Fn(&TrackStore) -> Result<T>) -> Result<T> {
    let mut attempt = 0;
    loop {
        let result = TrackStore::open(root, dir.to_path_buf(), topic).and_then(|store| read(&store));
        match result {
            Err(error) if error.is_not_found() && attempt < SNAPSHOT_ATTEMPTS => {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(u64::from(attempt.min(20))));
            }
            result => return result,
        }
    }
}

impl TrackStore {
    /// Opens the track directory `dir` (inside the experiment directory `root`) for `topic`,
    /// loading existing segments if any.
    pub fn open(root: &Path, dir: PathBuf, topic: &str) -> Result<TrackStore> {
        let meta_path = dir.join(METADATA_FILE);
        let mut store = TrackStore {
            root: root.to_path_buf(),
            topic: topic.to_string(),
            dir,
            created_at: time::utc_now_iso(),
            listing: Listing {
                segments: Vec::new(),
                columns: BTreeSet::new(),
                next_segment: 0,
                data_jsonl: DataJsonl::Absent,
            },
        };
        let Some(meta) = fsx::read_json(&meta_path)? else {
            return Ok(store);
        };
        if store.dir.join(DATA_JSONL).exists() {
            // Once this engine has written the metadata (it carries our `format`), the track's rows
            // are in segments and `data.jsonl` is at most a copy of them: an export, or one cut short
            // by a crash before the metadata said so, is never taken for rows the SDK wrote.
            let ours = meta.get("format").and_then(Json::as_str) == Some(FORMAT);
            store.listing.data_jsonl = match meta.get("dataJsonl").and_then(Json::as_str) {
                Some("imported") => DataJsonl::Derived("imported"),
                Some(_) => DataJsonl::Derived("export"),
                None if ours => DataJsonl::Derived("export"),
                None => DataJsonl::Foreign,
            };
        }
        let corrupt = |reason: &str| IngestError::corrupt(&meta_path, reason);
        if let Some(existing) = meta.get("topic").and_then(Json::as_str) {
            if existing != topic {
                return Err(IngestError::TopicCollision {
                    topic: topic.into(),
                    existing: existing.into(),
                    dir: store.dir.display().to_string(),
                });
            }
        }
        if let Some(created) = meta.get("createdAt").and_then(Json::as_str) {
            store.created_at = created.to_string();
        }
        store.listing.columns = meta
            .get("columns")
            .and_then(Json::as_array)
            .map(|cols| cols.iter().filter_map(|c| c.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        store.listing.next_segment = meta.get("nextSegment").and_then(Json::as_u64).unwrap_or(0);
        for seg in meta.get("segments").and_then(Json::as_array).into_iter().flatten() {
            store.listing.segments.push(SegmentInfo {
                file: seg
                    .get("file")
                    .and_then(Json::as_str)
                    .filter(|f| is_segment_name(f))
                    .ok_or_else(|| corrupt("segment without a valid file name"))?
                    .to_string(),
                rows: seg
                    .get("rows")
                    .and_then(Json::as_u64)
                    .ok_or_else(|| corrupt("segment without rows"))?,
                min_timestamp: num(seg, "minTimestamp").ok_or_else(|| corrupt("segment without minTimestamp"))?,
                max_timestamp: num(seg, "maxTimestamp").ok_or_else(|| corrupt("segment without maxTimestamp"))?,
                bytes: seg.get("bytes").and_then(Json::as_u64).unwrap_or(0),
                memory_bytes: seg.get("memoryBytes").and_then(Json::as_u64),
                compacted_from: seg
                    .get("compactedFrom")
                    .and_then(Json::as_array)
                    .map(|files| files.iter().filter_map(|f| f.as_str().map(str::to_string)).collect())
                    .unwrap_or_default(),
            });
        }
        Ok(store)
    }

    pub fn segments(&self) -> &[SegmentInfo] {
        &self.listing.segments
    }

    pub fn total_rows(&self) -> u64 {
        self.listing.total_rows()
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Every row of the given segments, normalized.
    fn load_segments(&self, segments: &[SegmentInfo]) -> Result<Table> {
        let tables = (segments.iter())
            .map(|info| segment::read(&self.dir.join(&info.file)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Parts::of(tables).merged())
    }

    /// Durable rows with `start <= timestamp <= end`, normalized; touches only overlapping segments.
    pub fn read_range(&self, start: f64, end: f64) -> Result<Table> {
        Ok(self.read_parts(start, end)?.merged())
    }

    /// Durable rows with `start <= timestamp <= end` as parts (one per segment where segments do
    /// not overlap in time); touches only overlapping segments.
    fn read_parts(&self, start: f64, end: f64) -> Result<Parts> {
        let mut tables = match self.listing.data_jsonl {
            DataJsonl::Foreign => vec![jsonl::read_rows(&self.dir.join(DATA_JSONL))?.range(start, end)],
            _ => Vec::new(),
        };
        for info in self.segments_in(start, end) {
            tables.push(segment::read_range(&self.dir.join(&info.file), start, end)?.into_range(start, end));
        }
        Ok(Parts::of(tables))
    }

    /// The listed segments whose time range meets `[start, end]`.
    fn segments_in(&self, start: f64, end: f64) -> impl Iterator<Item = &SegmentInfo> {
        (self.listing.segments.iter()).filter(move |s| s.max_timestamp >= start && s.min_timestamp <= end)
    }

    /// What a read asks for: the rows in `[start, end]` (durable rows, then `unsealed` ones, a
    /// normalized table of them) projected to `columns`, or with `chart_width` what a chart that
    /// many pixels wide needs of them.
    pub fn select(
        &self,
        range: (f64, f64),
        unsealed: Table,
        columns: Option<&[String]>,
        chart_width: Option<usize>,
    ) -> Result<Parts> {
        if let Some(width) = chart_width {
            return Ok(Parts::one(self.chart(range, width, unsealed, columns)?));
        }
        let mut parts = self.read_parts(range.0, range.1)?.absorb(unsealed);
        if let Some(columns) = columns {
            parts.project(columns);
        }
        Ok(parts)
    }

    /// What a chart `buckets` pixels wide needs of the rows in `[start, end]` (as `select`): see
    /// [`downsample`] and [`downsample_summarized`]. Summaries are used where a span holds at least
    /// [`SUMMARIZED_BLOCKS_PER_SPAN`] blocks, the track has no more columns than a summary covers,
    /// and `unsealed` shares no time with the segments (it could merge into their rows); the
    /// blocks straddling `start` or `end` are decoded.
    fn chart(
        &self,
        (start, end): (f64, f64),
        buckets: usize,
        unsealed: Table,
        columns: Option<&[String]>,
    ) -> Result<Table> {
        let wanted: Vec<&SegmentInfo> = self.segments_in(start, end).collect();
        // Rows in the range, taking each segment's rows as spread evenly over its time range.
        let rows: f64 = (wanted.iter())
            .map(|s| {
                let span = s.max_timestamp - s.min_timestamp;
                let overlap = s.max_timestamp.min(end) - s.min_timestamp.max(start);
                let share = if span > 0.0 {
                    (overlap / span).clamp(0.0, 1.0)
                } else {
                    1.0
                };
                s.rows as f64 * share
            })
            .sum();
        let after_segments =
            (unsealed.timestamps().first()).is_none_or(|t| wanted.iter().all(|s| s.max_timestamp < *t));
        let per_span = rows / buckets.max(1) as f64;
        let summarize = self.listing.data_jsonl != DataJsonl::Foreign
            && self.listing.columns.len() <= segment::SUMMARY_MAX_COLUMNS
            && after_segments
            && per_span >= (SUMMARIZED_BLOCKS_PER_SPAN * segment::BLOCK_ROWS) as f64;
        if !summarize {
            return Ok(downsample(
                self.select((start, end), unsealed, columns, None)?.merged(),
                buckets,
            ));
        }
        let mut tables = vec![unsealed];
        let mut blocks = Vec::new();
        for info in wanted {
            let path = self.dir.join(&info.file);
            let Some(summary) = segment::read_summary(&path)? else {
                tables.push(segment::read_range(&path, start, end)?.into_range(start, end));
                continue;
            };
            for block in summary.blocks {
                if block.first_timestamp >= start && block.last_timestamp <= end {
                    blocks.push(block);
                } else if block.last_timestamp >= start && block.first_timestamp <= end {
                    let (from, to) = (block.first_timestamp.max(start), block.last_timestamp.min(end));
                    tables.push(segment::read_range(&path, from, to)?.into_range(from, to));
                }
            }
        }
        let mut chart = downsample_summarized(&tables, &blocks, buckets);
        if let Some(columns) = columns {
            chart.project(columns);
        }
        Ok(chart)
    }

    /// Topic, entry count, columns and time range of the durable rows.
    pub fn summary(&self) -> Result<TrackSummary> {
        if self.listing.data_jsonl == DataJsonl::Foreign {
            let rows = self.read_range(f64::NEG_INFINITY, f64::INFINITY)?;
            let mut columns: Vec<String> = rows.columns().iter().map(|c| c.name.to_string()).collect();
            columns.sort();
            return Ok(TrackSummary {
                topic: self.topic.clone(),
                total_entries: rows.len() as u64,
                columns,
                first_timestamp: rows.timestamps().first().copied(),
                last_timestamp: rows.timestamps().last().copied(),
                dir: self.dir.clone(),
                segments: 0,
                segment_bytes: 0,
            });
        }
        Ok(TrackSummary {
            topic: self.topic.clone(),
            total_entries: self.total_rows(),
            columns: self.listing.columns.iter().cloned().collect(),
            first_timestamp: self.listing.first_timestamp(),
            last_timestamp: self.listing.last_timestamp(),
            dir: self.dir.clone(),
            segments: self.listing.segments.len(),
            segment_bytes: self.listing.segments.iter().map(|s| s.bytes).sum(),
        })
    }

    /// Writes every durable row to the SDK's `data.jsonl` (a snapshot the Python SDK reads). A
    /// track that still is an SDK track already has its rows there and is left alone.
    pub fn export_ml_dash(&mut self) -> Result<()> {
        if self.listing.data_jsonl == DataJsonl::Foreign {
            return Ok(());
        }
        let rows = self.read_range(f64::NEG_INFINITY, f64::INFINITY)?;
        let lost = format!("ml-dash export of track {:?}", self.topic);
        fsx::write_atomic(
            &self.root,
            &self.dir.join(DATA_JSONL),
            jsonl::write_rows(&rows).as_bytes(),
            &lost,
        )?;
        self.listing.data_jsonl = DataJsonl::Derived("export");
        let text = self.metadata_text(&self.listing);
        fsx::write_atomic(&self.root, &self.dir.join(METADATA_FILE), text.as_bytes(), &lost)
    }

    /// The metadata file listing `listing`: the SDK's fields and our segment list.
    fn metadata_text(&self, listing: &Listing) -> String {
        let segments: Vec<Json> = listing
            .segments
            .iter()
            .map(|s| {
                let mut segment = json!({
                    "file": s.file, "rows": s.rows, "bytes": s.bytes, "memoryBytes": s.memory_bytes,
                    "minTimestamp": ts_json(Some(s.min_timestamp)),
                    "maxTimestamp": ts_json(Some(s.max_timestamp)),
                });
                if !s.compacted_from.is_empty() {
                    segment["compactedFrom"] = json!(s.compacted_from);
                }
                segment
            })
            .collect();
        let mut meta = Map::new();
        let dir_name = self
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        meta.insert("trackId".into(), json!(format!("local-track-{dir_name}")));
        meta.insert("topic".into(), json!(self.topic));
        meta.insert("columns".into(), json!(listing.columns));
        meta.insert("totalEntries".into(), json!(listing.total_rows()));
        meta.insert("firstTimestamp".into(), ts_json(listing.first_timestamp()));
        meta.insert("lastTimestamp".into(), ts_json(listing.last_timestamp()));
        meta.insert("createdAt".into(), json!(self.created_at));
        meta.insert("updatedAt".into(), json!(time::utc_now_iso()));
        meta.insert("format".into(), json!(FORMAT));
        meta.insert("segments".into(), Json::Array(segments));
        meta.insert("nextSegment".into(), json!(listing.next_segment));
        if let DataJsonl::Derived(how) = listing.data_jsonl {
            meta.insert("dataJsonl".into(), json!(how));
        }
        jsonl::python_json(&Json::Object(meta))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::table::ColumnName;
    use crate::value::Value;

    fn table(entries: &[(f64, &str, f64)]) -> Table {
        let mut t = Table::new();
        for (ts, name, v) in entries {
            let name = ColumnName::from(*name);
            t.push(*ts, [(&name, Value::F64(*v))]);
        }
        t.normalize();
        t
    }

    #[test]
    fn seals_merge_shared_timestamps_and_rewrite_only_the_segments_holding_them() {
        let dir = std::env::temp_dir().join(format!("dash-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut store = TrackStore::open(&dir, dir.clone(), "a/b").unwrap();
        store.seal(table(&[(1.0, "x", 1.0), (2.0, "x", 2.0)])).unwrap();
        store.seal(table(&[(5.0, "x", 5.0)])).unwrap();
        let files = |store: &TrackStore| store.segments().iter().map(|s| s.file.clone()).collect::<Vec<_>>();
        let before = files(&store);
        // 2.0 is in the first segment (rewritten with it merged); 3.0 is in none (a new segment,
        // whose range overlaps the first one's); the segment holding 5.0 is not touched.
        store.seal(table(&[(2.0, "y", 20.0), (3.0, "x", 3.0)])).unwrap();
        let after = files(&store);
        assert_eq!(after.len(), 3);
        assert!(
            !after.contains(&before[0]) && after.contains(&before[1]),
            "{before:?} -> {after:?}"
        );
        assert_eq!(store.total_rows(), 4);
        let all = store.read_range(f64::NEG_INFINITY, f64::INFINITY).unwrap();
        assert_eq!(all.timestamps(), &[1.0, 2.0, 3.0, 5.0]);
        let y = all.columns().iter().find(|c| &*c.name == "y").unwrap();
        assert_eq!(y.get(1), Some(Value::F64(20.0)));
        let x = all.columns().iter().find(|c| &*c.name == "x").unwrap();
        assert_eq!(x.get(1), Some(Value::F64(2.0)));

        // A crash after publishing a segment but before listing it (its rows are in the log the
        // next engine replays), or an old segment back after a power loss, and a stray temporary
        // file: recovery removes them, and the listed rows stay as they were.
        let mut orphan = table(&[(5.0, "x", 50.0), (6.0, "x", 6.0)]);
        orphan.normalize();
        segment::write(&dir.join("seg-00000009.parquet"), &orphan, "test rows").unwrap();
        std::fs::write(dir.join("seg-00000010.parquet.tmp"), b"partial").unwrap();
        assert_eq!(recover(&dir, &dir).unwrap(), 1);
        let mut store = TrackStore::open(&dir, dir.clone(), "a/b").unwrap();
        let all = store.read_range(f64::NEG_INFINITY, f64::INFINITY).unwrap();
        assert_eq!(all.timestamps(), &[1.0, 2.0, 3.0, 5.0]);
        let x = all.columns().iter().find(|c| &*c.name == "x").unwrap();
        assert_eq!(
            x.get(3),
            Some(Value::F64(5.0)),
            "an unlisted segment never overrides listed rows"
        );
        assert!(!dir.join("seg-00000009.parquet").exists());
        assert!(!dir.join("seg-00000010.parquet.tmp").exists());
        store.seal(table(&[(7.0, "x", 7.0)])).unwrap();

        let reopened = TrackStore::open(&dir, dir.clone(), "a/b").unwrap();
        assert_eq!(reopened.segments(), store.segments());
        assert_eq!(
            TrackStore::open(&dir, dir.clone(), "a_b").unwrap_err().code(),
            "ERR_DASH_TOPIC_COLLISION"
        );
        let files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        let listed = reopened.segments().len();
        assert_eq!(
            files.len(),
            listed + 1,
            "the listed segments and the metadata, no leftovers: {files:?}"
        );
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn many_small_seals_are_compacted_to_a_bounded_count_and_late_rows_touch_little() {
        let dir = std::env::temp_dir().join(format!("dash-store-compact-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut store = TrackStore::open(&dir, dir.clone(), "t").unwrap();
        let mut most = 0;
        for i in 0..1500 {
            store.seal(table(&[(f64::from(i), "x", f64::from(i))])).unwrap();
            while let Some(staged) = store.stage_compaction().unwrap() {
                let (listed, result) = commit(&dir, std::slice::from_ref(&staged));
                result.unwrap();
                assert_eq!(listed, 1);
                store.apply(staged);
            }
            most = most.max(store.segments().len());
        }
        assert!(most <= 30, "{most} segments at most");
        assert_eq!(store.total_rows(), 1500);
        let all = store.read_range(f64::NEG_INFINITY, f64::INFINITY).unwrap();
        assert_eq!(
            all.timestamps(),
            (0..1500).map(f64::from).collect::<Vec<_>>().as_slice()
        );
        let on_disk = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(
            on_disk,
            store.segments().len() + 1,
            "only listed segments and the metadata"
        );

        // A late row at a new timestamp is a segment of its own; one at a held timestamp rewrites
        // only the segment holding it.
        let before: Vec<String> = store.segments().iter().map(|s| s.file.clone()).collect();
        store.seal(table(&[(10.5, "x", -1.0)])).unwrap();
        let after: Vec<String> = store.segments().iter().map(|s| s.file.clone()).collect();
        assert!(before.iter().all(|f| after.contains(f)), "nothing rewritten");
        store.seal(table(&[(10.0, "y", 7.0)])).unwrap();
        let last: Vec<String> = store.segments().iter().map(|s| s.file.clone()).collect();
        assert_eq!(
            after.iter().filter(|f| !last.contains(f)).count(),
            1,
            "one segment rewritten"
        );
        let rows = store.read_range(10.0, 10.5).unwrap();
        assert_eq!(rows.timestamps(), &[10.0, 10.5]);
        let y = rows.columns().iter().find(|c| &*c.name == "y").unwrap();
        assert_eq!(y.get(0), Some(Value::F64(7.0)));
        std::fs::remove_dir_all(dir).ok();
    }
}
