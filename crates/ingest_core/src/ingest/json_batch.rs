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

use std::borrow::Cow;
use std::collections::HashMap;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value as Json;

use super::wire::{encode_value, len_u32};
use crate::error::{IngestError, Result};
use crate::value::Value;

/// How deep nested objects may go (as appends from JS: `MAX_NESTING` in `src/wire.ts`).
pub const MAX_NESTING: usize = 100;

/// The entries of `body` as a batch of general entries of `topic`, and their number; `key_id`
/// names a field (it is asked once per distinct name). The body is read as a stream: entries go
/// into the batch as they are parsed, with no JSON tree in between.
pub fn encode_entries(body: &[u8], topic: u32, key_id: impl FnMut(&str) -> Result<u32>) -> Result<(Vec<u8>, u32)> {
    let mut encoder = Encoder {
        topic,
        out: Vec::with_capacity(body.len()),
        entries: None,
        ids: HashMap::new(),
        key_id,
        name: String::new(),
        entry_ids: Vec::new(),
        failure: None,
    };
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let parsed = BodySeed(&mut encoder)
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end());
    if let Some(failure) = encoder.failure.take() {
        return Err(failure);
    }
    parsed.map_err(|e| IngestError::InvalidEntry {
        entry: None,
        reason: format!("the body is not JSON: {e}"),
    })?;
    let Some(entries) = encoder.entries else {
        return Err(IngestError::InvalidEntry {
            entry: None,
            reason: "the body has no \"entries\" array".into(),
        });
    };
    Ok((encoder.out, entries))
}

/// The batch being written, and what naming its fields needs. A refusal that is not a JSON
/// syntax error is kept in `failure` (serde's errors carry text only).
struct Encoder<F> {
    topic: u32,
    out: Vec<u8>,
    /// Entries written; `None` until the `entries` array is found.
    entries: Option<u32>,
    ids: HashMap<String, u32>,
    key_id: F,
    /// The dotted name being built (one buffer for all entries).
    name: String,
    /// The key ids of the entry being written, to find a name given twice.
    entry_ids: Vec<u32>,
    failure: Option<IngestError>,
}

impl<F: FnMut(&str) -> Result<u32>> Encoder<F> {
    fn fail<E: de::Error>(&mut self, error: IngestError) -> E {
        let message = error.to_string();
        self.failure.get_or_insert(error);
        E::custom(message)
    }

    fn invalid<E: de::Error>(&mut self, reason: String) -> E {
        let entry = Some(self.entry_index());
        self.fail(IngestError::InvalidEntry { entry, reason })
    }

    /// The index of the entry being written.
    fn entry_index(&self) -> usize {
        self.entries.unwrap_or(0) as usize
    }

    /// The key id of the name being built.
    fn id<E: de::Error>(&mut self) -> Result<u32, E> {
        if let Some(id) = self.ids.get(self.name.as_str()) {
            return Ok(*id);
        }
        match (self.key_id)(&self.name) {
            Ok(id) => {
                self.ids.insert(self.name.clone(), id);
                Ok(id)
            }
            Err(error) => Err(self.fail(error)),
        }
    }

    /// Writes one field of the entry: the name being built, then `value`.
    fn field<E: de::Error>(&mut self, value: &Value) -> Result<(), E> {
        let id = self.id()?;
        self.entry_ids.push(id);
        self.out.extend_from_slice(&id.to_le_bytes());
        encode_value(&mut self.out, value);
        Ok(())
    }
}

/// The body: an object whose `entries` array is encoded; other keys are ignored.
struct BodySeed<'a, F>(&'a mut Encoder<F>);

impl<'de, F: FnMut(&str) -> Result<u32>> DeserializeSeed<'de> for BodySeed<'_, F> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, F: FnMut(&str) -> Result<u32>> Visitor<'de> for BodySeed<'_, F> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object with an \"entries\" array")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key<'de>>()? {
            if key.0 == "entries" {
                map.next_value_seed(EntriesSeed(&mut *self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct EntriesSeed<'a, F>(&'a mut Encoder<F>);

impl<'de, F: FnMut(&str) -> Result<u32>> DeserializeSeed<'de> for EntriesSeed<'_, F> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(&str) -> Result<u32>> Visitor<'de> for EntriesSeed<'_, F> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of entries")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.0.entries = Some(0);
        while seq.next_element_seed(EntrySeed(&mut *self.0))?.is_some() {
            self.0.entries = self.0.entries.map(|n| n + 1);
        }
        Ok(())
    }
}

/// One entry: its header written first (count and timestamp filled in at its end), then each
/// field as it is parsed.
struct EntrySeed<'a, F>(&'a mut Encoder<F>);

