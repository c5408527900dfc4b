//! N-API binding of dash-ingest: converts between JS and `ingest_core`, nothing else.
//! The TypeScript layer (`src/`) is the public API; this class is private to it.

pub mod clock;
mod error;
pub mod remote;
pub mod store;
mod tasks;

use std::cell::RefCell;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ingest_core::sdk::files::{Image, ImageFormat, PixelType};
use ingest_core::{
    Committer, Engine, EngineConfig, FileContent, IngestError, Overload, Pending, ReadFormat, ReadQuery, SaveFile,
    TrackSummary,
};
use napi::bindgen_prelude::AsyncTask;
use napi::{Env, Task};
use napi_derive::napi;

use crate::error::check;

/// A JSON object crossing as a plain JS object.
type JsonObject = serde_json::Map<String, serde_json::Value>;
use crate::tasks::{AppendJson, FileRecord, TrackInfo, Wait, WaitDone, WaitPoints, WaitRecords};

/// Engine settings; every field is optional and falls back to the engine defaults.
/// A read: rows with `start <= timestamp <= end`, projected to `columns` if given, as `format`:
/// `"entries"` / `"columns"` (wire entries or columns), `"jsonl"`, `"parquet"` or `"arrow"` (an IPC
/// stream); with `chart_width`, only the rows a chart that many pixels wide needs (M4).
#[napi(object)]
pub struct ReadRequest {
    pub start: f64,
    pub end: f64,
    pub columns: Option<Vec<String>>,
    pub format: String,
    pub chart_width: Option<u32>,
}

#[napi(object)]
pub struct EngineOptions {
    /// Root directory of all experiments (`dashRoot`).
    pub dash_root: String,
    /// Experiment prefix, e.g. `robotics/training`.
    pub prefix: String,
    /// Unsealed rows become durable at least this often, in milliseconds.
    pub flush_interval_ms: Option<f64>,
    /// Bound on batches queued for the writer, in bytes.
    pub max_queue_bytes: Option<f64>,
    /// Bound on unsealed rows in memory (all tracks together), in bytes.
    pub max_unsealed_bytes: Option<f64>,
    /// How long an append waits for queue room before failing, in milliseconds.
    pub backpressure_timeout_ms: Option<f64>,
    /// How long close waits for the writer, in milliseconds.
    pub close_timeout_ms: Option<f64>,
    /// Fail with `ERR_DASH_NOT_FOUND` instead of creating the experiment directory.
    pub must_exist: Option<bool>,
    /// When the writer falls behind: "block" (default), "drop" or "throw".
    pub overload: Option<String>,
}

/// Engine counters (see `ingest_core::Stats`).
#[napi(object)]
pub struct EngineStats {
    pub entries_committed: f64,
    pub entries_durable: f64,
    pub entries_lost: f64,
    pub entries_dropped: f64,
    /// Entries written to the write-ahead log (they survive a crash of the process).
    pub entries_logged: f64,
    /// Write-ahead log writes that failed (logging pauses until everything is sealed).
    pub wal_failures: f64,
    /// Entries that opening replayed from the write-ahead log of a writer that stopped without
    /// closing, and sealed.
    pub entries_recovered: f64,
    /// Entries in that log that did not decode (not expected).
    pub entries_unrecoverable: f64,
    /// Bytes of a torn or corrupt tail of that log that were discarded.
    pub wal_bytes_discarded: f64,
    pub segments_written: f64,
    pub segment_bytes_written: f64,
    /// Merges of small segments into one (a track flushed often keeps few files).
    pub compactions: f64,
    pub seals_by_size: f64,
    pub seals_by_interval: f64,
    pub seals_by_request: f64,
    pub seals_at_shutdown: f64,
    /// Group commits of seals and compactions (two file-system syncs each, whatever the number of
    /// tracks).
    pub commits: f64,
}

fn millis(value: Option<f64>, default: Duration) -> Duration {
    value
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map_or(default, |ms| Duration::from_secs_f64(ms / 1000.0))
}

fn bytes(value: Option<f64>, default: usize) -> usize {
    // Saturating float-to-int conversion; the TS layer has already checked the range.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    value
        .filter(|v| v.is_finite() && *v >= 1.0)
        .map_or(default, |v| v as usize)
}

thread_local! {
    /// The committers of the engines created on this thread, by handle. `commitBatch` is a free
    /// function taking a handle because a class-method call costs ~3x more (napi-rs borrow
    /// tracking), and it runs once per batch on the hot path. JS threads each have their own.
    static COMMITTERS: RefCell<Vec<Option<Committer>>> = const { RefCell::new(Vec::new()) };
}

