//! `experiment.json`: the ml-dash fields plus `status`, merged into whatever is already there so
//! an experiment continued by a later run keeps its history.

use std::path::Path;

use serde_json::{Map, Value as Json};

use crate::error::{IngestError, Result};
use crate::{storage::fsx, storage::jsonl, time};

pub const EXPERIMENT_FILE: &str = "experiment.json";

/// The order of the SDK's own fields in `experiment.json` (then `updated_at` when re-opened).
const SDK_ORDER: [&str; 10] = [
    "name",
    "project",
    "description",
    "tags",
    "bindrs",
    "prefix",
    "metadata",
    "created_at",
    "write_protected",
    "updated_at",
];

/// Merges `fields` into `<dir>/experiment.json` and writes it atomically. A new record gets
/// `defaults` and `created_at` (and the experiment its `logs/`, `metrics/` and `files/`
/// directories); an existing one keeps its values for keys in `defaults` and gets `updated_at`.
pub fn update(dir: &Path, fields: Map<String, Json>, defaults: Map<String, Json>) -> Result<Map<String, Json>> {
    let path = dir.join(EXPERIMENT_FILE);
    let mut record = match fsx::read_json(&path)? {
        Some(Json::Object(existing)) => existing,
        Some(_) => return Err(IngestError::corrupt(&path, "not a JSON object")),
        None => Map::new(),
    };
    let now = time::utc_now_iso();
    if record.is_empty() {
        record.insert("created_at".into(), Json::String(now));
        record.extend(defaults);
        // As the SDK, which creates them when it opens an experiment.
        for sub in ["logs", "metrics", "files"] {
            fsx::create_dir_within(dir, &dir.join(sub))?;
        }
    } else {
        record.insert("updated_at".into(), Json::String(now));
    }
    record.extend(fields);
    // The SDK's fields in its order, then ours (status, engine, times) as they came.
    let mut ordered = Map::new();
    for key in SDK_ORDER {
        if let Some(value) = record.remove(key) {
            ordered.insert(key.into(), value);
        }
    }
    ordered.extend(record);
    fsx::write_atomic(
        dir,
        &path,
        jsonl::python_json(&Json::Object(ordered.clone())).as_bytes(),
        "experiment metadata",
    )?;
    Ok(ordered)
}
