//! What an ML-Dash server is sent for an experiment's local data: the request bodies of the
//! remote contract (tracks' `append_batch`, logs, metrics' `append-batch`), built from the
//! experiment directory. The uploader of remote mode (`dashUrl`) and `dash-ingest push` send them.
//!
//! Like every reader this runs without the experiment's lock while an engine may write: it takes
//! what is durable (listed segments, newline-terminated lines), and a segment replaced meanwhile
//! is reported as not found, for the caller to list again. It never follows a symbolic link out of
//! the experiment directory.

use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json};

use crate::error::{IngestError, Result};
use crate::sdk::inventory::subdirectories;
use crate::storage::track_store::{self, TrackStore};
use crate::storage::{fsx, jsonl, paths, segment};

/// One track as the uploader sees it: its sealed segments, each immutable under its name (a
/// rewrite or a compaction writes a new file under a new name).
#[derive(Debug, Clone, PartialEq)]
pub struct TrackSegments {
    pub topic: String,
    /// The track's directory name under `tracks/`.
    pub dir_name: String,
    /// Every listed segment.
    pub segments: Vec<Segment>,
}

/// A segment as the uploader sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub file: String,
    pub rows: u64,
    /// The segments compaction merged into this one (their rows, exactly), if it made it.
    pub compacted_from: Vec<String>,
}

/// Every track of the experiment in `dir` with its segments.
pub fn track_segments(dir: &Path) -> Result<Vec<TrackSegments>> {
    let mut tracks = Vec::new();
    for (track_dir, topic) in track_store::track_dirs(&dir.join("tracks"))? {
        let dir_name = track_dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let store = TrackStore::open(dir, track_dir, &topic)?;
        let segments = (store.segments().iter())
            .map(|s| Segment {
                file: s.file.clone(),
                rows: s.rows,
                compacted_from: s.compacted_from.clone(),
            })
            .collect();
        tracks.push(TrackSegments {
            topic,
            dir_name,
            segments,
        });
    }
    Ok(tracks)
}

/// A single path component: a name read back from the caller is trusted no further.
fn component<'a>(what: &'static str, name: &'a str) -> Result<&'a str> {
    paths::check_relative(what, name)?;
    if name.contains('/') {
        return Err(IngestError::InvalidName {
            what,
            name: name.into(),
            reason: "must be a single path component",
        });
    }
    Ok(name)
}

/// The rows of segment `file` of the track in `tracks/<dir_name>`, as `append_batch` bodies of
/// at most `max_rows` entries each, with their entry counts. `NotFound` if the segment was
/// replaced since it was listed.
pub fn track_bodies(dir: &Path, dir_name: &str, file: &str, max_rows: usize) -> Result<Vec<(String, usize)>> {
    let path = dir
        .join("tracks")
        .join(component("track directory", dir_name)?)
        .join(component("segment", file)?);
    fsx::check_within(dir, path.parent().unwrap_or(dir))?;
    let table = segment::read(&path)?;
    let step = max_rows.max(1);
    Ok((0..table.len())
        .step_by(step)
        .map(|start| {
            let end = (start + step).min(table.len());
            (jsonl::entries_body(&table, start..end), end - start)
        })
        .collect())
}

/// Which JSON lines file of the experiment a [`RecordBatch`] comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Records {
    /// `logs/logs.jsonl`, sent as `{"logs":[{timestamp, level, message, metadata?}]}`.
    Logs,
    /// `metrics/<name>/data.jsonl`, sent as `{"dataPoints":[data…]}`.
    Metric(String),
}

impl Records {
    fn path(&self, dir: &Path) -> Result<PathBuf> {
        Ok(match self {
            Records::Logs => dir.join("logs").join("logs.jsonl"),
            Records::Metric(name) => {
                paths::metric_name(name)?;
                dir.join("metrics").join(name).join("data.jsonl")
            }
        })
    }

    /// The request item for one stored line, `None` for a line that is not one of ours.
    fn item(&self, line: &Json) -> Option<Json> {
        match self {
            Records::Logs => {
                let mut item = Map::new();
                for key in ["timestamp", "level", "message"] {
                    item.insert(key.into(), line.get(key).filter(|v| v.is_string())?.clone());
                }
                if let Some(metadata) = line.get("metadata").filter(|m| m.is_object()) {
                    item.insert("metadata".into(), metadata.clone());
                }
                Some(Json::Object(item))
            }
            Records::Metric(_) => line.get("data").filter(|d| d.is_object()).cloned(),
        }
    }

