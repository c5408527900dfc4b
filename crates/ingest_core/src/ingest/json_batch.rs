//! Track entries as an ML-Dash client sends them (`append_batch`: `{"entries": [{"timestamp": t,
//! ...fields}, ...]}`), encoded straight into the batch format of [`super::wire`], so a server
//! hands a request body to the engine without making a JS object per entry.
//!
//! The fields are stored as an append from JS stores them: nested objects flatten to dotted names
//! (`{"cam": {"pos": …}}` is `cam.pos`), arrays of numbers are number lists, other arrays JSON
//! values; `_ts` (the SDK's own timestamp field) is not a field. A body that is not such an
//! object, an entry without a finite numeric `timestamp`, two names for one field (`a.b` beside
//! `a: {b}`) or nesting deeper than [`MAX_NESTING`] is refused as a whole: nothing of the body is
//! encoded.

use std::collections::HashMap;

use serde_json::{Map, Value as Json};

use super::wire::{encode_value, len_u32};
use crate::error::{IngestError, Result};
use crate::value::Value;

/// How deep nested objects may go (as appends from JS: `MAX_NESTING` in `src/wire.ts`).
pub const MAX_NESTING: usize = 100;

/// The entries of `body` as a batch of general entries of `topic`, and their number; `key_id`
/// names a field (it is asked once per distinct name).
pub fn encode_entries(body: &[u8], topic: u32, key_id: impl FnMut(&str) -> Result<u32>) -> Result<(Vec<u8>, u32)> {
    let invalid = |entry: Option<usize>, reason: String| IngestError::InvalidEntry { entry, reason };
    let parsed: Json = serde_json::from_slice(body).map_err(|e| invalid(None, format!("the body is not JSON: {e}")))?;
    let Some(Json::Array(entries)) = parsed.get("entries") else {
        return Err(invalid(None, "the body has no \"entries\" array".into()));
    };
    let mut keys = Keys {
        ids: HashMap::new(),
        key_id,
        name: String::new(),
    };
    let mut out = Vec::with_capacity(body.len());
    let mut fields: Vec<(u32, Value)> = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let Json::Object(entry) = entry else {
            return Err(invalid(Some(index), "an entry must be a JSON object".into()));
        };
        let timestamp = match entry.get("timestamp") {
            Some(Json::Number(n)) => n.as_f64().filter(|t| t.is_finite()),
            _ => None,
        }
        .ok_or_else(|| IngestError::InvalidTimestamp {
            entry: index,
            found: entry.get("timestamp").map_or_else(|| "nothing".into(), Json::to_string),
        })?;
        fields.clear();
        keys.flatten(entry, 0, &mut fields).map_err(|e| match e {
            Flatten::Invalid(reason) => invalid(Some(index), reason),
            Flatten::Key(error) => error,
        })?;
        // One name, one id: a name given twice (`a.b` beside `a: {b}`) shows as a repeated id.
        fields.sort_unstable_by_key(|(id, _)| *id);
        if fields.windows(2).any(|pair| pair[0].0 == pair[1].0) {
            return Err(invalid(
                Some(index),
                "a field is given twice (a dotted name and a nested object)".into(),
            ));
        }
        out.extend_from_slice(&topic.to_le_bytes());
        out.extend_from_slice(&len_u32(fields.len()).to_le_bytes());
        out.extend_from_slice(&timestamp.to_le_bytes());
        for (id, value) in &fields {
            out.extend_from_slice(&id.to_le_bytes());
            encode_value(&mut out, value);
        }
        out.resize(out.len().next_multiple_of(8), 0);
    }
    Ok((out, len_u32(entries.len())))
}

/// Why flattening stopped: the entry's fault, or naming a key failed.
enum Flatten {
    Invalid(String),
    Key(IngestError),
}

/// Key ids by field name, and the dotted name being built (one buffer for all entries).
struct Keys<F> {
    ids: HashMap<String, u32>,
    key_id: F,
    name: String,
}

impl<F: FnMut(&str) -> Result<u32>> Keys<F> {
    fn id(&mut self) -> Result<u32, Flatten> {
        if let Some(id) = self.ids.get(self.name.as_str()) {
            return Ok(*id);
        }
        let id = (self.key_id)(&self.name).map_err(Flatten::Key)?;
        self.ids.insert(self.name.clone(), id);
        Ok(id)
    }

