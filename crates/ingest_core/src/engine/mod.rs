//! The engine of one experiment: the handle used by the producer (the JS thread), its
//! [`Committer`] (the hot path: batches into the bounded queue), and the one named writer thread
//! (`writer/`) it starts, which owns all track state.
//!
//! Contracts:
//! - Order: commands are handled in the order they were queued, so a flush or read sees every
//!   batch committed before it.
//! - Memory: queued batches are bounded by `max_queue_bytes` (their buffers are recycled within
//!   the same bound); unsealed rows of all tracks together by `max_unsealed_bytes`. When the queue
//!   is full, `commit` waits up to `backpressure_timeout`, then fails with `Backpressure` (nothing
//!   is dropped silently).
//! - Durability: unsealed rows are sealed on request, every `flush_interval`, by size, and at
//!   shutdown. A seal that fails loses those rows; the loss is counted in `Stats` and reported by
//!   the next flush or close. Before that, a writing engine logs every accepted batch to its
//!   write-ahead log ([`crate::durability::wal`]; its own thread writes it at once and fsyncs it every
//!   `sync_interval`; batches waiting for it are bounded by half of `max_queue_bytes`); the next
//!   engine to open the experiment after a crash replays and seals it.
//! - Shutdown: `close` seals everything; dropping the engine without `close` does the same with a
//!   bounded wait.

pub mod clock;
pub mod command;
mod committer;
pub(crate) mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Map, Value as Json};

use crate::config::EngineConfig;
use crate::durability::lock::lock;
use crate::durability::wal::{Wal, WalConfig};
use crate::engine::command::{Command, FileContent, Pending, ReadQuery, Reply, SaveFile};
pub use crate::engine::committer::Committer;
pub use crate::engine::writer::Recovery;
use crate::engine::writer::Writer;
use crate::error::{IngestError, Result};
use crate::ingest::json_batch;
use crate::ingest::wire::Shape;
use crate::merge::table::ColumnName;
use crate::queue::ByteQueue;
use crate::sdk::records;
use crate::stats::{BufferPool, Stats};
use crate::storage::track_store::{self, TrackSummary};
use crate::{sdk::experiment, storage::paths};

/// Every method takes `&self`: any interleaving of calls (a close while a flush is pending, a new
/// topic while a read runs) is safe, whoever holds the engine.
pub struct Engine {
    dir: PathBuf,
    config: EngineConfig,
    committer: Committer,
    stats: Arc<Stats>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// What has been defined; held while a definition is queued, so ids follow queue order.
    registry: Mutex<Registry>,
    closed: AtomicBool,
    recovery: Recovery,
}

#[derive(Default)]
struct Registry {
    /// Topic name → id, and track directory name → topic, to refuse `a/b` beside `a_b`.
    topics: HashMap<String, u32>,
    dirs: HashMap<String, String>,
    next_key: u32,
    next_shape: u32,
    /// Field name → key id, for entries the engine encodes itself (JS keeps its own cache).
    named_keys: HashMap<String, u32>,
}

impl Engine {
    /// Opens an experiment that must already exist (`NotFound` otherwise) for reading: no lock is
    /// taken, so it can be read while another engine writes it.
    pub fn open_existing(dash_root: &Path, prefix: &str, config: EngineConfig) -> Result<Engine> {
        let normalized = paths::experiment_prefix(prefix)?;
        let dir = dash_root.join(&normalized);
        if !dir.is_dir() {
            return Err(IngestError::NotFound {
                what: "experiment",
                name: format!("{normalized} (under {})", dash_root.display()),
            });
        }
        Engine::spawn(dir, None, config)
    }

    /// Opens (creating if needed) the experiment directory `<dash_root>/<prefix>` for writing:
    /// takes its lock (`Locked` if another engine holds it), repairs what a crash left behind
    /// (temporary files, unlisted segments, a write-ahead log to replay: see [`Engine::recovery`]),
    /// and starts the writer thread with a new log.
    pub fn start(dash_root: &Path, prefix: &str, config: EngineConfig) -> Result<Engine> {
        let prefix = paths::experiment_prefix(prefix)?;
        let dir = dash_root.join(&prefix);
        crate::storage::fsx::create_dir_within(dash_root, &dir)?;
        let lock = lock(&dir, "open it with Experiment.open to read")?;
        let recovery = Writer::recover(&dir, &config)?;
        let mut engine = Engine::spawn(dir, Some(lock), config)?;
        engine.recovery = recovery;
        Ok(engine)
    }

