//! JSON lines the way the Python ml-dash SDK writes and reads them (`json.dumps` / `json.loads`):
//! one object per line, `{"timestamp": …, …fields}`, ASCII only (`\uXXXX` escapes), floats with a
//! decimal point, and the `NaN` / `Infinity` / `-Infinity` literals Python's json module uses.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value as Json;

use crate::error::{IngestError, Result};
use crate::merge::table::{ColumnName, Table};
use crate::value::{Elem, Element, Value};

/// A float as Python's `json.dumps` writes it (`1.0`, `0.1`, `1e-07`-style exponents are fine for
/// `json.loads`), so it reads back as the same double.
fn write_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        // Debug formatting is the shortest round-trip form and always has a '.' or exponent.
        let _ = write!(out, "{v:?}");
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Re-serializes parsed JSON with the escaping rules above.
fn write_json(out: &mut String, value: &Json) {
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Json::String(s) => write_string(out, s),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json(out, item);
            }
            out.push(']');
        }
        Json::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_string(out, key);
                out.push_str(": ");
                write_json(out, item);
            }
            out.push('}');
        }
    }
}

fn write_typed(out: &mut String, elem: Elem, bytes: &[u8]) {
    out.push('[');
    for (i, element) in elem.elements(bytes).enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        match element {
            Element::Int(v) => {
                let _ = write!(out, "{v}");
            }
            Element::Float(v) => write_float(out, v),
        }
    }
    out.push(']');
}

/// Writes one value as Python-compatible JSON.
pub fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::F64(v) => write_float(out, *v),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Str(s) => write_string(out, s),
        Value::BigInt(v) => {
            let _ = write!(out, "{v}");
        }
        Value::F64List(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_float(out, *v);
            }
            out.push(']');
        }
        Value::Typed { elem, bytes } => write_typed(out, *elem, bytes),
        Value::Json(text) => match serde_json::from_str::<Json>(text) {
            Ok(parsed) => write_json(out, &parsed),
            Err(_) => write_string(out, text),
        },
    }
}

/// The rows of `table` as JSON lines, each ending in `\n`.
pub fn write_rows(table: &Table) -> String {
    let mut out = String::new();
    for (row, timestamp) in table.timestamps().iter().enumerate() {
        out.push_str("{\"timestamp\": ");
        write_float(&mut out, *timestamp);
        for column in table.columns() {
            if let Some(value) = column.get(row) {
                out.push_str(", ");
                write_string(&mut out, &column.name);
                out.push_str(": ");
                write_value(&mut out, &value);
            }
        }
        out.push_str("}\n");
    }
    out
}