fn register_committer(committer: Committer) -> u32 {
    COMMITTERS.with_borrow_mut(|slots| {
        let index = slots.iter().position(Option::is_none).unwrap_or(slots.len());
        if index == slots.len() {
            slots.push(None);
        }
        if let Some(slot) = slots.get_mut(index) {
            *slot = Some(committer);
        }
        u32::try_from(index).unwrap_or(u32::MAX)
    })
}

/// Hands the first `length` bytes of `batch` (`entries` wire-encoded entries) to the engine with
/// handle `engine`; the bytes are copied. When the writer is behind, the overload policy applies,
/// or, with `mustWait` (flush, read, close), a wait for room.
#[napi(catch_unwind)]
pub fn commit_batch(
    env: Env,
    engine: u32,
    batch: &[u8],
    length: u32,
    entries: u32,
    must_wait: bool,
) -> napi::Result<()> {
    let bytes = batch.get(..length as usize).unwrap_or(batch);
    let committed = COMMITTERS.with_borrow(|slots| match slots.get(engine as usize) {
        Some(Some(committer)) => committer.commit(bytes, entries, must_wait),
        _ => Err(IngestError::Closed),
    });
    check(&env, committed)
}

/// Every `code` an engine error can carry (the TypeScript API declares each one).
#[napi]
pub fn error_codes() -> Vec<&'static str> {
    IngestError::CODES.to_vec()
}

/// The prefixes of every experiment under `dashRoot`, sorted (for the command line; blocking).
#[napi(catch_unwind)]
pub fn find_experiments(env: Env, dash_root: String) -> napi::Result<Vec<String>> {
    check(
        &env,
        ingest_core::sdk::inventory::find_experiments(Path::new(&dash_root)),
    )
}

/// A metric and its number of points.
#[napi(object)]
pub struct MetricCount {
    pub name: String,
    pub points: f64,
}

/// What an experiment directory holds (see `ingest_core::sdk::inventory`).
#[napi(object)]
pub struct ExperimentInventory {
    /// `experiment.json`: status, tags, `created_at`, …
    #[napi(ts_type = "Record<string, unknown>")]
    pub record: JsonObject,
    pub tracks: Vec<TrackInfo>,
    pub metrics: Vec<MetricCount>,
    pub log_lines: f64,
    pub files: Vec<FileRecord>,
    pub disk_bytes: f64,
}

/// What the experiment `<dashRoot>/<prefix>` holds, read without writing (for the command line;
/// blocking).
#[napi(catch_unwind)]
pub fn describe_experiment(env: Env, dash_root: String, prefix: String) -> napi::Result<ExperimentInventory> {
    let inventory = check(
        &env,
        ingest_core::sdk::inventory::describe(Path::new(&dash_root), &prefix),
    )?;
    // Counts stay far below 2^53, where f64 is exact.
    #[allow(clippy::cast_precision_loss)]
    Ok(ExperimentInventory {
        record: inventory.record,
        tracks: inventory.tracks.into_iter().map(TrackInfo::from).collect(),
        metrics: inventory
            .metrics
            .into_iter()
            .map(|(name, points)| MetricCount {
                name,
                points: points as f64,
            })
            .collect(),
        log_lines: inventory.log_lines as f64,
        files: inventory.files.iter().map(FileRecord::from).collect(),
        disk_bytes: inventory.disk_bytes as f64,
    })
}

/// Where a file goes and who it belongs to.
#[napi(object)]
pub struct FileTarget {
    /// The SDK's `experimentId` field (`<project>/<prefix>`).
    pub experiment_id: String,
    /// The `files(prefix)` part of the path (may be empty).
    pub prefix: String,
    pub filename: String,
    /// JSON object text stored as the record's `metadata`.
    pub metadata: Option<String>,
}

fn save_file(target: FileTarget, content: FileContent) -> ingest_core::Result<SaveFile> {
    let metadata = match target.metadata {
        Some(text) => Some(serde_json::from_str(&text).map_err(|e| IngestError::NotJsonObject {
            what: "file metadata",
            reason: e.to_string(),
        })?),
        None => None,
    };
    Ok(SaveFile {
        experiment_id: target.experiment_id,
        prefix: target.prefix,
        filename: target.filename,
        content,
        metadata,
    })
}

