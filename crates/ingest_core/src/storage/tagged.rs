//! Lossless JSON text for one value, used by `Mixed` columns (a column whose values change kind,
//! or that holds explicit nulls): `{"t": <kind name>, "v": <payload>}`. Non-finite floats and
//! 64-bit integers are strings, so nothing depends on a JSON reader's number handling.

use serde_json::{json, Map, Number, Value as Json};

use crate::value::{Elem, Element, Kind, Value};

fn float_json(v: f64) -> Json {
    Number::from_f64(v).map_or_else(|| Json::String(float_name(v).into()), Json::Number)
}

fn float_name(v: f64) -> &'static str {
    if v.is_nan() {
        "NaN"
    } else if v > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

fn json_float(v: &Json) -> Option<f64> {
    match v {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

/// Each element of a typed array as JSON (64-bit integers as decimal strings).
fn typed_elements(elem: Elem, bytes: &[u8]) -> Vec<Json> {
    let wide = matches!(elem, Elem::I64 | Elem::U64);
    elem.elements(bytes)
        .map(|element| match element {
            Element::Int(v) if wide => Json::String(v.to_string()),
            // Narrower integers fit an i64.
            Element::Int(v) => i64::try_from(v).map_or_else(|_| Json::String(v.to_string()), |v| json!(v)),
            Element::Float(v) => float_json(v),
        })
        .collect()
}

fn typed_bytes(elem: Elem, items: &[Json]) -> Option<Box<[u8]>> {
    let mut out = Vec::with_capacity(items.len() * elem.size());
    for item in items {
        match elem {
            Elem::I8 => out.extend_from_slice(&i8::try_from(item.as_i64()?).ok()?.to_le_bytes()),
            Elem::U8 | Elem::U8Clamped => out.push(u8::try_from(item.as_u64()?).ok()?),
            Elem::I16 => out.extend_from_slice(&i16::try_from(item.as_i64()?).ok()?.to_le_bytes()),
            Elem::U16 => out.extend_from_slice(&u16::try_from(item.as_u64()?).ok()?.to_le_bytes()),
            Elem::I32 => out.extend_from_slice(&i32::try_from(item.as_i64()?).ok()?.to_le_bytes()),
            Elem::U32 => out.extend_from_slice(&u32::try_from(item.as_u64()?).ok()?.to_le_bytes()),
            // The value came from an f32, so narrowing it back is exact.
            #[allow(clippy::cast_possible_truncation)]
            Elem::F32 => out.extend_from_slice(&(json_float(item)? as f32).to_le_bytes()),
            Elem::F64 => out.extend_from_slice(&json_float(item)?.to_le_bytes()),
            Elem::I64 => out.extend_from_slice(&item.as_str()?.parse::<i64>().ok()?.to_le_bytes()),
            Elem::U64 => out.extend_from_slice(&item.as_str()?.parse::<u64>().ok()?.to_le_bytes()),
        }
    }
    Some(out.into())
}

/// The tagged JSON text of `value`.
pub fn encode(value: &Value) -> String {
    let kind = match value {
        Value::Null => "null".to_string(),
        other => other.kind().name(),
    };
    let payload = match value {
        Value::Null => Json::Null,
        Value::F64(v) => float_json(*v),
        Value::Bool(b) => Json::Bool(*b),
        Value::Str(s) => Json::String(s.to_string()),
        Value::BigInt(v) => Json::String(v.to_string()),
        Value::F64List(values) => Json::Array(values.iter().map(|v| float_json(*v)).collect()),
        Value::Typed { elem, bytes } => Json::Array(typed_elements(*elem, bytes)),
        // Kept as text so key order and number spelling survive exactly.
        Value::Json(text) => Json::String(text.to_string()),
    };
    let mut object = Map::new();
    object.insert("t".into(), Json::String(kind));
    object.insert("v".into(), payload);
    Json::Object(object).to_string()
}

/// Parses text written by `encode`; `None` if it is not such text.
pub fn decode(text: &str) -> Option<Value> {
    let parsed: Json = serde_json::from_str(text).ok()?;
    let kind = parsed.get("t")?.as_str()?;
    let payload = parsed.get("v")?;
    if kind == "null" {
        return Some(Value::Null);
    }
    Some(match Kind::from_name(kind)? {
        Kind::F64 => Value::F64(json_float(payload)?),
        Kind::Bool => Value::Bool(payload.as_bool()?),
        Kind::Str => Value::Str(payload.as_str()?.into()),
        Kind::BigInt => Value::BigInt(payload.as_str()?.parse().ok()?),
        Kind::F64List => Value::F64List(payload.as_array()?.iter().map(json_float).collect::<Option<_>>()?),
        Kind::Typed(elem) => Value::Typed {
            elem,
            bytes: typed_bytes(elem, payload.as_array()?)?,
        },
        Kind::Json => Value::Json(payload.as_str()?.into()),
        Kind::Null => Value::Null,
        Kind::Mixed => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips() {
        let mut typed = Vec::new();
        for elem in Elem::ALL {
            let bytes: Vec<u8> = (0..elem.size() * 3).map(|i| (i * 37 % 251) as u8).collect();
            // Float patterns from arbitrary bytes may be NaN with payload bits; keep them ordinary.
            if matches!(elem, Elem::F32 | Elem::F64) {
                continue;
            }
            typed.push(Value::Typed {
                elem,
                bytes: bytes.into(),
            });
        }
        let values = [
            Value::Null,
            Value::F64(-0.0),
            Value::F64(f64::NEG_INFINITY),
            Value::F64(0.1),
            Value::Bool(true),
            Value::Str("\"quoted\" ü".into()),
            Value::BigInt(i64::MAX),
            Value::F64List(vec![1.0, f64::NAN].into()),
            Value::Typed {
                elem: Elem::F32,
                bytes: [0.1f32.to_le_bytes(), (-2.5f32).to_le_bytes()].concat().into(),
            },
            Value::Json("[\"a\",{\"b\":[1,2]}]".into()),
        ];
        for value in values.iter().chain(typed.iter()) {
            let back = decode(&encode(value)).expect("decodes");
            assert!(back.identical(value), "{value:?} came back as {back:?}");
        }
    }
}
