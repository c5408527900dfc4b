//! The ml-dash SDK's other records, in its own layout and shapes:
//! - `logs/logs.jsonl`: `{"sequenceNumber", "timestamp", "level", "message", "metadata"?}`;
//! - `metrics/<name>/data.jsonl`: `{"index", "data", "createdAt"}` plus `metadata.json`
//!   (`metricId`, `name`, `totalDataPoints`, `nextIndex`, …);
//! - `parameters.json`: `{"version", "data": {flattened}, "createdAt", "updatedAt"}`.
//!
//! Log lines and metric points are buffered by the writer thread and appended (with fsync) when it
//! seals (flush, interval, size, close); parameters are written at once.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashSet};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value as Json};

use crate::error::{IngestError, Result};
use crate::{storage::fsx, storage::jsonl, storage::paths, time};

/// Appends `text` to `path` (inside the experiment directory `root`) and fsyncs it.
fn append_durably(root: &Path, path: &Path, text: &str, lost: &str) -> Result<()> {
    let mut file = fsx::open_within(root, path, OpenOptions::new().create(true).append(true), lost)?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| IngestError::io(path, lost, e))
}

/// What a JSON lines file holds once [`repair_jsonl`] made it safe to append to.
struct Repaired {
    /// Complete lines that parse.
    lines: u64,
    /// The largest value of the numbering field (`index`, `sequenceNumber`) among them.
    max_number: Option<u64>,
}

impl Repaired {
    /// The number the next line gets: after the largest one, and never reusing a line's place.
    fn next_number(&self) -> u64 {
        self.max_number.map_or(self.lines, |n| (n + 1).max(self.lines))
    }
}

/// Makes the JSON lines file `path` safe to append to after a crash, and counts it. A write cut
/// short leaves a last line without its newline, and a power loss can leave a tail that does not
/// parse: both are removed (they were never acknowledged; acknowledged lines were fsynced whole),
/// so the next line starts on a line of its own. A line that does not parse followed by lines that
/// do is kept: it is not a tail, and data is never thrown away. Only for the lock holder.
fn repair_jsonl(root: &Path, path: &Path, numbering: &str) -> Result<Repaired> {
    let bytes = match fsx::read_within(root, path) {
        Ok(bytes) => bytes,
        Err(e) if e.is_not_found() => {
            return Ok(Repaired {
                lines: 0,
                max_number: None,
            })
        }
        Err(e) => return Err(e),
    };
    let mut repaired = Repaired {
        lines: 0,
        max_number: None,
    };
    let mut keep = 0;
    let mut offset = 0;
    for line in bytes.split_inclusive(|b| *b == b'\n') {
        offset += line.len();
        if !line.ends_with(b"\n") {
            break;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            keep = offset;
            continue;
        }
        let Some(parsed) = std::str::from_utf8(line).ok().and_then(jsonl::parse_line) else {
            continue;
        };
        keep = offset;
        repaired.lines += 1;
        if let Some(number) = parsed.get(numbering).and_then(Json::as_u64) {
            repaired.max_number = Some(repaired.max_number.map_or(number, |m| m.max(number)));
        }
    }
    if keep < bytes.len() {
        let file = fsx::open_within(
            root,
            path,
            OpenOptions::new().write(true),
            "nothing (repairing a torn tail)",
        )?;
        file.set_len(keep as u64)
            .and_then(|()| file.sync_all())
            .map_err(|e| IngestError::io(path, "nothing (repairing a torn tail)", e))?;
    }
    Ok(repaired)
}

/// The lines a file holds, by content, for writes a client may send twice (a server's client that
/// retries after a lost answer): such a write (`once`) of a line already held is not stored again.
/// Built from the file at its first use, then kept up to date with the lines buffered since; the
/// lines of a write that fails are forgotten again, so their retry stores them.
#[derive(Default)]
struct Seen {
    keys: Option<HashSet<String>>,
    /// Keys of the lines buffered and not yet written.
    pending: Vec<String>,
}

