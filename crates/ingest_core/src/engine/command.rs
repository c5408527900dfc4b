//! The commands the engine handle sends its writer thread, and their replies.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value as Json;

use crate::error::{IngestError, Result};
use crate::ingest::wire::Shape;
use crate::merge::table::ColumnName;
use crate::sdk::files::{Image, ImageFormat};
use crate::storage::track_store::TrackSummary;

pub(crate) type Reply<T> = mpsc::SyncSender<Result<T>>;

pub(crate) enum Command {
    DefineTopic {
        id: u32,
        topic: String,
        dir: PathBuf,
    },
    DefineKey(ColumnName),
    DefineShape(Shape),
    Entries {
        batch: Vec<u8>,
        entries: u64,
    },
    Flush(Reply<()>),
    /// Answer once everything committed before is safe from a crash of the process: in the
    /// write-ahead log, or sealed where there is no working log.
    Logged(Reply<()>),
    Read {
        topic: u32,
        query: ReadQuery,
        reply: Reply<Vec<u8>>,
    },
    ListTracks(Reply<Vec<TrackSummary>>),
    /// Export every track, or only `topic`.
    ExportMlDash {
        topic: Option<String>,
        reply: Reply<()>,
    },
    /// `once`: skip the line if the log holds an equal one (a client's write sent again).
    Log {
        timestamp: String,
        level: String,
        message: String,
        metadata: Option<String>,
        once: bool,
    },
    /// `once`: skip the point if the metric holds one with equal data.
    Metric {
        name: String,
        data: String,
        once: bool,
    },
    ReadMetric {
        name: String,
        start: usize,
        limit: usize,
        reply: Reply<(Vec<String>, u64)>,
    },
    SaveFile(Box<SaveFile>),
    /// An image's encode finished (sent by an encoder thread, so the writer writes it soon).
    FileEncoded,
    ListFiles(Reply<Vec<Json>>),
    ReadFile {
        prefix: String,
        filename: String,
        reply: Reply<Vec<u8>>,
    },
    Shutdown(Reply<()>),
}

/// What a saved file holds: bytes as given, or an image to encode.
pub enum FileContent {
    Bytes(Vec<u8>),
    Image(Image, ImageFormat),
}

/// A file to store under `files/<prefix>/<id>/<filename>` (names already validated).
pub struct SaveFile {
    pub experiment_id: String,
    pub prefix: String,
    pub filename: String,
    pub content: FileContent,
    pub metadata: Option<Json>,
}

/// What `read` returns: the engine's wire entries or columns (for the JS API), or a file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFormat {
    /// Wire `entries` (see [`crate::merge::rows::encode_entries`]).
    Entries,
    /// JSON lines as the Python SDK writes them.
    JsonLines,
    /// One self-contained Parquet file.
    Parquet,
    /// Wire `columns` (see [`crate::merge::rows::encode_columns`]).
    Columns,
    /// An Arrow IPC stream (see [`crate::storage::arrow_ipc`]).
    Arrow,
}

/// A read: rows with `start <= timestamp <= end`, optionally only some columns.
#[derive(Debug, Clone)]
pub struct ReadQuery {
    pub start: f64,
    pub end: f64,
    pub columns: Option<Vec<String>>,
    pub format: ReadFormat,
    /// For a chart this many pixels wide: only the rows it needs (see
    /// [`crate::merge::downsample`]).
    pub chart_width: Option<usize>,
}

/// A reply that will arrive from the writer thread.
pub struct Pending<T> {
    pub(crate) receiver: mpsc::Receiver<Result<T>>,
    pub(crate) what: &'static str,
}

impl<T> Pending<T> {
    /// Waits for the writer's answer for at most `timeout`.
    pub fn wait(self, timeout: Duration) -> Result<T> {
        match self.receiver.recv_timeout(timeout) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(IngestError::Timeout {
                what: self.what,
                waited_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            }),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(IngestError::WriterStopped),
        }
    }
}
