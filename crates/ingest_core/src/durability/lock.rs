//! The experiment's lock: one writing engine at a time, across processes. Only its holder changes
//! the experiment's files.

use std::path::Path;

use crate::error::{IngestError, Result};

/// The experiment's lock file: one writing engine at a time, across processes.
pub const LOCK_FILE: &str = ".dash-ingest.lock";

/// Takes the lock of the experiment in `dir` (`Locked` if another engine holds it); it is held
/// until the returned file is dropped. Only its holder changes the experiment's files.
pub fn lock(dir: &Path, hint: &'static str) -> Result<std::fs::File> {
    let lock_path = dir.join(LOCK_FILE);
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    let lock = crate::storage::fsx::open_within(dir, &lock_path, &mut options, "nothing (locking)")?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => Err(IngestError::Locked {
            dir: dir.to_path_buf(),
            hint,
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(IngestError::io(&lock_path, "nothing (locking)", e)),
    }
}