    /// Starts the writer thread; a writing engine (one holding the `lock`) also gets a new
    /// write-ahead log.
    fn spawn(dir: PathBuf, lock: Option<std::fs::File>, config: EngineConfig) -> Result<Engine> {
        let queue = Arc::new(ByteQueue::new(config.max_queue_bytes));
        let stats = Arc::new(Stats::default());
        let buffers = Arc::new(BufferPool::new(config.max_queue_bytes));
        let wal = match lock {
            Some(_) => {
                let wal_config = WalConfig {
                    sync_interval: config.sync_interval,
                    max_queue_bytes: config.max_queue_bytes / 2,
                    queue_timeout: config.backpressure_timeout,
                };
                Some(Wal::create(&dir, &wal_config, buffers.clone(), stats.clone())?)
            }
            None => None,
        };
        let writer = Writer::new(
            &dir,
            lock,
            buffers.clone(),
            queue.clone(),
            stats.clone(),
            config.clone(),
            wal,
        );
        let thread = std::thread::Builder::new()
            .name("dash-ingest-writer".into())
            .spawn(move || writer.run())
            .map_err(|source| IngestError::ThreadStart {
                thread: "writer",
                source,
            })?;
        Ok(Engine {
            dir: dir.clone(),
            committer: Committer {
                queue,
                stats: stats.clone(),
                buffers,
                backpressure_timeout: config.backpressure_timeout,
                overload: config.overload,
            },
            config,
            stats,
            thread: Mutex::new(Some(thread)),
            registry: Mutex::new(Registry::default()),
            closed: AtomicBool::new(false),
            recovery: Recovery::default(),
        })
    }

    /// What `start` replayed from the write-ahead log of an engine that stopped without closing.
    pub fn recovery(&self) -> Recovery {
        self.recovery
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    fn send(&self, command: Command, bytes: usize) -> Result<()> {
        self.committer.send(command, bytes)
    }

    /// A handle that commits batches to this engine, for callers that cannot hold the engine
    /// itself (the binding keeps one per engine so its hot path avoids a class-method call).
    pub fn committer(&self) -> Committer {
        self.committer.clone()
    }

    fn registry(&self) -> Result<std::sync::MutexGuard<'_, Registry>> {
        self.registry
            .lock()
            .map_err(|_| IngestError::internal("defining a name", "an earlier definition panicked"))
    }

    /// Registers a topic and returns its id (the same id for the same topic). Refuses invalid
    /// names and topics whose directory belongs to another topic, in this run or on disk.
    pub fn define_topic(&self, topic: &str) -> Result<u32> {
        let mut registry = self.registry()?;
        if let Some(id) = registry.topics.get(topic) {
            return Ok(*id);
        }
        let dir_name = paths::topic_dir(topic)?;
        let dir = self.dir.join("tracks").join(&dir_name);
        let collision = |existing: String| IngestError::TopicCollision {
            topic: topic.into(),
            existing,
            dir: dir_name.clone(),
        };
        if let Some(existing) = registry.dirs.get(&dir_name) {
            return Err(collision(existing.clone()));
        }
        if let Some(existing) = track_store::recorded_topic(&dir)?.filter(|t| t != topic) {
            return Err(collision(existing));
        }
        let id = u32::try_from(registry.topics.len()).map_err(|_| IngestError::UnknownId {
            what: "topic",
            id: u32::MAX,
        })?;
        self.send(
            Command::DefineTopic {
                id,
                topic: topic.into(),
                dir,
            },
            0,
        )?;
        registry.topics.insert(topic.into(), id);
        registry.dirs.insert(dir_name, topic.into());
        Ok(id)
    }

    /// Registers a (flattened) field name and returns its id. Ids are never reused.
    pub fn define_key(&self, name: &str) -> Result<u32> {
        let mut registry = self.registry()?;
        self.define_key_in(&mut registry, name)
    }

    fn define_key_in(&self, registry: &mut Registry, name: &str) -> Result<u32> {
        let id = registry.next_key;
        self.send(Command::DefineKey(ColumnName::from(name)), 0)?;
        registry.next_key += 1;
        Ok(id)
    }