/// The engine of one experiment. Owned by the TypeScript `Experiment`; not public API.
#[napi]
pub struct NativeEngine {
    /// Shared with tasks that run on the thread pool.
    engine: Arc<Engine>,
    handle: u32,
    /// A writing engine keeps the coarse clock ticking until it closes.
    clock: std::sync::Mutex<Option<ingest_core::engine::clock::ClockUse>>,
}

impl Drop for NativeEngine {
    fn drop(&mut self) {
        // Finalizers run on the thread that created the engine, the owner of the registry.
        let _ = COMMITTERS.try_with(|cell| {
            if let Ok(mut slots) = cell.try_borrow_mut() {
                if let Some(slot) = slots.get_mut(self.handle as usize) {
                    *slot = None;
                }
            }
        });
    }
}

#[napi]
impl NativeEngine {
    #[napi(constructor, catch_unwind)]
    pub fn new(env: Env, options: EngineOptions) -> napi::Result<Self> {
        let defaults = EngineConfig::DEFAULT;
        let config = EngineConfig {
            flush_interval: millis(options.flush_interval_ms, defaults.flush_interval),
            max_queue_bytes: bytes(options.max_queue_bytes, defaults.max_queue_bytes),
            max_unsealed_bytes: bytes(options.max_unsealed_bytes, defaults.max_unsealed_bytes),
            backpressure_timeout: millis(options.backpressure_timeout_ms, defaults.backpressure_timeout),
            close_timeout: millis(options.close_timeout_ms, defaults.close_timeout),
            overload: match options.overload.as_deref() {
                None | Some("block") => Overload::Block,
                Some("drop") => Overload::Drop,
                Some("throw") => Overload::Throw,
                Some(other) => {
                    let error = IngestError::InvalidName {
                        what: "overload policy",
                        name: other.into(),
                        reason: "use \"block\", \"drop\" or \"throw\"",
                    };
                    return Err(error::to_js(&env, &error));
                }
            },
            ..defaults
        };
        let root = Path::new(&options.dash_root);
        let writing = options.must_exist != Some(true);
        let engine = if writing {
            Engine::start(root, &options.prefix, config)
        } else {
            Engine::open_existing(root, &options.prefix, config)
        };
        let engine = check(&env, engine)?;
        let handle = register_committer(engine.committer());
        // Without the clock thread the slots stay 0, and JS reads its own clock (see clock.ts).
        let clock = writing.then(ingest_core::engine::clock::start).and_then(Result::ok);
        Ok(NativeEngine {
            engine: Arc::new(engine),
            handle,
            clock: std::sync::Mutex::new(clock),
        })
    }

    /// The handle `commitBatch` takes for this engine.
    #[napi(getter)]
    pub fn handle(&self) -> u32 {
        self.handle
    }

    /// The experiment directory.
    #[napi(getter)]
    pub fn dir(&self) -> String {
        self.engine.dir().display().to_string()
    }

    /// Registers a topic; returns its id. Throws a `TypeError` for invalid or colliding names.
    #[napi(catch_unwind)]
    pub fn define_topic(&self, env: Env, topic: String) -> napi::Result<u32> {
        check(&env, self.engine.define_topic(&topic))
    }

    /// Registers a flattened field name; returns its id.
    #[napi(catch_unwind)]
    pub fn define_key(&self, env: Env, name: String) -> napi::Result<u32> {
        check(&env, self.engine.define_key(&name))
    }

    /// Registers a numeric entry shape (key ids, and a slot code per key: 255 for a number, else a
    /// typed array's element code); returns its id.
    #[napi(catch_unwind)]
    pub fn define_shape(&self, env: Env, keys: &[u32], slots: &[u8]) -> napi::Result<u32> {
        check(&env, self.engine.define_shape(keys, slots))
    }

    /// Commits the track entries of an ML-Dash `append_batch` body (`{"entries": [...]}`, bytes,
    /// copied) to `topic`, parsed on the thread pool with no JS object per entry; resolves with
    /// how many there were once they are safe from a crash of the process (in the write-ahead
    /// log).
    #[napi(catch_unwind, ts_return_type = "Promise<number>")]
    pub fn append_json_entries(&self, topic: u32, body: &[u8]) -> AsyncTask<AppendJson> {
        AsyncTask::new(AppendJson {
            engine: self.engine.clone(),
            topic,
            body: body.to_vec(),
        })
    }

    /// Resolves when everything committed before the call is durable.
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn flush(&self, env: Env) -> napi::Result<AsyncTask<WaitDone>> {
        self.wait(check(&env, self.engine.flush())?)
    }

