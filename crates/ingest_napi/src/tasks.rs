//! Replies from the writer thread, awaited on the libuv thread pool and converted to JS values.

use std::sync::Arc;
use std::time::Duration;

use ingest_core::{Engine, IngestError, Pending, TrackSummary};
use napi::bindgen_prelude::{Buffer, Either, Null};
use napi::{Env, Task};
use napi_derive::napi;

use crate::error::check;

/// One track as `tracks.list()` reports it.
#[napi(object)]
pub struct TrackInfo {
    pub topic: String,
    pub total_entries: f64,
    pub columns: Vec<String>,
    pub first_timestamp: Option<f64>,
    pub last_timestamp: Option<f64>,
    /// The track's directory (where `exportMlDash` writes its `data.jsonl`).
    pub dir: String,
    /// Parquet segments holding the rows, and their bytes on disk.
    pub segments: u32,
    pub segment_bytes: f64,
}

impl From<TrackSummary> for TrackInfo {
    fn from(s: TrackSummary) -> Self {
        TrackInfo {
            topic: s.topic,
            // Row counts stay far below 2^53, where f64 is exact.
            #[allow(clippy::cast_precision_loss)]
            total_entries: s.total_entries as f64,
            columns: s.columns,
            first_timestamp: s.first_timestamp,
            last_timestamp: s.last_timestamp,
            dir: s.dir.display().to_string(),
            segments: u32::try_from(s.segments).unwrap_or(u32::MAX),
            #[allow(clippy::cast_precision_loss)]
            segment_bytes: s.segment_bytes as f64,
        }
    }
}

/// Raw JSON lines of metric points and the metric's total.
#[napi(object)]
pub struct MetricPoints {
    pub points: Vec<String>,
    pub total: f64,
}

/// A reply from the writer thread, awaited on the libuv thread pool.
pub struct Wait<T: Send + 'static> {
    pub(crate) pending: Option<Pending<T>>,
    pub(crate) timeout: Duration,
}

impl<T: Send + 'static> Wait<T> {
    fn take(&mut self) -> ingest_core::Result<T> {
        match self.pending.take() {
            Some(pending) => pending.wait(self.timeout),
            None => Err(IngestError::Internal {
                what: "awaiting the writer's reply",
                reason: "the reply was already taken".into(),
            }),
        }
    }
}

/// Resolves with nothing once the writer answered.
pub type WaitDone = Wait<()>;

impl Task for Wait<()> {
    type Output = ingest_core::Result<()>;
    type JsValue = ();

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(self.take())
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<()> {
        check(&env, output)
    }
}

impl Task for Wait<Vec<u8>> {
    type Output = ingest_core::Result<Vec<u8>>;
    type JsValue = Buffer;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(self.take())
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<Buffer> {
        check(&env, output).map(Buffer::from)
    }
}

impl Task for Wait<Vec<TrackSummary>> {
    type Output = ingest_core::Result<Vec<TrackSummary>>;
    type JsValue = Vec<TrackInfo>;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(self.take())
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<Vec<TrackInfo>> {
        check(&env, output).map(|tracks| tracks.into_iter().map(TrackInfo::from).collect())
    }
}

/// Resolves with metric points.
pub type WaitPoints = Wait<(Vec<String>, u64)>;

impl Task for WaitPoints {
    type Output = ingest_core::Result<(Vec<String>, u64)>;
    type JsValue = MetricPoints;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(self.take())
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<MetricPoints> {
        // Point counts stay far below 2^53, where f64 is exact.
        #[allow(clippy::cast_precision_loss)]
        check(&env, output).map(|(points, total)| MetricPoints {
            points,
            total: total as f64,
        })
    }
}

/// A file's record, as the SDK writes it in `files/.files_metadata.json`.
#[napi(object)]
pub struct FileRecord {
    pub id: String,
    pub experiment_id: String,
    /// `/<prefix>`, or empty for files saved without a prefix.
    pub path: String,
    pub filename: String,
    pub description: Either<String, Null>,
    pub tags: Vec<String>,
    pub bindrs: Vec<String>,
    pub content_type: String,
    pub size_bytes: f64,
    /// SHA-256 of the bytes, hex.
    pub checksum: String,
    /// The JSON object saved with the file, or `null`.
    #[napi(ts_type = "Record<string, unknown> | null")]
    pub metadata: serde_json::Value,
    pub uploaded_at: String,
    pub updated_at: String,
    pub deleted_at: Either<String, Null>,
}

impl From<&serde_json::Value> for FileRecord {
    /// Fields missing or of another type (a record written by hand) read as empty.
    fn from(record: &serde_json::Value) -> Self {
        let text = |key: &str| record.get(key).and_then(serde_json::Value::as_str).map(str::to_string);
        let text_or_null = |key: &str| text(key).map_or(Either::B(Null), Either::A);
        let texts = |key: &str| -> Vec<String> {
            record
                .get(key)
                .and_then(serde_json::Value::as_array)
                .map(|items| items.iter().filter_map(|t| t.as_str().map(str::to_string)).collect())
                .unwrap_or_default()
        };
        FileRecord {
            id: text("id").unwrap_or_default(),
            experiment_id: text("experimentId").unwrap_or_default(),
            path: text("path").unwrap_or_default(),
            filename: text("filename").unwrap_or_default(),
            description: text_or_null("description"),
            tags: texts("tags"),
            bindrs: texts("bindrs"),
            content_type: text("contentType").unwrap_or_default(),
            size_bytes: record
                .get("sizeBytes")
                .and_then(serde_json::Value::as_f64)
                .unwrap_or(0.0),
            checksum: text("checksum").unwrap_or_default(),
            metadata: record
                .get("metadata")
                .filter(|m| m.is_object())
                .cloned()
                .unwrap_or(serde_json::Value::Null),
            uploaded_at: text("uploadedAt").unwrap_or_default(),
            updated_at: text("updatedAt").unwrap_or_default(),
            deleted_at: text_or_null("deletedAt"),
        }
    }
}

/// Resolves with the records of the live files.
pub type WaitRecords = Wait<Vec<serde_json::Value>>;

impl Task for WaitRecords {
    type Output = ingest_core::Result<Vec<serde_json::Value>>;
    type JsValue = Vec<FileRecord>;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(self.take())
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<Vec<FileRecord>> {
        check(&env, output).map(|records| records.iter().map(FileRecord::from).collect())
    }
}

/// Track entries of a request body, committed and logged on the thread pool (see
/// `NativeEngine::append_json_entries`).
pub struct AppendJson {
    pub(crate) engine: Arc<Engine>,
    pub(crate) topic: u32,
    pub(crate) body: Vec<u8>,
}

impl Task for AppendJson {
    type Output = ingest_core::Result<u32>;
    type JsValue = u32;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        let timeout = self.engine.close_timeout();
        Ok(self
            .engine
            .commit_json_entries(self.topic, &self.body)
            .and_then(|count| self.engine.logged()?.wait(timeout).map(|()| count)))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<u32> {
        check(&env, output)
    }
}