    /// The key id of field `name` for entries the engine encodes itself: defined on first use,
    /// the same id after (so a server's requests do not grow the key table).
    fn named_key(&self, name: &str) -> Result<u32> {
        let mut registry = self.registry()?;
        if let Some(id) = registry.named_keys.get(name) {
            return Ok(*id);
        }
        let id = self.define_key_in(&mut registry, name)?;
        registry.named_keys.insert(name.to_string(), id);
        Ok(id)
    }

    /// Registers a shape (the key ids of a numeric entry, in order, and a slot code per key: a
    /// number or a typed array's element code, see [`Shape::from_codes`]) and returns its id.
    pub fn define_shape(&self, keys: &[u32], slots: &[u8]) -> Result<u32> {
        let mut registry = self.registry()?;
        if let Some(bad) = keys.iter().find(|k| **k >= registry.next_key) {
            return Err(IngestError::UnknownId { what: "key", id: *bad });
        }
        let shape = Shape::from_codes(keys, slots)?;
        let id = registry.next_shape;
        self.send(Command::DefineShape(shape), 0)?;
        registry.next_shape += 1;
        Ok(id)
    }

    /// See [`Committer::commit`].
    pub fn commit(&self, batch: &[u8], entries: u32, must_wait: bool) -> Result<()> {
        self.committer.commit(batch, entries, must_wait)
    }

    /// Commits the track entries of an ML-Dash `append_batch` body (see [`json_batch`]) to
    /// `topic`, waiting for queue room like a flush does; returns how many there were. A body
    /// that is refused commits nothing.
    pub fn commit_json_entries(&self, topic: u32, body: &[u8]) -> Result<u32> {
        let (batch, entries) = json_batch::encode_entries(body, topic, |name| self.named_key(name))?;
        self.commit(&batch, entries, true)?;
        Ok(entries)
    }

    /// Resolves when everything committed so far is safe from a crash of the process: written
    /// to the write-ahead log (at once, without sealing), or sealed where there is no working log
    /// (a reader, or after a log failure). Cheaper than [`Engine::flush`] for acknowledging writes.
    pub fn logged(&self) -> Result<Pending<()>> {
        self.request("log", Command::Logged)
    }

    /// Asks the writer to seal everything committed so far; the answer says whether all of it is
    /// durable (or what was lost since the last flush).
    pub fn flush(&self) -> Result<Pending<()>> {
        self.request("flush", Command::Flush)
    }

    /// Queues the command `make` builds around a reply channel; the answer comes through `Pending`.
    fn request<T>(&self, what: &'static str, make: impl FnOnce(Reply<T>) -> Command) -> Result<Pending<T>> {
        let (reply, receiver) = mpsc::sync_channel(1);
        self.send(make(reply), 0)?;
        Ok(Pending { receiver, what })
    }

    /// Asks for the rows of a topic matching `query`, sealed or not (read-your-writes).
    pub fn read(&self, topic: u32, query: ReadQuery) -> Result<Pending<Vec<u8>>> {
        self.request("read", |reply| Command::Read { topic, query, reply })
    }

    /// Seals everything, then summarizes every track on disk (this run's and earlier ones').
    pub fn list_tracks(&self) -> Result<Pending<Vec<TrackSummary>>> {
        self.request("list tracks", Command::ListTracks)
    }

    /// Seals everything, then writes the SDK's `data.jsonl` of every track, or only of `topic` (see
    /// [`crate::storage::track_store::TrackStore::export_ml_dash`]).
    pub fn export_ml_dash(&self, topic: Option<&str>) -> Result<Pending<()>> {
        let topic = topic.map(str::to_string);
        self.request("ml-dash export", |reply| Command::ExportMlDash { topic, reply })
    }

    /// Buffers a log line (`logs/logs.jsonl`); `metadata` is JSON object text. With `once` (a
    /// client's line that may arrive twice), a line equal to one the log holds is not added again.
    pub fn log(&self, timestamp: &str, level: &str, message: &str, metadata: Option<&str>, once: bool) -> Result<()> {
        let bytes = message.len() + metadata.map_or(0, str::len);
        let command = Command::Log {
            timestamp: timestamp.into(),
            level: level.into(),
            message: message.into(),
            metadata: metadata.map(str::to_string),
            once,
        };
        self.send(command, bytes)
    }