impl<'de, F: FnMut(&str) -> Result<u32>> DeserializeSeed<'de> for EntrySeed<'_, F> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, F: FnMut(&str) -> Result<u32>> Visitor<'de> for EntrySeed<'_, F> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an entry object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let encoder = self.0;
        let header = encoder.out.len();
        encoder.out.extend_from_slice(&encoder.topic.to_le_bytes());
        encoder.out.extend_from_slice(&[0; 12]); // field count and timestamp, below
        encoder.entry_ids.clear();
        let mut timestamp: Option<Timestamp> = None;
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match key.0.as_ref() {
                "timestamp" => timestamp = Some(map.next_value::<Timestamp>()?),
                "_ts" => {
                    map.next_value::<IgnoredAny>()?;
                }
                name => {
                    encoder.name.clear();
                    encoder.name.push_str(name);
                    map.next_value_seed(FieldSeed {
                        encoder: &mut *encoder,
                        depth: 0,
                    })?;
                }
            }
        }
        let Some(Timestamp(Some(timestamp))) = timestamp else {
            let found = match timestamp {
                Some(Timestamp(_)) => "a value that is not a finite number",
                None => "nothing",
            };
            let entry = encoder.entry_index();
            return Err(encoder.fail(IngestError::InvalidTimestamp {
                entry,
                found: found.into(),
            }));
        };
        // One name, one id: a name given twice (`a.b` beside `a: {b}`) shows as a repeated id.
        encoder.entry_ids.sort_unstable();
        if encoder.entry_ids.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(encoder
                .invalid("a field is given twice (a key repeated, or a dotted name beside a nested object)".into()));
        }
        let count = len_u32(encoder.entry_ids.len()).to_le_bytes();
        encoder.out[header + 4..header + 8].copy_from_slice(&count);
        encoder.out[header + 8..header + 16].copy_from_slice(&timestamp.to_le_bytes());
        encoder.out.resize(encoder.out.len().next_multiple_of(8), 0);
        Ok(())
    }
}

/// An object key, borrowed from the body unless it has escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// A `timestamp` value: `Some` for a finite number, `None` for anything else.
struct Timestamp(Option<f64>);

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Json::deserialize(deserializer)?;
        Ok(Timestamp(value.as_f64().filter(|t| t.is_finite() && value.is_number())))
    }
}

/// A field's value, under the name being built; a nested object adds its keys to the name.
struct FieldSeed<'a, F> {
    encoder: &'a mut Encoder<F>,
    depth: usize,
}

impl<'de, F: FnMut(&str) -> Result<u32>> DeserializeSeed<'de> for FieldSeed<'_, F> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, F: FnMut(&str) -> Result<u32>> Visitor<'de> for FieldSeed<'_, F> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.encoder.field(&Value::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.encoder.field(&Value::Bool(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.encoder.field(&Value::F64(v))
    }
    #[allow(clippy::cast_precision_loss)] // as JSON.parse reads it
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.encoder.field(&Value::F64(v as f64))
    }
    #[allow(clippy::cast_precision_loss)] // as JSON.parse reads it
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.encoder.field(&Value::F64(v as f64))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.encoder.field(&Value::Str(v.into()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        // Arrays are rare in entries: read whole, then stored as a number list or JSON.
        let items = Vec::<Json>::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        let value = match items.iter().map(Json::as_f64).collect::<Option<Box<[f64]>>>() {
            Some(numbers) => Value::F64List(numbers),
            None => Value::Json(Json::Array(items).to_string().into()),
        };
        self.encoder.field(&value)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let encoder = self.encoder;
        if self.depth >= MAX_NESTING {
            return Err(encoder.invalid(format!("objects nested deeper than {MAX_NESTING} levels")));
        }
        let prefix_len = encoder.name.len();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            encoder.name.truncate(prefix_len);
            encoder.name.push('.');
            encoder.name.push_str(&key.0);
            map.next_value_seed(FieldSeed {
                encoder: &mut *encoder,
                depth: self.depth + 1,
            })?;
        }
        encoder.name.truncate(prefix_len);
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
            let mut fields = entry
                .fields
                .iter()
                .map(|(key, field)| {
                    let value = match field {
                        Field::Value(value) => value.clone(),
                        Field::Packed { kind, bytes } => kind.value(bytes),
                    };
                    (names[key].clone(), value)
                })
                .collect::<Vec<_>>();
            // Field order within an entry carries no meaning.
            fields.sort_by(|a, b| a.0.cmp(&b.0));
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
        assert_eq!(code("{}"), "ERR_DASH_INVALID_ARGUMENT");
        assert_eq!(code(r#"{"other": [{"timestamp": 1}]}"#), "ERR_DASH_INVALID_ARGUMENT");
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
