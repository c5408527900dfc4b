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

    /// A request body or one of its entries that is not what the ML-Dash contract allows
    /// (`entry` is its index, if one entry is at fault).
    #[error("invalid track entries{}: {reason}", entry.map(|i| format!(" (entry {i})")).unwrap_or_default())]
    InvalidEntry { entry: Option<usize>, reason: String },

    /// An entry of a request body without a finite numeric `timestamp`.
    #[error("entry {entry} has no finite numeric \"timestamp\" (found {found})")]
    InvalidTimestamp { entry: usize, found: String },

    /// A JSON value from the binding that is not what the call takes (the TypeScript layer
    /// serializes user values, so this is a bug there, never user input).
    #[error("{what} is not a JSON object: {reason}")]
    NotJsonObject { what: &'static str, reason: String },

    /// Entries that were to be acknowledged once in the write-ahead log, when the log failed
    /// first (they are still sealed as usual; a flush makes them durable).
    #[error("the write-ahead log failed before these entries reached it; they are not yet safe from a crash (flush to seal them)")]
    NotLogged,

    /// A thread of the engine could not be started.
    #[error("could not start the {thread} thread: {source}")]
    ThreadStart {
        thread: &'static str,
        #[source]
        source: std::io::Error,
    },

    /// The writer thread stopped (it panicked) before answering a request.
    #[error("the writer thread stopped before answering")]
    WriterStopped,

    /// A broken invariant of the engine: always a bug, reported instead of a panic.
    #[error("internal error while {what}: {reason}")]
    Internal { what: &'static str, reason: String },
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
            IngestError::Io { .. } | IngestError::NotLogged => "ERR_DASH_IO",
            IngestError::UnsafePath { .. } => "ERR_DASH_UNSAFE_PATH",
            IngestError::Corrupt { .. } => "ERR_DASH_CORRUPT",
            IngestError::NotJsonObject { .. } | IngestError::InvalidEntry { .. } => "ERR_DASH_INVALID_ARGUMENT",
            IngestError::InvalidTimestamp { .. } => "ERR_DASH_INVALID_TIMESTAMP",
            IngestError::ThreadStart { .. } | IngestError::WriterStopped => "ERR_DASH_WRITER",
            IngestError::Internal { .. } => "ERR_DASH_INTERNAL",
        }
    }

    /// Every code [`IngestError::code`] can return, in a stable order. The binding exports it,
    /// and a test checks that the TypeScript API declares each one.
    pub const CODES: &'static [&'static str] = &[
        "ERR_DASH_INVALID_NAME",
        "ERR_DASH_TOPIC_COLLISION",
        "ERR_DASH_INVALID_IMAGE",
        "ERR_DASH_NOT_FOUND",
        "ERR_DASH_LOCKED",
        "ERR_DASH_MALFORMED_BATCH",
        "ERR_DASH_UNKNOWN_ID",
        "ERR_DASH_BACKPRESSURE",
        "ERR_DASH_DROPPED",
        "ERR_DASH_CLOSED",
        "ERR_DASH_TIMEOUT",
        "ERR_DASH_IO",
        "ERR_DASH_UNSAFE_PATH",
        "ERR_DASH_CORRUPT",
        "ERR_DASH_INVALID_ARGUMENT",
        "ERR_DASH_INVALID_TIMESTAMP",
        "ERR_DASH_WRITER",
        "ERR_DASH_INTERNAL",
    ];

    /// The operating-system error under this one, if any: what the binding passes to JS as the
    /// error's `cause`.
    pub fn os_cause(&self) -> Option<&std::io::Error> {
        match self {
            IngestError::Io { source, .. } | IngestError::ThreadStart { source, .. } => Some(source),
            _ => None,
        }
    }

    /// Whether the caller passed something wrong (a `TypeError`/`RangeError` in JS) rather than
    /// the engine failing.
    pub fn is_invalid_argument(&self) -> bool {
        matches!(
            self,
            IngestError::InvalidName { .. }
                | IngestError::TopicCollision { .. }
                | IngestError::InvalidImage(_)
                | IngestError::NotJsonObject { .. }
                | IngestError::InvalidEntry { .. }
                | IngestError::InvalidTimestamp { .. }
        )
    }

    /// Whether this is an I/O error because a file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, IngestError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }

    /// The POSIX name of the operating-system error under this one (`ENOSPC`, `EACCES`, …), as
    /// Node names its own system errors; `None` without one or for a number not listed here.
    pub fn os_code(&self) -> Option<&'static str> {
        use rustix::io::Errno;
        use std::io::ErrorKind;
        let cause = self.os_cause()?;
        let Some(errno) = Errno::from_io_error(cause) else {
            // An error rebuilt from its kind (by a library between the engine and the system
            // call) has lost its number; its kind still names the common ones.
            return match cause.kind() {
                ErrorKind::NotFound => Some("ENOENT"),
                ErrorKind::PermissionDenied => Some("EACCES"),
                ErrorKind::AlreadyExists => Some("EEXIST"),
                ErrorKind::StorageFull => Some("ENOSPC"),
                ErrorKind::QuotaExceeded => Some("EDQUOT"),
                ErrorKind::ReadOnlyFilesystem => Some("EROFS"),
                ErrorKind::FileTooLarge => Some("EFBIG"),
                ErrorKind::OutOfMemory => Some("ENOMEM"),
                _ => None,
            };
        };
        let names = [
            (Errno::NOENT, "ENOENT"),
            (Errno::ACCESS, "EACCES"),
            (Errno::PERM, "EPERM"),
            (Errno::NOSPC, "ENOSPC"),
            (Errno::DQUOT, "EDQUOT"),
            (Errno::ROFS, "EROFS"),
            (Errno::IO, "EIO"),
            (Errno::EXIST, "EEXIST"),
            (Errno::NOTDIR, "ENOTDIR"),
            (Errno::ISDIR, "EISDIR"),
            (Errno::LOOP, "ELOOP"),
            (Errno::NOTEMPTY, "ENOTEMPTY"),
            (Errno::MFILE, "EMFILE"),
            (Errno::NFILE, "ENFILE"),
            (Errno::NOMEM, "ENOMEM"),
            (Errno::AGAIN, "EAGAIN"),
            (Errno::FBIG, "EFBIG"),
            (Errno::NAMETOOLONG, "ENAMETOOLONG"),
            (Errno::XDEV, "EXDEV"),
            (Errno::BUSY, "EBUSY"),
            (Errno::INVAL, "EINVAL"),
        ];
        names.iter().find(|(known, _)| *known == errno).map(|(_, name)| *name)
    }

    pub(crate) fn io(path: impl Into<PathBuf>, lost: impl Into<String>, source: std::io::Error) -> Self {
        IngestError::Io {
            path: path.into(),
            lost: lost.into(),
            source,
        }
    }

    pub(crate) fn internal(what: &'static str, reason: impl ToString) -> Self {
        IngestError::Internal {
            what,
            reason: reason.to_string(),
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

#[cfg(test)]
mod tests {
    use super::IngestError;

    #[test]
    fn every_code_is_listed_once() {
        let io = || std::io::Error::from_raw_os_error(28);
        let errors = [
            IngestError::InvalidName {
                what: "topic",
                name: String::new(),
                reason: "",
            },
            IngestError::TopicCollision {
                topic: String::new(),
                existing: String::new(),
                dir: String::new(),
            },
            IngestError::InvalidImage(String::new()),
            IngestError::Locked {
                dir: "x".into(),
                hint: "",
            },
            IngestError::NotFound {
                what: "",
                name: String::new(),
            },
            IngestError::Malformed {
                offset: 0,
                reason: String::new(),
            },
            IngestError::UnknownId { what: "", id: 0 },
            IngestError::Backpressure { waited_ms: 0, bytes: 0 },
            IngestError::Dropped { entries: 0 },
            IngestError::Closed,
            IngestError::Timeout { what: "", waited_ms: 0 },
            IngestError::io("x", "", io()),
            IngestError::UnsafePath {
                path: "x".into(),
                reason: "",
            },
            IngestError::corrupt("x", ""),
            IngestError::NotJsonObject {
                what: "",
                reason: String::new(),
            },
            IngestError::InvalidEntry {
                entry: None,
                reason: String::new(),
            },
            IngestError::InvalidTimestamp {
                entry: 0,
                found: String::new(),
            },
            IngestError::ThreadStart {
                thread: "",
                source: io(),
            },
            IngestError::WriterStopped,
            IngestError::NotLogged,
            IngestError::internal("", ""),
        ];
        let mut codes: Vec<&str> = errors.iter().map(IngestError::code).collect();
        codes.sort_unstable();
        codes.dedup();
        let mut listed = IngestError::CODES.to_vec();
        listed.sort_unstable();
        assert_eq!(codes, listed);
        assert_eq!(IngestError::io("x", "", io()).os_code(), Some("ENOSPC"));
        let rebuilt = std::io::Error::new(std::io::ErrorKind::StorageFull, "no room");
        assert_eq!(IngestError::io("x", "", rebuilt).os_code(), Some("ENOSPC"));
    }
}
