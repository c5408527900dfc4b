//! Errors of the engine. Every variant maps to one stable `code` string that the binding puts on
//! the JS error; tests and users match on the code, never on the message text.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A topic, prefix or file name that is empty, too long, absolute, contains `..`, NUL or
    /// another character that could escape `dashRoot`.
    #[error("invalid {what} {name:?}: {reason}")]
    InvalidName {
        what: &'static str,
        name: String,
        reason: &'static str,
    },

    /// Two topics that map to the same directory (`a/b` and `a_b`).
    #[error("topic {topic:?} maps to directory {dir:?}, which already holds topic {existing:?}")]
    TopicCollision {
        topic: String,
        existing: String,
        dir: String,
    },

    /// Image sizes that disagree with the data, or that the format cannot hold.
    #[error("invalid image: {0}")]
    InvalidImage(String),

    /// Another engine (in this or another process) is writing the experiment.
    #[error("experiment {dir:?} is being written by another engine (its lock file is held); {hint}")]
    Locked { dir: PathBuf, hint: &'static str },

    /// An experiment or track that does not exist.
    #[error("{what} {name:?} does not exist")]
    NotFound { what: &'static str, name: String },

    /// A batch from the binding does not follow the wire format (a bug, never user input).
    #[error("malformed batch at byte {offset}: {reason}")]
    Malformed { offset: usize, reason: String },

    /// An id that was never defined (a bug in the caller, never user input).
    #[error("unknown {what} id {id}")]
    UnknownId { what: &'static str, id: u32 },

    /// The bounded queue stayed full for the whole backpressure timeout.
    #[error("the writer fell behind: the queue stayed full for {waited_ms} ms; {bytes} bytes were not accepted")]
    Backpressure { waited_ms: u64, bytes: usize },

    /// Entries dropped by the `drop` overload policy since the last report.
    #[error("{entries} entries were dropped because the writer fell behind (overload policy \"drop\")")]
    Dropped { entries: u64 },

    /// The engine was closed; nothing more can be appended or flushed.
    #[error("the engine is closed")]
    Closed,

    /// A flush or close did not finish in time.
    #[error("{what} did not finish within {waited_ms} ms")]
    Timeout { what: &'static str, waited_ms: u64 },

    /// Writing failed; `lost` says what was not made durable.
    #[error("I/O error on {path:?} ({lost}): {source}")]
    Io {
        path: PathBuf,
        lost: String,
        #[source]
        source: std::io::Error,
    },

    /// A path inside an experiment that the engine refuses to write or read through: a symbolic
    /// link (or a file where a directory belongs), which could lead outside `dashRoot`.
    #[error("refusing {path:?}: it {reason}")]
    UnsafePath { path: PathBuf, reason: &'static str },

    /// A segment or metadata file could not be decoded.
    #[error("corrupt file {path:?}: {reason}")]
    Corrupt { path: PathBuf, reason: String },

    /// The writer thread could not be started or died.
    #[error("writer thread failure: {0}")]
    Writer(String),
}

impl IngestError {
    /// The stable code carried by the JS error.
    pub fn code(&self) -> &'static str {
        match self {
            IngestError::InvalidName { .. } => "ERR_DASH_INVALID_NAME",
            IngestError::TopicCollision { .. } => "ERR_DASH_TOPIC_COLLISION",
            IngestError::InvalidImage(_) => "ERR_DASH_INVALID_IMAGE",
            IngestError::NotFound { .. } => "ERR_DASH_NOT_FOUND",
            IngestError::Locked { .. } => "ERR_DASH_LOCKED",
            IngestError::Malformed { .. } => "ERR_DASH_MALFORMED_BATCH",
            IngestError::UnknownId { .. } => "ERR_DASH_UNKNOWN_ID",
            IngestError::Backpressure { .. } => "ERR_DASH_BACKPRESSURE",
            IngestError::Dropped { .. } => "ERR_DASH_DROPPED",
            IngestError::Closed => "ERR_DASH_CLOSED",
            IngestError::Timeout { .. } => "ERR_DASH_TIMEOUT",
            IngestError::Io { .. } => "ERR_DASH_IO",
            IngestError::UnsafePath { .. } => "ERR_DASH_UNSAFE_PATH",
            IngestError::Corrupt { .. } => "ERR_DASH_CORRUPT",
            IngestError::Writer(_) => "ERR_DASH_WRITER",
        }
    }

    /// Whether the caller passed something wrong (a `TypeError`/`RangeError` in JS) rather than
    /// the engine failing.
    pub fn is_invalid_argument(&self) -> bool {
        matches!(
            self,
            IngestError::InvalidName { .. } | IngestError::TopicCollision { .. } | IngestError::InvalidImage(_)
        )
    }

    /// Whether this is an I/O error because a file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, IngestError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }

    pub(crate) fn io(path: impl Into<PathBuf>, lost: impl Into<String>, source: std::io::Error) -> Self {
        IngestError::Io {
            path: path.into(),
            lost: lost.into(),
            source,
        }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, reason: impl ToString) -> Self {
        IngestError::Corrupt {
            path: path.into(),
            reason: reason.to_string(),
        }
    }
}

pub type Result<T, E = IngestError> = std::result::Result<T, E>;