    /// Buffers a metric point (`metrics/<name>/data.jsonl`); `data` is JSON object text. With
    /// `once`, a point whose data equals one the metric holds is not added again.
    pub fn log_metric(&self, name: &str, data: &str, once: bool) -> Result<()> {
        paths::metric_name(name)?;
        let command = Command::Metric {
            name: name.into(),
            data: data.into(),
            once,
        };
        self.send(command, data.len())
    }

    /// Points `start..start + limit` of a metric (raw JSON lines) and its total, after sealing it.
    pub fn read_metric(&self, name: &str, start: usize, limit: usize) -> Result<Pending<(Vec<String>, u64)>> {
        paths::metric_name(name)?;
        let name = name.to_string();
        self.request("metric read", |reply| Command::ReadMetric {
            name,
            start,
            limit,
            reply,
        })
    }

    /// Merges flattened parameters (JSON object text, Python's non-finite literals allowed) into
    /// `parameters.json`; returns them all, as JSON text with Python's literals.
    pub fn set_parameters(&self, data: &str) -> Result<String> {
        let merged = records::set_parameters(&self.dir, data)?;
        Ok(crate::storage::jsonl::python_json_marked(&Json::Object(merged)))
    }

    /// The flattened parameters, as JSON text with Python's non-finite literals.
    pub fn parameters(&self) -> Result<String> {
        records::parameters_text(&self.dir)
    }

    /// Queues a file (an image is encoded on an encoder thread) and returns at once; names
    /// and image sizes are checked here, so what is queued can be written. A failure to write is
    /// reported by the next flush or close.
    pub fn save_file(&self, file: SaveFile) -> Result<()> {
        crate::sdk::files::target(&file.prefix, &file.filename)?;
        let bytes = match &file.content {
            FileContent::Bytes(bytes) => bytes.len(),
            FileContent::Image(image, format) => {
                image.validate(*format)?;
                image.pixels.len()
            }
        };
        self.send(Command::SaveFile(Box::new(file)), bytes)
    }

    /// The records of every file, after the saves queued before.
    pub fn list_files(&self) -> Result<Pending<Vec<Json>>> {
        self.request("list files", Command::ListFiles)
    }

    /// The bytes of file `<prefix>/<filename>`, after the saves queued before.
    pub fn read_file(&self, prefix: &str, filename: &str) -> Result<Pending<Vec<u8>>> {
        let (prefix, filename) = (prefix.to_string(), filename.to_string());
        self.request("read file", |reply| Command::ReadFile {
            prefix,
            filename,
            reply,
        })
    }

    /// Seals everything and stops the writer. Further calls fail with `Closed`.
    pub fn close(&self) -> Result<Pending<()>> {
        let (reply, receiver) = mpsc::sync_channel(1);
        // The last command: the queue refuses everything after it, from committers too.
        self.committer.send_last(Command::Shutdown(reply))?;
        self.closed.store(true, SeqCst);
        Ok(Pending {
            receiver,
            what: "close",
        })
    }

    /// `close` and wait for it, within the configured bound.
    pub fn close_and_wait(&self) -> Result<()> {
        let result = self.close()?.wait(self.config.close_timeout);
        if result.is_ok() {
            if let Some(thread) = self.thread.lock().ok().and_then(|mut t| t.take()) {
                let _ = thread.join();
            }
        }
        result
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(SeqCst)
    }

    pub fn close_timeout(&self) -> Duration {
        self.config.close_timeout
    }

    /// Merges `fields` into `experiment.json` (see [`experiment::update`]).
    pub fn update_experiment(
        &self,
        fields: Map<String, Json>,
        defaults: Map<String, Json>,
    ) -> Result<Map<String, Json>> {
        experiment::update(&self.dir, fields, defaults)
    }
}