    /// The fields of `object` (the top level skips `timestamp` and `_ts`), nested objects
    /// flattened under the name being built.
    fn flatten(
        &mut self,
        object: &Map<String, Json>,
        depth: usize,
        out: &mut Vec<(u32, Value)>,
    ) -> Result<(), Flatten> {
        if depth > MAX_NESTING {
            return Err(Flatten::Invalid(format!(
                "objects nested deeper than {MAX_NESTING} levels"
            )));
        }
        let prefix_len = self.name.len();
        for (key, value) in object {
            if depth == 0 && (key == "timestamp" || key == "_ts") {
                continue;
            }
            self.name.truncate(prefix_len);
            if depth > 0 {
                self.name.push('.');
            }
            self.name.push_str(key);
            let value = match value {
                Json::Object(nested) => {
                    self.flatten(nested, depth + 1, out)?;
                    continue;
                }
                Json::Null => Value::Null,
                Json::Bool(b) => Value::Bool(*b),
                Json::Number(n) => Value::F64(n.as_f64().unwrap_or(f64::NAN)),
                Json::String(s) => Value::Str(s.as_str().into()),
                Json::Array(items) => match items.iter().map(Json::as_f64).collect::<Option<Box<[f64]>>>() {
                    Some(numbers) => Value::F64List(numbers),
                    None => Value::Json(value.to_string().into()),
                },
            };
            out.push((self.id()?, value));
        }
        self.name.truncate(prefix_len);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::wire::{decode_batch, Field};

    fn decode(bytes: &[u8], names: &HashMap<u32, String>) -> Vec<(f64, Vec<(String, Value)>)> {
        let mut entries = Vec::new();
        decode_batch(bytes, &[], |entry| {
            assert_eq!(entry.topic, 4);
            let fields = entry
                .fields
                .iter()
                .map(|(key, field)| {
                    let value = match field {
                        Field::Value(value) => value.clone(),
                        Field::Packed { kind, bytes } => kind.value(bytes),
                    };
                    (names[key].clone(), value)
                })
                .collect();
            entries.push((entry.timestamp, fields));
            Ok(())
        })
        .unwrap();
        entries
    }

    #[test]
    fn entries_encode_as_appends_from_js_would() {
        let body = br#"{"entries":[{"timestamp":1.0,"cam":{"pos":[1.5,2.5],"id":7}},{"timestamp":3,"x":1,"tags":["a","b"],"ok":true,"n":null,"s":"\u00fc","_ts":9}]}"#;
        let mut names = HashMap::new();
        let (bytes, count) = encode_entries(body, 4, |name| {
            let id = u32::try_from(names.len()).unwrap();
            names.insert(id, name.to_string());
            Ok(id)
        })
        .unwrap();
        assert_eq!(count, 2);
        let entries = decode(&bytes, &names);
        assert_eq!(entries[0].0, 1.0);
        assert_eq!(
            entries[0].1,
            vec![
                ("cam.id".to_string(), Value::F64(7.0)),
                ("cam.pos".to_string(), Value::F64List(vec![1.5, 2.5].into())),
            ]
        );
        assert_eq!(entries[1].0, 3.0);
        assert_eq!(
            entries[1].1,
            vec![
                ("n".to_string(), Value::Null),
                ("ok".to_string(), Value::Bool(true)),
                ("s".to_string(), Value::Str("ü".into())),
                ("tags".to_string(), Value::Json("[\"a\",\"b\"]".into())),
                ("x".to_string(), Value::F64(1.0)),
            ]
        );
    }

    #[test]
    fn bad_bodies_are_refused_whole() {
        let code = |body: &str| encode_entries(body.as_bytes(), 0, |_| Ok(0)).unwrap_err().code();
        assert_eq!(code("{not json"), "ERR_DASH_INVALID_ARGUMENT");
        assert_eq!(code(r#"{"entries": 3}"#), "ERR_DASH_INVALID_ARGUMENT");
        assert_eq!(
            code(r#"{"entries": [{"timestamp": 1}, 5]}"#),
            "ERR_DASH_INVALID_ARGUMENT"
        );
        assert_eq!(
            code(r#"{"entries": [{"timestamp": 1}, {"x": 1}]}"#),
            "ERR_DASH_INVALID_TIMESTAMP"
        );
        assert_eq!(
            code(r#"{"entries": [{"timestamp": "user-field"}]}"#),
            "ERR_DASH_INVALID_TIMESTAMP"
        );
        assert_eq!(
            code(r#"{"entries": [{"timestamp": 1e999}]}"#),
            "ERR_DASH_INVALID_ARGUMENT"
        );
        assert_eq!(
            code(r#"{"entries": [{"timestamp": 1, "a.b": 1, "a": {"b": 2}}]}"#),
            "ERR_DASH_INVALID_ARGUMENT"
        );
        let deep = format!(
            "{{\"entries\": [{{\"timestamp\": 1, \"a\": {}1{}}}]}}",
            "{\"n\":".repeat(120),
            "}".repeat(120)
        );
        assert_eq!(code(&deep), "ERR_DASH_INVALID_ARGUMENT");
    }
}