    /// Resolves with the rows of `topic` the request selects, in its format.
    #[napi(catch_unwind, ts_return_type = "Promise<Buffer>")]
    pub fn read(&self, env: Env, topic: u32, request: ReadRequest) -> napi::Result<AsyncTask<Wait<Vec<u8>>>> {
        let format = match request.format.as_str() {
            "entries" => ReadFormat::Entries,
            "jsonl" => ReadFormat::JsonLines,
            "parquet" => ReadFormat::Parquet,
            "columns" => ReadFormat::Columns,
            "arrow" => ReadFormat::Arrow,
            other => return Err(napi::Error::from_reason(format!("unknown read format {other:?}"))),
        };
        let query = ReadQuery {
            start: request.start,
            end: request.end,
            columns: request.columns,
            format,
            chart_width: request.chart_width.map(|w| w as usize),
        };
        self.wait(check(&env, self.engine.read(topic, query))?)
    }

    /// Resolves with every track on disk, after sealing what was appended.
    #[napi(catch_unwind, ts_return_type = "Promise<TrackInfo[]>")]
    pub fn list_tracks(&self, env: Env) -> napi::Result<AsyncTask<Wait<Vec<TrackSummary>>>> {
        self.wait(check(&env, self.engine.list_tracks())?)
    }

    /// Writes every track's ml-dash `data.jsonl`; resolves when done.
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn export_ml_dash(&self, env: Env, topic: Option<String>) -> napi::Result<AsyncTask<WaitDone>> {
        self.wait(check(&env, self.engine.export_ml_dash(topic.as_deref()))?)
    }

    fn wait<T: Send + 'static>(&self, pending: Pending<T>) -> napi::Result<AsyncTask<Wait<T>>>
    where
        Wait<T>: Task,
    {
        Ok(AsyncTask::new(Wait {
            pending: Some(pending),
            timeout: self.engine.close_timeout(),
        }))
    }

    fn stop_clock(&self) {
        if let Ok(mut clock) = self.clock.lock() {
            *clock = None;
        }
    }

    /// Seals everything and stops the writer; resolves when done.
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn close(&self, env: Env) -> napi::Result<AsyncTask<WaitDone>> {
        self.stop_clock();
        let pending = check(&env, self.engine.close())?;
        self.wait(pending)
    }