impl Seen {
    /// Whether `key` is new (and notes it), reading the keys of `path` first if not yet done;
    /// `key_of` gives a stored line's key.
    fn insert(
        &mut self,
        root: &Path,
        path: &Path,
        key: String,
        key_of: impl Fn(Map<String, Json>) -> Option<String>,
    ) -> Result<bool> {
        let keys = match self.keys.take() {
            Some(keys) => keys,
            None => {
                let bytes = match fsx::read_within(root, path) {
                    Ok(bytes) => bytes,
                    Err(e) if e.is_not_found() => Vec::new(),
                    Err(e) => return Err(e),
                };
                String::from_utf8_lossy(&bytes)
                    .lines()
                    .filter_map(jsonl::parse_line)
                    .filter_map(|line| match line {
                        Json::Object(fields) => key_of(fields),
                        _ => None,
                    })
                    .collect()
            }
        };
        let keys = self.keys.insert(keys);
        let new = keys.insert(key.clone());
        if new {
            self.pending.push(key);
        }
        Ok(new)
    }

    /// After the buffered lines were written (`ok`) or lost.
    fn sealed(&mut self, ok: bool) {
        let pending = std::mem::take(&mut self.pending);
        if let (false, Some(keys)) = (ok, self.keys.as_mut()) {
            for key in pending {
                keys.remove(&key);
            }
        }
    }
}

/// A log line's content key: everything but its sequence number.
fn log_key(mut fields: Map<String, Json>) -> Option<String> {
    fields.remove("sequenceNumber");
    Some(canonical(&Json::Object(fields)))
}

/// A metric point's content key: its `data`, as parsed (non-finite numbers quoted).
fn point_key(fields: Map<String, Json>) -> Option<String> {
    fields.get("data").map(canonical)
}

/// Text of `value` with every object's keys sorted: equal content is an equal key, in whatever
/// order a client wrote its keys.
fn canonical(value: &Json) -> String {
    let mut sorted = value.clone();
    sorted.sort_all_objects();
    sorted.to_string()
}

/// Buffered log lines of one experiment.
pub struct Logs {
    /// Whether the last append failed, maybe half-way: the file's tail needs a repair first.
    torn: bool,
    root: PathBuf,
    path: PathBuf,
    next_sequence: Option<u64>,
    pending: String,
    pending_lines: u64,
    seen: Seen,
}

impl Logs {
    pub fn new(experiment_dir: &Path) -> Logs {
        Logs {
            torn: false,
            root: experiment_dir.to_path_buf(),
            path: experiment_dir.join("logs").join("logs.jsonl"),
            next_sequence: None,
            pending: String::new(),
            pending_lines: 0,
            seen: Seen::default(),
        }
    }

    /// Buffers one line; `metadata` is JSON text (an object) or `None`. With `once`, a line equal
    /// in everything but its sequence number to one the log holds is not added again (see
    /// `Seen`).
    pub fn add(
        &mut self,
        timestamp: &str,
        level: &str,
        message: &str,
        metadata: Option<&str>,
        once: bool,
    ) -> Result<()> {
        // A marked tree (`jsonl::marked`), as the stored lines `Seen` compares it with are read.
        let mut record = Map::new();
        record.insert("timestamp".into(), jsonl::marked(timestamp));
        record.insert("level".into(), jsonl::marked(level));
        record.insert("message".into(), jsonl::marked(message));
        if let Some(text) = metadata {
            let parsed: Json = jsonl::parse_marked(text).map_err(|e| IngestError::NotJsonObject {
                what: "log metadata",
                reason: e.to_string(),
            })?;
            // As the SDK (`if metadata:`): empty metadata is no metadata.
            if parsed.as_object().is_none_or(|m| !m.is_empty()) {
                record.insert("metadata".into(), parsed);
            }
        }
        // The record has no sequence number yet: its text is the key its stored line reads back
        // as (strict JSON, so reading it back changes nothing).
        if once
            && !self.seen.insert(
                &self.root,
                &self.path,
                canonical(&Json::Object(record.clone())),
                log_key,
            )?
        {
            return Ok(());
        }
        let sequence = match self.next_sequence {
            Some(n) => n,
            // Sequence numbers continue those of earlier runs (ours, or the SDK's counter), after
            // repairing a crash's tail.
            None => repair_jsonl(&self.root, &self.path, "sequenceNumber")?
                .next_number()
                .max(self.stored_sequence()),
        };
        self.next_sequence = Some(sequence + 1);
        // The SDK's line: its key order, Python's formatting.
        let mut line = Map::new();
        line.insert("sequenceNumber".into(), json!(sequence));
        line.extend(record);
        self.pending.push_str(&jsonl::python_json_marked(&Json::Object(line)));
        self.pending.push('\n');
        self.pending_lines += 1;
        Ok(())
    }

    /// The SDK's counter file: the sequence number of the next line, as text.
    fn sequence_path(&self) -> PathBuf {
        self.path.with_file_name(".log_sequence")
    }