    fn envelope(&self) -> &'static str {
        match self {
            Records::Logs => "logs",
            Records::Metric(_) => "dataPoints",
        }
    }
}

/// Up to `max_lines` lines of a records file from byte `offset`, as one request body.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordBatch {
    /// `None` when no complete line follows `offset`.
    pub body: Option<String>,
    /// Where the next batch starts: past the last complete line taken.
    pub next_offset: u64,
    /// Lines sent in `body`.
    pub lines: u32,
    /// Complete lines that are not records (a line a power loss garbled, kept by recovery because
    /// lines follow it): skipped, and counted so that they are reported, not lost silently.
    pub unreadable: u32,
}

/// Bytes of lines a batch takes at most (a batch always takes at least one line).
const MAX_BATCH_BYTES: usize = 4 << 20;

/// The next batch of `records` in the experiment `dir`, from byte `offset` of its file.
pub fn record_batch(dir: &Path, records: &Records, offset: u64, max_lines: u32) -> Result<RecordBatch> {
    let path = records.path(dir)?;
    let mut batch = RecordBatch {
        body: None,
        next_offset: offset,
        lines: 0,
        unreadable: 0,
    };
    let file = match fsx::open_within(dir, &path, std::fs::OpenOptions::new().read(true), "nothing (reading)") {
        Ok(file) => file,
        Err(e) if e.is_not_found() => return Ok(batch),
        Err(e) => return Err(e),
    };
    let mut reader = BufReader::new(file);
    reader
        .seek(SeekFrom::Start(offset))
        .map_err(|e| IngestError::io(&path, "nothing (reading)", e))?;
    let mut items = Vec::new();
    let mut line = Vec::new();
    let mut taken = 0;
    while batch.lines < max_lines.max(1) && (taken == 0 || taken < MAX_BATCH_BYTES) {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| IngestError::io(&path, "nothing (reading)", e))?;
        if read == 0 || line.last() != Some(&b'\n') {
            break; // the end, or a line a writer has not finished
        }
        taken += read;
        batch.next_offset += read as u64;
        let item = std::str::from_utf8(&line)
            .ok()
            .and_then(jsonl::parse_line)
            .and_then(|parsed| records.item(&parsed));
        match item {
            Some(item) => {
                items.push(item);
                batch.lines += 1;
            }
            None => batch.unreadable += 1,
        }
    }
    if !items.is_empty() {
        let mut body = Map::new();
        body.insert(records.envelope().into(), Json::Array(items));
        batch.body = Some(jsonl::wire_json_marked(&Json::Object(body)));
    }
    Ok(batch)
}

/// The names of the experiment's metrics (their directories under `metrics/`, nested for names
/// with `/`; the unnamed metric is `None`, as the SDK names it), sorted.
pub fn metric_names(dir: &Path) -> Result<Vec<String>> {
    let metrics = dir.join("metrics");
    let mut names = Vec::new();
    let mut pending = vec![metrics.clone()];
    while let Some(current) = pending.pop() {
        for path in subdirectories(&current)? {
            if path.join("data.jsonl").is_file() {
                let relative = path.strip_prefix(&metrics).unwrap_or(&path);
                names.push(relative.to_string_lossy().replace(std::path::MAIN_SEPARATOR, "/"));
            }
            pending.push(path);
        }
    }
    names.sort();
    Ok(names)
}

/// The body of the parameters request, `{"data":{flattened}}`, or `None` when none were set.
/// The server merges what it is sent, so the whole set is sent whenever it changed.
pub fn parameters_body(dir: &Path) -> Result<Option<String>> {
    let data = crate::sdk::records::parameters(dir)?;
    if data.is_empty() {
        return Ok(None);
    }
    let mut body = Map::new();
    body.insert("data".into(), Json::Object(data));
    Ok(Some(jsonl::wire_json_marked(&Json::Object(body))))
}

#[cfg(test)]
mod tests;
