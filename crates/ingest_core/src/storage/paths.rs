//! Names that become paths. Every prefix, topic and file name passes through here before any
//! path is built from it, so nothing can be written outside `dashRoot`.

use crate::error::{IngestError, Result};

/// Longest file-name component Linux file systems accept.
const MAX_COMPONENT_BYTES: usize = 255;
const MAX_PATH_BYTES: usize = 1024;

fn invalid(what: &'static str, name: &str, reason: &'static str) -> IngestError {
    IngestError::InvalidName {
        what,
        name: name.chars().take(200).collect(),
        reason,
    }
}

/// Checks a `/`-separated relative name (a prefix, topic, metric name, file path): non-empty
/// components, none `.` or `..`, no NUL, backslash or control characters, bounded lengths.
pub fn check_relative(what: &'static str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(invalid(what, name, "must not be empty"));
    }
    if name.len() > MAX_PATH_BYTES {
        return Err(invalid(what, name, "is longer than 1024 bytes"));
    }
    if name.chars().any(|c| c.is_control() || c == '\\') {
        return Err(invalid(
            what,
            name,
            "must not contain control characters, NUL or backslashes",
        ));
    }
    if name.starts_with('/') {
        return Err(invalid(what, name, "must be relative (no leading '/')"));
    }
    for component in name.split('/') {
        match component {
            "" => {
                return Err(invalid(
                    what,
                    name,
                    "must not contain empty components ('//' or a trailing '/')",
                ))
            }
            "." | ".." => return Err(invalid(what, name, "must not contain '.' or '..' components")),
            c if c.len() > MAX_COMPONENT_BYTES => {
                return Err(invalid(what, name, "has a component longer than 255 bytes"))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Names a metric's directory holds for itself: a metric name with such a component would put a
/// directory where another metric keeps that file (`a/data.jsonl` beside `a`).
const METRIC_FILES: [&str; 2] = ["data.jsonl", "metadata.json"];

/// Validates a metric name (`metrics/<name>/`): a relative name, no component a metric's own file.
pub fn metric_name(name: &str) -> Result<()> {
    check_relative("metric name", name)?;
    if name.split('/').any(|c| METRIC_FILES.contains(&c)) {
        return Err(invalid(
            "metric name",
            name,
            "must not have a component named data.jsonl or metadata.json (the files of a metric)",
        ));
    }
    Ok(())
}

/// The file that records every file of an experiment (`files/.files_metadata.json`).
pub const FILES_METADATA: &str = ".files_metadata.json";

/// Validates a `files(prefix)` prefix (`files/<prefix>/…`): a relative name that does not start
/// with the files' own record file.
pub fn file_prefix(prefix: &str) -> Result<()> {
    check_relative("file prefix", prefix)?;
    if prefix.split('/').next() == Some(FILES_METADATA) {
        return Err(invalid(
            "file prefix",
            prefix,
            "must not start with .files_metadata.json (the record of every file)",
        ));
    }
    Ok(())
}

/// Validates an experiment prefix (`project/exp` or `owner/project/…/exp`); surrounding slashes are
/// trimmed as the SDK does. Returns the normalized prefix.
pub fn experiment_prefix(prefix: &str) -> Result<String> {
    let trimmed = prefix.trim_matches('/');
    check_relative("experiment prefix", trimmed)?;
    Ok(trimmed.to_string())
}

/// Validates a topic and returns its directory name (`/` replaced by `_`, as the SDK does).
pub fn topic_dir(topic: &str) -> Result<String> {
    check_relative("topic", topic)?;
    let dir = topic.replace('/', "_");
    if dir.len() > MAX_COMPONENT_BYTES {
        return Err(invalid(
            "topic",
            topic,
            "maps to a directory name longer than 255 bytes",
        ));
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_are_refused() {
        for bad in ["", "../x", "a/../b", "/abs", "a//b", "a/", "a\0b", "a\\b", ".", "x/./y"] {
            assert_eq!(topic_dir(bad).unwrap_err().code(), "ERR_DASH_INVALID_NAME", "{bad:?}");
        }
        assert!(topic_dir(&"x".repeat(256)).is_err());
        assert!(experiment_prefix("../escape").is_err());
        assert_eq!(metric_name("a/data.jsonl").unwrap_err().code(), "ERR_DASH_INVALID_NAME");
        assert_eq!(
            metric_name("metadata.json/x").unwrap_err().code(),
            "ERR_DASH_INVALID_NAME"
        );
        assert!(metric_name("train/loss.jsonl").is_ok());
        assert_eq!(
            file_prefix(".files_metadata.json/x").unwrap_err().code(),
            "ERR_DASH_INVALID_NAME"
        );
        assert!(file_prefix("x/.files_metadata.json").is_ok());
    }

    #[test]
    fn topics_map_like_the_sdk() {
        assert_eq!(topic_dir("robot/position").unwrap(), "robot_position");
        assert_eq!(experiment_prefix("/robotics/training/").unwrap(), "robotics/training");
    }
}
