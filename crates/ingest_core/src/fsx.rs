//! Durable file operations: every file the engine publishes appears whole or not at all.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{IngestError, Result};

/// The temporary name a file is written under before it is renamed into place.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

/// fsyncs a directory so a rename inside it survives a crash.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| IngestError::io(dir, "directory entry", e))
}

/// Renames `from` to `to` and makes the rename durable.
pub fn publish(from: &Path, to: &Path, lost: &str) -> Result<()> {
    fs::rename(from, to).map_err(|e| IngestError::io(to, lost, e))?;
    sync_dir(to.parent().unwrap_or(Path::new(".")))
}

/// Writes `bytes` to `path` atomically and durably (temp file, fsync, rename, fsync dir).
pub fn write_atomic(path: &Path, bytes: &[u8], lost: &str) -> Result<()> {
    let tmp = temp_path(path);
    let write = || -> std::io::Result<()> {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()
    };
    if let Err(e) = write() {
        // A partial temporary file only takes space (on a full disk, the space needed next).
        let _ = fs::remove_file(&tmp);
        return Err(IngestError::io(&tmp, lost, e));
    }
    publish(&tmp, path, lost)
}

pub fn create_dir_all(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| IngestError::io(dir, "directory", e))
}

/// Reads and parses a JSON file; `Ok(None)` if it does not exist.
pub fn read_json(path: &Path) -> Result<Option<serde_json::Value>> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| IngestError::corrupt(path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(IngestError::io(path, "nothing (reading)", e)),
    }
}
