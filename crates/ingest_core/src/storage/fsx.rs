//! Durable, confined file operations: every file the engine publishes appears whole or not at
//! all, and nothing is ever written through a symbolic link.
//!
//! Confinement: every write names the directory it must stay inside (`root`: the experiment
//! directory, or `dashRoot` when creating it). Directories below `root` are created one by one and
//! refused if any is a symbolic link (or not a directory); files are opened with `O_NOFOLLOW`, or
//! created fresh with `O_EXCL` after removing whatever had the name (a link is removed, never
//! followed); renames replace a link rather than follow it. So a link planted inside an
//! experiment (`tracks/`, `logs/logs.jsonl`, `experiment.json.tmp`, …) can never make the engine
//! write outside `dashRoot`; it makes the write fail with `ERR_DASH_UNSAFE_PATH` instead. `root`
//! itself may be a link (a user's choice of where `dashRoot` lives).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

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

/// fsyncs a file written before (its data and size).
pub fn sync_file(path: &Path, lost: &str) -> Result<()> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| IngestError::io(path, lost, e))
}

/// Renames `from` to `to`; durable only once the caller syncs (see [`sync_filesystem`]).
pub fn rename(from: &Path, to: &Path, lost: &str) -> Result<()> {
    fs::rename(from, to).map_err(|e| IngestError::io(to, lost, e))
}

/// Makes everything written to the file system that holds `dir` durable (`syncfs`): one call
/// covers a whole group of files, where an fsync per file and per directory costs a journal
/// commit each.
pub fn sync_filesystem(dir: &Path, lost: &str) -> Result<()> {
    File::open(dir)
        .and_then(|d| rustix::fs::syncfs(&d).map_err(std::io::Error::from))
        .map_err(|e| IngestError::io(dir, lost, e))
}

/// Writes `bytes` to `path` (inside `root`) atomically and durably (temp file, fsync, rename,
/// fsync dir).
pub fn write_atomic(root: &Path, path: &Path, bytes: &[u8], lost: &str) -> Result<()> {
    create_dir_within(root, path.parent().unwrap_or(root))?;
    let tmp = temp_path(path);
    let write = || -> std::io::Result<()> {
        let mut file = create_fresh(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()
    };
    if let Err(e) = write() {
        // A partial temporary file only takes space (on a full disk, the space needed next).
        let _ = fs::remove_file(&tmp);
        return Err(IngestError::io(&tmp, lost, e));
    }
    rename(&tmp, path, lost)?;
    sync_dir(path.parent().unwrap_or(root))
}

/// Creates the file `path` anew for writing: whatever had the name (a stale temporary file, a
/// planted link) is removed first, and `O_EXCL` never follows a link. The caller has checked the
/// directories above it ([`create_dir_within`]).
pub fn create_fresh(path: &Path) -> std::io::Result<File> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    OpenOptions::new().write(true).create_new(true).open(path)
}

/// Opens `path` (inside `root`, its directories created as needed) with `options`, refusing a
/// symbolic link anywhere below `root`: for files written in place (logs, the lock, the
/// write-ahead log).
pub fn open_within(root: &Path, path: &Path, options: &mut OpenOptions, lost: &str) -> Result<File> {
    create_dir_within(root, path.parent().unwrap_or(root))?;
    options
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => unsafe_path(path, "is a symbolic link; the engine never writes through one"),
            _ => IngestError::io(path, lost, e),
        })
}

/// Reads the file `path` inside `root`, refusing symbolic links below `root` (a read never leaves
/// the experiment either).
pub fn read_within(root: &Path, path: &Path) -> Result<Vec<u8>> {
    check_within(root, path.parent().unwrap_or(root))?;
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => unsafe_path(path, "is a symbolic link; the engine never follows one"),
            _ => IngestError::io(path, "nothing (reading)", e),
        })?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut bytes).map_err(|e| IngestError::io(path, "nothing (reading)", e))?;
    Ok(bytes)
}

fn unsafe_path(path: &Path, reason: &'static str) -> IngestError {
    IngestError::UnsafePath {
        path: path.to_path_buf(),
        reason,
    }
}

/// The components of `path` below `root` (`UnsafePath` if it is not below it).
fn below<'a>(root: &Path, path: &'a Path) -> Result<impl Iterator<Item = Component<'a>>> {
    let relative = path
        .strip_prefix(root)
        .map_err(|_| unsafe_path(path, "is outside the experiment directory"))?;
    if relative.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(unsafe_path(path, "has a component that is not a plain name"));
    }
    Ok(relative.components())
}

/// Checks that every existing directory from `root` down to `dir` is a real directory (no
/// symbolic link); a missing one ends the check (there is nothing below it to follow).
pub fn check_within(root: &Path, dir: &Path) -> Result<()> {
    let mut at = root.to_path_buf();
    for component in below(root, dir)? {
        at.push(component);
        match fs::symlink_metadata(&at) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(unsafe_path(&at, "is a symbolic link or a file, not a directory")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(IngestError::io(&at, "nothing (checking the path)", e)),
        }
    }
    Ok(())
}

/// Creates `dir` and its missing ancestors below `root`, one at a time, refusing any that exists
/// as a symbolic link or a file (`root` itself is created as its path says).
pub fn create_dir_within(root: &Path, dir: &Path) -> Result<()> {
    fs::create_dir_all(root).map_err(|e| IngestError::io(root, "directory", e))?;
    let mut at = root.to_path_buf();
    for component in below(root, dir)? {
        at.push(component);
        match fs::create_dir(&at) {
            Ok(()) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(IngestError::io(&at, "directory", e)),
        }
        match fs::symlink_metadata(&at) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(unsafe_path(&at, "is a symbolic link or a file, not a directory")),
            Err(e) => return Err(IngestError::io(&at, "directory", e)),
        }
    }
    Ok(())
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