    /// Seals everything and stops the writer, blocking (bounded by the close timeout). For
    /// process exit, where nothing asynchronous can run any more.
    #[napi(catch_unwind)]
    pub fn close_sync(&self, env: Env) -> napi::Result<()> {
        self.stop_clock();
        check(&env, self.engine.close_and_wait())
    }

    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.engine.is_closed()
    }

    /// Buffers a log line; `metadata` is JSON object text. With `once`, a line equal to one the
    /// log holds is not added again (a client's write that may arrive twice).
    #[napi(catch_unwind)]
    #[allow(clippy::too_many_arguments)] // the fields of one line cross as plain arguments
    pub fn log(
        &self,
        env: Env,
        timestamp: String,
        level: String,
        message: String,
        metadata: Option<String>,
        once: Option<bool>,
    ) -> napi::Result<()> {
        let once = once == Some(true);
        check(
            &env,
            self.engine.log(&timestamp, &level, &message, metadata.as_deref(), once),
        )
    }

    /// Buffers a metric point; `data` is Python-compatible JSON object text. With `once`, a point
    /// whose data equals one the metric holds is not added again.
    #[napi(catch_unwind)]
    pub fn log_metric(&self, env: Env, name: String, data: String, once: Option<bool>) -> napi::Result<()> {
        check(&env, self.engine.log_metric(&name, &data, once == Some(true)))
    }

    /// Resolves with points `start..start + limit` of a metric (raw JSON lines) and its total.
    #[napi(catch_unwind, ts_return_type = "Promise<MetricPoints>")]
    pub fn read_metric(&self, env: Env, name: String, start: u32, limit: u32) -> napi::Result<AsyncTask<WaitPoints>> {
        self.wait(check(
            &env,
            self.engine.read_metric(&name, start as usize, limit as usize),
        )?)
    }

    /// Queues `bytes` (copied) as a file; returns at once.
    #[napi(catch_unwind)]
    pub fn save_file(&self, env: Env, target: FileTarget, bytes: &[u8]) -> napi::Result<()> {
        let file = save_file(target, FileContent::Bytes(bytes.to_vec()));
        check(&env, file.and_then(|file| self.engine.save_file(file)))
    }

    /// Queues an image (its pixels copied; `pixelType` "u8", "f32" or "f64") to be encoded as
    /// JPEG or PNG by the extension of the file name; returns at once.
    #[napi(catch_unwind)]
    #[allow(clippy::too_many_arguments)] // one call per frame: the fields cross as plain arguments
    pub fn save_image(
        &self,
        env: Env,
        target: FileTarget,
        pixels: &[u8],
        pixel_type: String,
        width: u32,
        height: u32,
        channels: u32,
        quality: u32,
    ) -> napi::Result<()> {
        let result = (|| {
            let pixel_type = match pixel_type.as_str() {
                "u8" => PixelType::U8,
                "f32" => PixelType::F32,
                "f64" => PixelType::F64,
                other => return Err(IngestError::InvalidImage(format!("unsupported pixel type {other:?}"))),
            };
            let quality = u8::try_from(quality.clamp(1, 100)).unwrap_or(95);
            let format = ImageFormat::for_name(&target.filename, quality).ok_or_else(|| {
                IngestError::InvalidImage(format!(
                    "cannot tell the image format of {:?}; use a .jpg, .jpeg or .png name",
                    target.filename
                ))
            })?;
            let image = Image {
                pixels: pixels.to_vec(),
                pixel_type,
                width,
                height,
                channels: u8::try_from(channels).unwrap_or(0),
            };
            self.engine
                .save_file(save_file(target, FileContent::Image(image, format))?)
        })();
        check(&env, result)
    }

    /// Resolves with the records of every live file, after the saves queued before.
    #[napi(catch_unwind, ts_return_type = "Promise<FileRecord[]>")]
    pub fn list_files(&self, env: Env) -> napi::Result<AsyncTask<WaitRecords>> {
        self.wait(check(&env, self.engine.list_files())?)
    }

    /// Resolves with the bytes of file `<prefix>/<filename>`, after the saves queued before.
    #[napi(catch_unwind, ts_return_type = "Promise<Buffer>")]
    pub fn read_file(&self, env: Env, prefix: String, filename: String) -> napi::Result<AsyncTask<Wait<Vec<u8>>>> {
        self.wait(check(&env, self.engine.read_file(&prefix, &filename))?)
    }

    /// Merges flattened parameters (JSON object text as the TypeScript layer writes it, Python's
    /// `NaN` / `Infinity` literals allowed); returns all parameters as such text.
    #[napi(catch_unwind)]
    pub fn set_parameters(&self, env: Env, data: String) -> napi::Result<String> {
        check(&env, self.engine.set_parameters(&data))
    }

    /// All parameters (flattened), as JSON text with Python's non-finite literals.
    #[napi(catch_unwind)]
    pub fn parameters(&self, env: Env) -> napi::Result<String> {
        check(&env, self.engine.parameters())
    }

    /// Merges `fields` into `experiment.json` (`defaults` only for a new record); returns the
    /// whole record.
    #[napi(catch_unwind, ts_return_type = "Record<string, unknown>")]
    pub fn update_experiment(
        &self,
        env: Env,
        #[napi(ts_arg_type = "Record<string, unknown>")] fields: JsonObject,
        #[napi(ts_arg_type = "Record<string, unknown>")] defaults: JsonObject,
    ) -> napi::Result<JsonObject> {
        check(&env, self.engine.update_experiment(fields, defaults))
    }

    #[napi(catch_unwind)]
    pub fn stats(&self) -> EngineStats {
        use std::sync::atomic::Ordering::Relaxed;
        let s = self.engine.stats();
        // Counters stay far below 2^53, where f64 is exact.
        #[allow(clippy::cast_precision_loss)]
        let n = |c: &std::sync::atomic::AtomicU64| c.load(Relaxed) as f64;
        let recovery = self.engine.recovery();
        EngineStats {
            entries_committed: n(&s.entries_committed),
            entries_durable: n(&s.entries_durable),
            entries_lost: n(&s.entries_lost),
            entries_dropped: n(&s.entries_dropped),
            entries_logged: n(&s.entries_logged),
            wal_failures: n(&s.wal_failures),
            entries_recovered: recovery.entries as f64,
            entries_unrecoverable: recovery.entries_lost as f64,
            wal_bytes_discarded: recovery.discarded_bytes as f64,
            segments_written: n(&s.segments_written),
            segment_bytes_written: n(&s.segment_bytes_written),
            compactions: n(&s.compactions),
            seals_by_size: n(&s.seals_by_size),
            seals_by_interval: n(&s.seals_by_interval),
            seals_by_request: n(&s.seals_by_request),
            seals_at_shutdown: n(&s.seals_at_shutdown),
            commits: n(&s.commits),
        }
    }
}