/// Replaces the bare `NaN` / `Infinity` / `-Infinity` tokens Python writes (outside strings) with
/// marker strings serde_json accepts; `from_json` turns them back into floats.
fn quote_non_finite(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let token = ["-Infinity", "Infinity", "NaN"]
            .into_iter()
            .find(|t| rest.starts_with(t));
        match token {
            Some(token) => {
                out.push_str("\"\\u0000");
                out.push_str(token);
                out.push('"');
                rest = &rest[token.len()..];
            }
            None => {
                if c == '"' {
                    in_string = true;
                }
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

fn non_finite(value: &Json) -> Option<f64> {
    match value.as_str()? {
        "\u{0}NaN" => Some(f64::NAN),
        "\u{0}Infinity" => Some(f64::INFINITY),
        "\u{0}-Infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

/// A parsed SDK value as an engine value. Non-finite floats at the top level or in a list of
/// numbers become floats again; inside other nested JSON (which JSON cannot hold them in) they stay
/// the marker strings.
fn from_json(value: Json) -> Value {
    if let Some(v) = non_finite(&value) {
        return Value::F64(v);
    }
    match value {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(b),
        Json::Number(n) => Value::F64(n.as_f64().unwrap_or(f64::NAN)),
        Json::String(s) => Value::Str(s.into()),
        Json::Array(items) => {
            let numbers: Option<Vec<f64>> = items
                .iter()
                .map(|item| item.as_f64().or_else(|| non_finite(item)))
                .collect();
            match numbers {
                Some(numbers) => Value::F64List(numbers.into()),
                None => Value::Json(Json::Array(items).to_string().into()),
            }
        }
        object @ Json::Object(_) => Value::Json(object.to_string().into()),
    }
}

/// Reads an SDK `data.jsonl` into a normalized table (entries with equal timestamps merge).
/// Parses one line the SDK (or this engine) wrote, Python's non-finite literals included; `None`
/// unless it is a JSON object.
pub(crate) fn parse_line(line: &str) -> Option<Json> {
    serde_json::from_str(&quote_non_finite(line))
        .ok()
        .filter(Json::is_object)
}

pub fn read_rows(path: &Path) -> Result<Table> {
    let text = std::fs::read_to_string(path).map_err(|e| IngestError::io(path, "nothing (reading)", e))?;
    let mut table = Table::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Json = serde_json::from_str(&quote_non_finite(line))
            .map_err(|e| IngestError::corrupt(path, format!("line {}: {e}", number + 1)))?;
        let Json::Object(fields) = parsed else {
            return Err(IngestError::corrupt(
                path,
                format!("line {} is not an object", number + 1),
            ));
        };
        let mut timestamp = None;
        let mut row: Vec<(ColumnName, Value)> = Vec::with_capacity(fields.len());
        for (key, value) in fields {
            if key == "timestamp" {
                timestamp = value.as_f64();
            } else {
                row.push((ColumnName::from(key.as_str()), from_json(value)));
            }
        }
        let timestamp = timestamp
            .ok_or_else(|| IngestError::corrupt(path, format!("line {} has no numeric timestamp", number + 1)))?;
        table.push(timestamp, row.iter().map(|(name, value)| (name, value.clone())));
    }
    table.normalize();
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_python_compatible_json() {
        let mut out = String::new();
        for v in [
            Value::F64(1.0),
            Value::F64(-0.0),
            Value::F64(f64::NAN),
            Value::Str("é\n\"".into()),
            Value::Json("[\"ü\",{\"a\":1}]".into()),
        ] {
            write_value(&mut out, &v);
            out.push(' ');
        }
        assert_eq!(out, "1.0 -0.0 NaN \"\\u00e9\\n\\\"\" [\"\\u00fc\", {\"a\": 1}] ");
    }

    #[test]
    fn reads_what_python_writes() {
        let dir = std::env::temp_dir().join(format!("dash-jsonl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("data.jsonl");
        std::fs::write(
            &path,
            "{\"timestamp\": 2.0, \"y\": NaN, \"s\": \"NaN \\\"Infinity\\\"\"}\n{\"timestamp\": 1.0, \"q\": [0.1, -Infinity], \"o\": [{\"k\": 1}]}\n",
        )
        .unwrap();
        let table = read_rows(&path).unwrap();
        assert_eq!(table.timestamps(), &[1.0, 2.0]);
        let get = |name: &str, row: usize| {
            table
                .columns()
                .iter()
                .find(|c| &*c.name == name)
                .and_then(|c| c.get(row))
        };
        assert!(matches!(get("y", 1), Some(Value::F64(v)) if v.is_nan()));
        assert_eq!(get("s", 1), Some(Value::Str("NaN \"Infinity\"".into())));
        assert!(get("q", 0)
            .unwrap()
            .identical(&Value::F64List(vec![0.1, f64::NEG_INFINITY].into())));
        assert_eq!(get("o", 0), Some(Value::Json("[{\"k\":1}]".into())));
        std::fs::remove_dir_all(dir).ok();
    }
}

#[cfg(test)]
mod malformed {
    #[test]
    fn malformed_lines_are_errors_not_panics() {
        let dir = std::env::temp_dir().join(format!("dash-jsonl-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("data.jsonl");
        let lines = [
            "{\"timestamp\": 1.0, \"a\": NaN",
            "[1, 2]",
            "{\"a\": 1}",
            "{\"timestamp\": \"x\"}",
            "{\"timestamp\": 1e999}",
            "\"\\u0000NaN\"",
            "{\"timestamp\": 2.0, \"b\": \"NaN\\\"",
            "\u{1F30D}{}",
            "{\"timestamp\": -Infinity, \"c\": [NaN, \"x\", {}]}",
        ];
        for line in lines {
            std::fs::write(&path, format!("{line}\n")).unwrap();
            let _ = super::read_rows(&path);
        }
        std::fs::remove_dir_all(dir).ok();
    }
}