impl Drop for Engine {
    /// Seals what is left with a bounded wait; never blocks forever, never panics.
    fn drop(&mut self) {
        if !self.is_closed() {
            let _ = self.close_and_wait();
        } else if let Some(thread) = self.thread.get_mut().ok().and_then(Option::take) {
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering::Relaxed;

    use super::*;
    use crate::engine::command::ReadFormat;
    use crate::ingest::wire;
    use crate::value::Value;

    /// A general wire entry with one numeric field.
    fn entry(out: &mut Vec<u8>, topic: u32, timestamp: f64, key: u32, value: f64) {
        out.extend_from_slice(&topic.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&timestamp.to_le_bytes());
        out.extend_from_slice(&key.to_le_bytes());
        wire::encode_value(out, &Value::F64(value));
        out.resize(out.len().div_ceil(8) * 8, 0);
    }

    #[test]
    fn unsealed_rows_stay_under_the_memory_bound_and_nothing_is_lost() {
        let _commits = clock::ACTIVITY_IN_TESTS
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let root = std::env::temp_dir().join(format!("dash-engine-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let config = EngineConfig {
            max_unsealed_bytes: 64 * 1024,
            ..EngineConfig::NEVER
        };
        let engine = Engine::start(&root, "p/bound", config).unwrap();
        let topics: Vec<u32> = ["a", "b", "c"]
            .iter()
            .map(|t| engine.define_topic(t).unwrap())
            .collect();
        let key = engine.define_key("v").unwrap();
        let mut committed = 0u64;
        for round in 0..50 {
            let mut batch = Vec::new();
            for i in 0..100 {
                let ts = f64::from(round * 100 + i);
                for topic in &topics {
                    entry(&mut batch, *topic, ts, key, ts);
                }
            }
            engine.commit(&batch, 300, false).unwrap();
            committed += 300;
        }
        engine.flush().unwrap().wait(Duration::from_secs(30)).unwrap();
        let stats = engine.stats();
        assert!(stats.seals_by_size.load(Relaxed) >= 3, "sealed by size: {stats:?}");
        assert_eq!(stats.entries_durable.load(Relaxed), committed);
        assert_eq!(stats.entries_lost.load(Relaxed), 0);
        let rows = engine
            .read(
                topics[1],
                ReadQuery {
                    start: f64::NEG_INFINITY,
                    end: f64::INFINITY,
                    columns: None,
                    format: ReadFormat::Parquet,
                    chart_width: None,
                },
            )
            .unwrap()
            .wait(Duration::from_secs(30))
            .unwrap();
        assert!(rows.starts_with(b"PAR1"));
        engine.close_and_wait().unwrap();
        assert_eq!(engine.commit(&[0; 8], 1, true).unwrap_err().code(), "ERR_DASH_CLOSED");
        let summaries = {
            let reopened = Engine::start(&root, "p/bound", EngineConfig::NEVER).unwrap();
            let list = reopened.list_tracks().unwrap().wait(Duration::from_secs(30)).unwrap();
            list.into_iter().map(|s| (s.topic, s.total_entries)).collect::<Vec<_>>()
        };
        assert_eq!(
            summaries,
            vec![("a".into(), 5000), ("b".into(), 5000), ("c".into(), 5000)]
        );
        std::fs::remove_dir_all(root).ok();
    }
    fn wait_until(what: &str, done: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !done() {
            assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn all_rows(engine: &Engine, topic: u32) -> Vec<u8> {
        let query = ReadQuery {
            start: f64::NEG_INFINITY,
            end: f64::INFINITY,
            columns: None,
            format: ReadFormat::JsonLines,
            chart_width: None,
        };
        engine
            .read(topic, query)
            .unwrap()
            .wait(Duration::from_secs(30))
            .unwrap()
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap().flatten() {
            if entry.path().is_dir() {
                copy_dir(&entry.path(), &to.join(entry.file_name()));
            } else {
                std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
            }
        }
    }

    /// Entries a server acknowledges once `logged` resolves are in the log at that moment: a
    /// crash right then (the directory copied at once) loses none of them.
    #[test]
    fn json_entries_acknowledged_as_logged_survive_a_crash() {
        let _commits = clock::ACTIVITY_IN_TESTS
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let root = std::env::temp_dir().join(format!("dash-logged-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let engine = Engine::start(&root, "p/served", EngineConfig::NEVER).unwrap();
        let topic = engine.define_topic("robot/state").unwrap();
        for batch in 0..3 {
            let entries: Vec<String> = (0..100)
                .map(|i| {
                    format!(
                        "{{\"timestamp\": {}, \"step\": {i}, \"pose\": {{\"x\": 0.5}}}}",
                        batch * 100 + i
                    )
                })
                .collect();
            let body = format!("{{\"entries\": [{}]}}", entries.join(","));
            assert_eq!(engine.commit_json_entries(topic, body.as_bytes()).unwrap(), 100);
            engine.logged().unwrap().wait(Duration::from_secs(30)).unwrap();
        }
        assert_eq!(
            engine.stats().segments_written.load(Relaxed),
            0,
            "acknowledged without sealing"
        );
        // Field names keep their key ids from one body to the next.
        assert_eq!(engine.named_key("step").unwrap(), engine.named_key("step").unwrap());
        assert_eq!(engine.registry().unwrap().named_keys.len(), 2);
        copy_dir(&engine.dir, &root.join("p/crashed"));
        let recovered = Engine::start(&root, "p/crashed", EngineConfig::NEVER).unwrap();
        assert_eq!(recovered.recovery().entries, 300);
        let rows = all_rows(&recovered, recovered.define_topic("robot/state").unwrap());
        let text = String::from_utf8(rows).unwrap();
        assert_eq!(text.lines().count(), 300);
        assert!(text.contains("\"pose.x\""), "{text}");
        drop(recovered);
        drop(engine);
        std::fs::remove_dir_all(root).ok();
    }

    /// A crash is simulated by copying the directory of a running engine (whose rows are only in
    /// its log) and starting an engine on the copy.
    #[test]
    fn the_next_engine_replays_the_log_of_one_that_stopped_without_closing() {
        let _commits = clock::ACTIVITY_IN_TESTS
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let root = std::env::temp_dir().join(format!("dash-wal-engine-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        // Small tables: tracks are sealed by size one at a time, so the log holds sealed rows too.
        let config = EngineConfig {
            max_unsealed_bytes: 16 * 1024,
            ..EngineConfig::NEVER
        };
        let engine = Engine::start(&root, "p/live", config).unwrap();
        let (a, b) = (engine.define_topic("a").unwrap(), engine.define_topic("b").unwrap());
        let key = engine.define_key("v").unwrap();
        for round in 0..20 {
            let mut batch = Vec::new();
            for i in 0..50 {
                let ts = f64::from(round * 50 + i);
                entry(&mut batch, a, ts, key, ts);
                entry(&mut batch, b, ts, key, -ts);
            }
            engine.commit(&batch, 100, false).unwrap();
            if round == 9 {
                // Everything sealed: the log is emptied.
                engine.flush().unwrap().wait(Duration::from_secs(30)).unwrap();
            }
        }
        wait_until("the log", || engine.stats().entries_logged.load(Relaxed) >= 1000);
        assert!(engine.stats().seals_by_size.load(Relaxed) > 0);
        let expected = (all_rows(&engine, a), all_rows(&engine, b));
        assert_eq!(expected.0.iter().filter(|c| **c == b'\n').count(), 1000);

        copy_dir(&engine.dir, &root.join("p/crashed"));
        let recovered = Engine::start(&root, "p/crashed", EngineConfig::NEVER).unwrap();
        let replayed = recovered.recovery();
        assert!(replayed.entries >= 100 && replayed.entries <= 1000, "{replayed:?}");
        assert_eq!(
            (replayed.entries % 100, replayed.entries_lost, replayed.discarded_bytes),
            (0, 0, 0)
        );
        let (ra, rb) = (
            recovered.define_topic("a").unwrap(),
            recovered.define_topic("b").unwrap(),
        );
        assert_eq!((all_rows(&recovered, ra), all_rows(&recovered, rb)), expected);
        let logs = std::fs::read_to_string(root.join("p/crashed/logs/logs.jsonl")).unwrap();
        assert!(
            logs.contains(&format!("recovered {} entries", replayed.entries)),
            "{logs}"
        );
        drop(recovered);
        assert!(!root.join("p/crashed").join(crate::durability::wal::WAL_FILE).exists());

        // A torn tail: the log cut in the middle of its last record.
        copy_dir(&engine.dir, &root.join("p/torn"));
        let wal = root.join("p/torn").join(crate::durability::wal::WAL_FILE);
        let len = std::fs::metadata(&wal).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&wal)
            .unwrap()
            .set_len(len - 7)
            .unwrap();
        let torn = Engine::start(&root, "p/torn", EngineConfig::NEVER).unwrap();
        let recovery = torn.recovery();
        assert_eq!((recovery.entries, recovery.entries_lost), (replayed.entries - 100, 0));
        assert!(recovery.discarded_bytes > 0);
        drop(torn);

        engine.close_and_wait().unwrap();
        assert!(!engine.dir.join(crate::durability::wal::WAL_FILE).exists());
        std::fs::remove_dir_all(root).ok();
    }
}