    /// The next sequence number the SDK's counter file holds (0 without one).
    fn stored_sequence(&self) -> u64 {
        fsx::read_within(&self.root, &self.sequence_path())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Keeps the SDK's counter file current, so the SDK continuing this log numbers on from it.
    fn store_sequence(&self) -> Result<()> {
        let next = self.next_sequence.unwrap_or(0).to_string();
        fsx::write_atomic(
            &self.root,
            &self.sequence_path(),
            next.as_bytes(),
            "the log's sequence counter",
        )
    }

    /// Appends the buffered lines to `logs.jsonl`. On failure they are lost (the error says so),
    /// and the next append first repairs what a partial write may have left.
    pub fn seal(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let lost = format!("{} log lines", self.pending_lines);
        let result = match self.torn {
            true => repair_jsonl(&self.root, &self.path, "sequenceNumber").map(|_| ()),
            false => Ok(()),
        }
        .and_then(|()| append_durably(&self.root, &self.path, &self.pending, &lost));
        if result.is_ok() {
            // Best effort: the lines are durable whatever happens to the counter, which only the
            // SDK reads (this engine numbers on from the lines themselves), and the next seal
            // writes it again.
            let _ = self.store_sequence();
        }
        self.torn = result.is_err();
        self.seen.sealed(result.is_ok());
        self.pending.clear();
        self.pending_lines = 0;
        result
    }
}

/// Buffered points of one metric.
struct Metric {
    dir: PathBuf,
    name: String,
    meta: Map<String, Json>,
    pending: String,
    pending_points: u64,
    /// Whether the last append failed, maybe half-way: the file's tail needs a repair first.
    torn: bool,
    seen: Seen,
}

impl Metric {
    fn seal(&mut self, root: &Path) -> Result<()> {
        let lost = format!("{} points of metric {:?}", self.pending_points, self.name);
        let data = self.dir.join("data.jsonl");
        let mut total = self.meta.get("totalDataPoints").and_then(Json::as_u64).unwrap_or(0);
        if self.torn {
            total = repair_jsonl(root, &data, "index")?.lines;
        }
        append_durably(root, &data, &self.pending, &lost)?;
        self.meta
            .insert("totalDataPoints".into(), json!(total + self.pending_points));
        self.meta.insert("updatedAt".into(), json!(time::utc_now_iso()));
        let text = jsonl::python_json(&Json::Object(self.meta.clone()));
        fsx::write_atomic(root, &self.dir.join("metadata.json"), text.as_bytes(), &lost)
    }
}

/// The metrics of one experiment.
pub struct Metrics {
    root: PathBuf,
    dir: PathBuf,
    open: BTreeMap<String, Metric>,
}

impl Metrics {
    pub fn new(experiment_dir: &Path) -> Metrics {
        Metrics {
            root: experiment_dir.to_path_buf(),
            dir: experiment_dir.join("metrics"),
            open: BTreeMap::new(),
        }
    }

    fn metric(&mut self, name: &str) -> Result<&mut Metric> {
        let slot = match self.open.entry(name.to_string()) {
            Entry::Occupied(open) => return Ok(open.into_mut()),
            Entry::Vacant(slot) => slot,
        };
        paths::metric_name(name)?;
        let dir = self.dir.join(name);
        let mut meta = match fsx::read_json(&dir.join("metadata.json"))? {
            Some(Json::Object(meta)) => meta,
            _ => {
                let now = time::utc_now_iso();
                let mut meta = Map::new();
                meta.insert("metricId".into(), json!(format!("local-metric-{name}")));
                meta.insert("name".into(), json!(name));
                meta.insert("description".into(), Json::Null);
                meta.insert("tags".into(), json!([]));
                meta.insert("metadata".into(), Json::Null);
                meta.insert("totalDataPoints".into(), json!(0));
                meta.insert("nextIndex".into(), json!(0));
                meta.insert("createdAt".into(), json!(now));
                meta.insert("updatedAt".into(), json!(now));
                meta
            }
        };
        // The file, not the metadata, says what is there: a crash between appending points and
        // rewriting the metadata leaves the metadata behind.
        let repaired = repair_jsonl(&self.root, &dir.join("data.jsonl"), "index")?;
        meta.insert("totalDataPoints".into(), json!(repaired.lines));
        meta.insert("nextIndex".into(), json!(repaired.next_number()));
        let metric = Metric {
            dir,
            name: name.to_string(),
            meta,
            pending: String::new(),
            pending_points: 0,
            torn: false,
            seen: Seen::default(),
        };
        Ok(slot.insert(metric))
    }

