//! What experiment directories hold, read without the experiment's lock and without writing
//! anything: what the command line's `ls` and `inspect` show. Like every reader it may run while
//! an engine writes; it reports each file as it finds it (lines a writer has not finished are not
//! counted), and never follows a symbolic link.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json};

use crate::error::{IngestError, Result};
use crate::sdk::files::Files;
use crate::storage::track_store::{self, TrackStore, TrackSummary};
use crate::storage::{fsx, paths};

/// The file that makes a directory an experiment.
const EXPERIMENT_FILE: &str = "experiment.json";

/// One experiment directory's contents.
#[derive(Debug)]
pub struct Inventory {
    /// The experiment's record (`experiment.json`): status, tags, `created_at`, …
    pub record: Map<String, Json>,
    /// Every track, sorted by directory name.
    pub tracks: Vec<TrackSummary>,
    /// Every metric with its number of points, sorted by name.
    pub metrics: Vec<(String, u64)>,
    /// Lines in `logs/logs.jsonl`.
    pub log_lines: u64,
    /// The records of the live files.
    pub files: Vec<Json>,
    /// Bytes of every file under the experiment directory.
    pub disk_bytes: u64,
}

/// The prefixes of every experiment under `dash_root` (directories holding an `experiment.json`;
/// an experiment's own subdirectories are not searched), sorted. A missing root is `NotFound`.
pub fn find_experiments(dash_root: &Path) -> Result<Vec<String>> {
    if !real_dir(dash_root) {
        return Err(IngestError::NotFound {
            what: "dash root",
            name: dash_root.display().to_string(),
        });
    }
    let mut found = Vec::new();
    let mut pending = vec![dash_root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        if dir != dash_root && dir.join(EXPERIMENT_FILE).is_file() {
            let relative = dir.strip_prefix(dash_root).unwrap_or(&dir);
            found.push(relative.to_string_lossy().replace(std::path::MAIN_SEPARATOR, "/"));
            continue;
        }
        pending.extend(subdirectories(&dir)?);
    }
    found.sort();
    Ok(found)
}

/// The contents of the experiment `<dash_root>/<prefix>` (`NotFound` if it has no
/// `experiment.json` and no tracks).
pub fn describe(dash_root: &Path, prefix: &str) -> Result<Inventory> {
    let dir = dash_root.join(paths::experiment_prefix(prefix)?);
    fsx::check_within(dash_root, &dir)?;
    let found = fsx::read_json(&dir.join(EXPERIMENT_FILE))?;
    let has_record = found.is_some();
    let record = match found {
        Some(Json::Object(record)) => record,
        _ => Map::new(),
    };
    let mut tracks = Vec::new();
    for (track_dir, topic) in track_store::track_dirs(&dir.join("tracks"))? {
        tracks.push(TrackStore::open(&dir, track_dir, &topic)?.summary()?);
    }
    if !has_record && tracks.is_empty() {
        return Err(IngestError::NotFound {
            what: "experiment",
            name: format!("{prefix} (under {})", dash_root.display()),
        });
    }
    let mut metrics = Vec::new();
    for metric_dir in subdirectories(&dir.join("metrics"))? {
        let name = metric_dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        metrics.push((name, complete_lines(&dir, &metric_dir.join("data.jsonl"))?));
    }
    metrics.sort();
    Ok(Inventory {
        record,
        tracks,
        metrics,
        log_lines: complete_lines(&dir, &dir.join("logs").join("logs.jsonl"))?,
        files: Files::new(&dir).list()?,
        disk_bytes: disk_bytes(&dir)?,
    })
}

/// Whether `path` is a directory itself, not a symbolic link to one.
fn real_dir(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|meta| meta.is_dir())
}

/// The real directories (no symbolic links) directly in `dir`; none if it does not exist.
pub(crate) fn subdirectories(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(IngestError::io(dir, "nothing (listing)", e)),
    };
    Ok(entries
        .flatten()
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .map(|entry| entry.path())
        .collect())
}

/// The newline-terminated lines of the JSON lines file `path` inside `root` (0 if it is missing).
fn complete_lines(root: &Path, path: &Path) -> Result<u64> {
    match fsx::read_within(root, path) {
        Ok(bytes) => Ok(bytes.iter().filter(|&&b| b == b'\n').count() as u64),
        Err(e) if e.is_not_found() => Ok(0),
        Err(e) => Err(e),
    }
}

/// Bytes of the regular files under `dir`, not following symbolic links.
fn disk_bytes(dir: &Path) -> Result<u64> {
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            // A writer may remove a directory (a replaced file's) while this walks.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(IngestError::io(&dir, "nothing (listing)", e)),
        };
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => pending.push(entry.path()),
                Ok(t) if t.is_file() => total += entry.metadata().map_or(0, |m| m.len()),
                _ => {}
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_experiments_without_following_links() {
        let root = std::env::temp_dir().join(format!("inventory-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for prefix in ["team/a", "team/b/nested", "solo"] {
            std::fs::create_dir_all(root.join(prefix)).unwrap();
            std::fs::write(root.join(prefix).join(EXPERIMENT_FILE), "{}").unwrap();
        }
        std::fs::create_dir_all(root.join("team/a/tracks/x")).unwrap();
        std::fs::write(root.join("team/a/tracks/x/experiment.json"), "{}").unwrap();
        std::os::unix::fs::symlink(root.join("team"), root.join("link")).unwrap();
        assert_eq!(find_experiments(&root).unwrap(), ["solo", "team/a", "team/b/nested"]);
        let inventory = describe(&root, "team/a").unwrap();
        assert!(inventory.tracks.is_empty());
        assert_eq!(inventory.disk_bytes, 4);
        assert!(matches!(
            describe(&root, "team/none"),
            Err(IngestError::NotFound { .. })
        ));
        assert!(matches!(describe(&root, "link/a"), Err(IngestError::UnsafePath { .. })));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
