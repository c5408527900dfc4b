//! `experiment.json`: the ml-dash fields plus `status`, merged into whatever is already there so
//! an experiment continued by a later run keeps its history.

use std::path::Path;

use serde_json::{Map, Value as Json};

use crate::error::{IngestError, Result};
use crate::{storage::fsx, time};

pub const EXPERIMENT_FILE: &str = "experiment.json";

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
    fsx::write_atomic(
        dir,
        &path,
        Json::Object(record.clone()).to_string().as_bytes(),
        "experiment metadata",
    )?;
    Ok(record)
}