    /// Buffers one point; `data` is JSON text (an object, Python-compatible). With `once`, a point
    /// whose data equals one the metric holds is not added again (see `Seen`).
    pub fn add(&mut self, name: &str, data: &str, once: bool) -> Result<()> {
        let root = self.root.clone();
        let metric = self.metric(name)?;
        if once {
            let key = jsonl::parse_line(&format!("{{\"data\": {data}}}")).and_then(|line| match line {
                Json::Object(fields) => point_key(fields),
                _ => None,
            });
            if let Some(key) = key {
                let path = metric.dir.join("data.jsonl");
                if !metric.seen.insert(&root, &path, key, point_key)? {
                    return Ok(());
                }
            }
        }
        let index = metric.meta.get("nextIndex").and_then(Json::as_u64).unwrap_or(0);
        metric.pending.push_str(&format!(
            "{{\"index\": {index}, \"data\": {data}, \"createdAt\": {}}}\n",
            json!(time::utc_now_iso())
        ));
        metric.pending_points += 1;
        metric.meta.insert("nextIndex".into(), json!(index + 1));
        Ok(())
    }

    /// Appends every metric's buffered points and rewrites its metadata; returns the first
    /// failure. Points that fail to be appended are lost (the error says so); the metric's next
    /// append first repairs what a partial write may have left, and recounts the file.
    pub fn seal(&mut self) -> Result<()> {
        let mut first_error = None;
        for metric in self.open.values_mut() {
            if metric.pending.is_empty() {
                continue;
            }
            let result = metric.seal(&self.root);
            metric.torn = result.is_err();
            metric.seen.sealed(result.is_ok());
            metric.pending.clear();
            metric.pending_points = 0;
            if let Err(error) = result {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Points `start..start + limit` of a metric (sealed first), as the SDK's read returns them:
    /// `{"data": [...], "startIndex", "endIndex", "total", "hasMore"}`, as JSON lines' raw text per
    /// point so non-finite floats survive (`points`).
    pub fn read(&mut self, name: &str, start: usize, limit: usize) -> Result<(Vec<String>, u64)> {
        self.seal()?;
        paths::metric_name(name)?;
        let dir = self.dir.join(name);
        let text = match std::fs::read_to_string(dir.join("data.jsonl")) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
            Err(e) => return Err(IngestError::io(dir.join("data.jsonl"), "nothing (reading)", e)),
        };
        let path = dir.join("data.jsonl");
        // A last line without its newline is being appended by a writer (or was cut short by a
        // crash, and the next writer removes it): not a point yet.
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        let lines: Vec<&str> = complete.lines().filter(|l| !l.trim().is_empty()).collect();
        let total = lines.len() as u64;
        let mut points = Vec::new();
        for (number, line) in lines.into_iter().enumerate().skip(start).take(limit) {
            if jsonl::parse_line(line).is_none() {
                return Err(IngestError::corrupt(
                    &path,
                    format!("line {} is not a JSON object", number + 1),
                ));
            }
            points.push(line.to_string());
        }
        Ok((points, total))
    }
}

/// Merges flattened `data` (a JSON object's text) into `parameters.json`, incrementing `version`.
/// Returns the merged data.
pub fn set_parameters(experiment_dir: &Path, data: &str) -> Result<Map<String, Json>> {
    let Json::Object(update) = jsonl::parse_marked(data).map_err(|e| IngestError::NotJsonObject {
        what: "parameters",
        reason: e.to_string(),
    })?
    else {
        return Err(IngestError::NotJsonObject {
            what: "parameters",
            reason: "another JSON value".into(),
        });
    };
    if update.is_empty() {
        // As the SDK: setting nothing (`set({})`, `set({ model: {} })`) writes nothing.
        return parameters(experiment_dir);
    }
    let path = experiment_dir.join("parameters.json");
    let now = time::utc_now_iso();
    let mut old = parameters_file(experiment_dir)?;
    let version = old.get("version").and_then(Json::as_u64).unwrap_or(0) + 1;
    let mut merged = match old.remove("data") {
        Some(Json::Object(data)) => data,
        _ => Map::new(),
    };
    // As a Python dict's update: keys already there keep their place, new ones come last.
    merged.extend(update);
    // The SDK's key order. (Unlike the SDK, later versions keep `createdAt`.)
    let mut doc = Map::new();
    doc.insert("version".into(), json!(version));
    doc.insert("data".into(), Json::Object(merged.clone()));
    doc.insert(
        "createdAt".into(),
        old.remove("createdAt").unwrap_or_else(|| json!(now)),
    );
    doc.insert("updatedAt".into(), json!(now));
    fsx::write_atomic(
        experiment_dir,
        &path,
        jsonl::python_json_marked(&Json::Object(doc)).as_bytes(),
        "parameters",
    )?;
    Ok(merged)
}

/// `parameters.json` as a marked tree (the SDK writes `NaN` there as Python does); `{}` if none.
fn parameters_file(experiment_dir: &Path) -> Result<Map<String, Json>> {
    let path = experiment_dir.join("parameters.json");
    let bytes = match fsx::read_within(experiment_dir, &path) {
        Ok(bytes) => bytes,
        Err(e) if e.is_not_found() => return Ok(Map::new()),
        Err(e) => return Err(e),
    };
    match jsonl::parse_marked(&String::from_utf8_lossy(&bytes)) {
        Ok(Json::Object(doc)) => Ok(doc),
        Ok(_) => Err(IngestError::corrupt(&path, "not a JSON object")),
        Err(e) => Err(IngestError::corrupt(&path, e)),
    }
}

/// The flattened parameters (`{}` if none were set), a marked tree (see `jsonl::marked`).
pub fn parameters(experiment_dir: &Path) -> Result<Map<String, Json>> {
    Ok(match parameters_file(experiment_dir)?.remove("data") {
        Some(Json::Object(data)) => data,
        _ => Map::new(),
    })
}

/// The flattened parameters as JSON text with Python's non-finite literals (`{}` if none).
pub fn parameters_text(experiment_dir: &Path) -> Result<String> {
    Ok(jsonl::python_json_marked(&Json::Object(parameters(experiment_dir)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_metrics_and_parameters_in_the_sdk_layout() {
        let dir = std::env::temp_dir().join(format!("dash-records-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut logs = Logs::new(&dir);
        logs.add("2026-01-01T00:00:00Z", "info", "hello", None, false).unwrap();
        logs.add("2026-01-01T00:00:01Z", "warn", "careful", Some("{\"k\":1}"), false)
            .unwrap();
        logs.seal().unwrap();
        let mut again = Logs::new(&dir);
        again
            .add("2026-01-01T00:00:02Z", "error", "third", None, false)
            .unwrap();
        again.seal().unwrap();
        let text = std::fs::read_to_string(dir.join("logs/logs.jsonl")).unwrap();
        let lines: Vec<Json> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines[1]["metadata"]["k"], 1);
        assert_eq!(lines[2]["sequenceNumber"], 2);

        let mut metrics = Metrics::new(&dir);
        metrics.add("train", "{\"loss\": NaN, \"_ts\": 1.5}", false).unwrap();
        metrics.add("train", "{\"loss\": 0.25, \"_ts\": 2.5}", false).unwrap();
        let (points, total) = metrics.read("train", 1, 10).unwrap();
        assert_eq!(total, 2);
        assert!(points[0].starts_with("{\"index\": 1, \"data\": {\"loss\": 0.25"));
        let meta = fsx::read_json(&dir.join("metrics/train/metadata.json"))
            .unwrap()
            .unwrap();
        assert_eq!(
            (meta["totalDataPoints"].as_u64(), meta["nextIndex"].as_u64()),
            (Some(2), Some(2))
        );
        assert!(metrics.add("../x", "{}", false).is_err());

        set_parameters(&dir, "{\"lr\": 0.1, \"model.layers\": 3}").unwrap();
        let merged = set_parameters(&dir, "{\"lr\": 0.01}").unwrap();
        assert_eq!(Json::Object(merged), json!({"lr": 0.01, "model.layers": 3}));
        let doc = fsx::read_json(&dir.join("parameters.json")).unwrap().unwrap();
        assert_eq!(doc["version"], 2);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_write_sent_again_is_stored_once() {
        let dir = std::env::temp_dir().join(format!("dash-records-once-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut first = Logs::new(&dir);
        first
            .add("2026-01-01T00:00:00.5Z", "info", "a", Some("{\"k\": 1.5}"), true)
            .unwrap();
        first
            .add("2026-01-01T00:00:00.5Z", "info", "a", Some("{\"k\": 1.5}"), true)
            .unwrap();
        first.seal().unwrap();
        // A new engine (a restarted server) gets the same batch again, plus one new line.
        let mut again = Logs::new(&dir);
        again
            .add("2026-01-01T00:00:00.5Z", "info", "a", Some("{\"k\":1.5}"), true)
            .unwrap();
        again
            .add("2026-01-01T00:00:01Z", "info", "a", Some("{\"k\": 1.5}"), true)
            .unwrap();
        // Without `once` (the local API), every call is a line.
        again
            .add("2026-01-01T00:00:01Z", "info", "a", Some("{\"k\": 1.5}"), false)
            .unwrap();
        again.seal().unwrap();
        let text = std::fs::read_to_string(dir.join("logs/logs.jsonl")).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");

        let mut metrics = Metrics::new(&dir);
        metrics.add("m", "{\"x\": NaN, \"_ts\": 1.25}", true).unwrap();
        metrics.add("m", "{\"x\": 2, \"_ts\": 1.5}", true).unwrap();
        metrics.seal().unwrap();
        let mut metrics = Metrics::new(&dir);
        metrics.add("m", "{\"_ts\": 1.25, \"x\": NaN}", true).unwrap();
        metrics.add("m", "{\"x\": 2, \"_ts\": 1.5}", true).unwrap();
        metrics.add("m", "{\"x\": 3, \"_ts\": 1.5}", true).unwrap();
        let (_, total) = metrics.read("m", 0, 10).unwrap();
        assert_eq!(total, 3);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_crash_tail_is_repaired_and_numbering_continues_from_the_file() {
        let dir = std::env::temp_dir().join(format!("dash-records-crash-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut logs = Logs::new(&dir);
        for n in 0..3 {
            logs.add("2026-01-01T00:00:00Z", "info", &format!("line {n}"), None, false)
                .unwrap();
        }
        logs.seal().unwrap();
        let log_path = dir.join("logs/logs.jsonl");
        let mut file = OpenOptions::new().append(true).open(&log_path).unwrap();
        file.write_all(b"{\"sequenceNumber\": 3, \"timest").unwrap();
        let mut again = Logs::new(&dir);
        again
            .add("2026-01-01T00:00:01Z", "info", "after the crash", None, false)
            .unwrap();
        again.seal().unwrap();
        let text = std::fs::read_to_string(&log_path).unwrap();
        let numbers: Vec<u64> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<Json>(l).unwrap()["sequenceNumber"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert_eq!(numbers, [0, 1, 2, 3]);

        // Points appended, metadata not rewritten, and a power loss's zeros at the end.
        let mut metrics = Metrics::new(&dir);
        metrics.add("m", "{\"v\": 1}", false).unwrap();
        metrics.seal().unwrap();
        let data = dir.join("metrics/m/data.jsonl");
        let mut file = OpenOptions::new().append(true).open(&data).unwrap();
        file.write_all(b"{\"index\": 1, \"data\": {\"v\": 2}, \"createdAt\": \"x\"}\n")
            .unwrap();
        file.write_all(b"{\"index\": 2, \"data\": {\"v\": 3}, \"createdAt\": \"x\"}\n\0\0\0\n\0\0")
            .unwrap();
        let (points, total) = Metrics::new(&dir).read("m", 0, 3).unwrap();
        assert_eq!((points.len(), total), (3, 4), "the unterminated tail is not a point");
        let mut metrics = Metrics::new(&dir);
        assert_eq!(
            metrics.read("m", 3, 10).unwrap_err().code(),
            "ERR_DASH_CORRUPT",
            "a reader meets the zeros before the writer repairs them"
        );
        metrics.add("m", "{\"v\": 4}", false).unwrap();
        metrics.seal().unwrap();
        let (points, total) = metrics.read("m", 0, 10).unwrap();
        assert_eq!(total, 4);
        let indexes: Vec<u64> = points
            .iter()
            .map(|l| serde_json::from_str::<Json>(l).unwrap()["index"].as_u64().unwrap())
            .collect();
        assert_eq!(indexes, [0, 1, 2, 3]);
        let meta = fsx::read_json(&dir.join("metrics/m/metadata.json")).unwrap().unwrap();
        assert_eq!(
            (meta["totalDataPoints"].as_u64(), meta["nextIndex"].as_u64()),
            (Some(4), Some(4))
        );
        std::fs::remove_dir_all(dir).ok();
    }
}
