//! JSON lines the way the Python ml-dash SDK writes and reads them (`json.dumps` / `json.loads`):
//! one object per line, `{"timestamp": …, …fields}`, ASCII only (`\uXXXX` escapes), floats with a
//! decimal point, and the `NaN` / `Infinity` / `-Infinity` literals Python's json module uses.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value as Json;

use crate::error::{IngestError, Result};
use crate::merge::table::{ColumnName, Table};
use crate::value::{Element, Value};

/// How JSON text is spelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// As the Python SDK's files (`json.dumps` defaults): `", "` and `": "` separators, ASCII only
    /// (`\uXXXX` escapes), floats with a decimal point, and `NaN` / `Infinity` / `-Infinity`.
    Python,
    /// As the engine stores nested JSON (`Value::Json`): compact and UTF-8, but with Python's
    /// `NaN` / `Infinity` / `-Infinity` literals, so a list the SDK wrote reads back as it was.
    Stored,
    /// As an ML-Dash request body (httpx): compact, UTF-8, strict JSON, so a non-finite float (which
    /// JSON cannot hold, and which the SDK refuses to send at all) is `null`.
    Wire,
}

impl Style {
    fn item_separator(self) -> &'static str {
        match self {
            Style::Python => ", ",
            Style::Stored | Style::Wire => ",",
        }
    }

    fn key_separator(self) -> &'static str {
        match self {
            Style::Python => ": ",
            Style::Stored | Style::Wire => ":",
        }
    }
}

/// A float so that it reads back as the same double (`1.0`, `0.1`, `1e-07`-style exponents).
fn write_float(out: &mut String, v: f64, style: Style) {
    match style {
        _ if v.is_nan() && style != Style::Wire => out.push_str("NaN"),
        _ if v.is_infinite() && style != Style::Wire => {
            out.push_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
        }
        Style::Wire if !v.is_finite() => out.push_str("null"),
        Style::Python => write_python_float(out, v),
        Style::Stored | Style::Wire => out.push_str(zmij::Buffer::new().format_finite(v)),
    }
}

/// A finite float as Python's `repr` (so `json.dumps`) writes it: the shortest digits that read
/// back as the same double, in fixed notation with a decimal point when the exponent is from -4
/// to 15 (`1e15` is `1000000000000000.0`), else as `d.ddde±XX` (`1e+16`, `1.5e-07`).
fn write_python_float(out: &mut String, v: f64) {
    // The shortest digits, the nearest ones when two are as short (ties to even, as Python; Rust's
    // own `{:e}` may pick the other), fixed or with an exponent.
    let mut buffer = zmij::Buffer::new();
    let text = buffer.format_finite(v.abs());
    let (digits, exponent) = match text.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa.replace('.', ""), exponent.parse::<i32>().unwrap_or(0)),
        None => {
            let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
            let all = format!("{whole}{fraction}");
            let significant = all.trim_start_matches('0');
            let leading = i32::try_from(all.len() - significant.len()).unwrap_or(0);
            let whole_len = i32::try_from(whole.len()).unwrap_or(0);
            (significant.to_string(), whole_len - 1 - leading)
        }
    };
    let digits = match digits.trim_end_matches('0') {
        "" => "0".to_string(),
        trimmed => trimmed.to_string(),
    };
    if v.is_sign_negative() {
        out.push('-');
    }
    if v == 0.0 {
        out.push_str("0.0");
        return;
    }
    if (-4..16).contains(&exponent) {
        // `point` digits come before the decimal point (none, for 0.000ddd).
        let point = exponent + 1;
        if point <= 0 {
            out.push_str("0.");
            out.push_str(&"0".repeat(point.unsigned_abs() as usize));
            out.push_str(&digits);
        } else {
            let point = point.unsigned_abs() as usize;
            if point >= digits.len() {
                out.push_str(&digits);
                out.push_str(&"0".repeat(point - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..point]);
                out.push('.');
                out.push_str(&digits[point..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(
            out,
            "e{}{:02}",
            if exponent < 0 { '-' } else { '+' },
            exponent.unsigned_abs()
        );
    }
}

fn write_string(out: &mut String, s: &str, style: Style) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || (style == Style::Python && (c as u32) > 0x7e) => {
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

fn write_list<T>(
    out: &mut String,
    items: impl IntoIterator<Item = T>,
    style: Style,
    mut write: impl FnMut(&mut String, T),
) {
    out.push('[');
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push_str(style.item_separator());
        }
        write(out, item);
    }
    out.push(']');
}

/// How the strings of a tree are read: as they are (a tree built in code, or parsed as strict
/// JSON), or as `parse_marked` marked them (its marker strings are non-finite floats).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strings {
    Plain,
    Marked,
}

fn write_json(out: &mut String, value: &Json, style: Style, strings: Strings) {
    fn text(s: &str, strings: Strings) -> &str {
        if strings == Strings::Marked {
            unmarked(s)
        } else {
            s
        }
    }
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        // A float in the SDK's spelling (`1e-07`), an integer as it is.
        Json::Number(n) => match n.as_f64().filter(|_| n.is_f64()) {
            Some(v) => write_float(out, v, style),
            None => {
                let _ = write!(out, "{n}");
            }
        },
        Json::String(s) => match non_finite(value).filter(|_| strings == Strings::Marked) {
            Some(v) => write_float(out, v, style),
            None => write_string(out, text(s, strings), style),
        },
        Json::Array(items) => write_list(out, items, style, |out, item| write_json(out, item, style, strings)),
        Json::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(style.item_separator());
                }
                write_string(out, text(key, strings), style);
                out.push_str(style.key_separator());
                write_json(out, item, style, strings);
            }
            out.push('}');
        }
    }
}

/// Writes one value as JSON in `style`.
pub fn write_value(out: &mut String, value: &Value, style: Style) {
    match value {
        Value::Null => out.push_str("null"),
        Value::F64(v) => write_float(out, *v, style),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Str(s) => write_string(out, s, style),
        Value::BigInt(v) => {
            let _ = write!(out, "{v}");
        }
        Value::F64List(items) => write_list(out, items.iter(), style, |out, v| write_float(out, *v, style)),
        Value::Typed { elem, bytes } => write_list(out, elem.elements(bytes), style, |out, element| match element {
            Element::Int(v) => {
                let _ = write!(out, "{v}");
            }
            Element::Float(v) => write_float(out, v, style),
        }),
        Value::Json(text) => match parse_marked(text) {
            Ok(parsed) => write_json(out, &parsed, style, Strings::Marked),
            Err(_) => write_string(out, text, style),
        },
    }
}

/// Writes rows of one table as JSON objects, `{"timestamp": …, …fields}`, each column's
/// `"name": ` spelled once for all rows.
struct RowWriter<'a> {
    table: &'a Table,
    style: Style,
    keys: Vec<String>,
}

impl<'a> RowWriter<'a> {
    fn new(table: &'a Table, style: Style) -> Self {
        let keys = (table.columns().iter())
            .map(|column| {
                let mut key = String::from(style.item_separator());
                write_string(&mut key, &column.name, style);
                key.push_str(style.key_separator());
                key
            })
            .collect();
        RowWriter { table, style, keys }
    }

    fn row(&self, out: &mut String, row: usize) {
        out.push_str("{\"timestamp\"");
        out.push_str(self.style.key_separator());
        write_float(out, self.table.timestamps()[row], self.style);
        for (column, key) in self.table.columns().iter().zip(&self.keys) {
            if let Some(value) = column.get(row) {
                out.push_str(key);
                write_value(out, &value, self.style);
            }
        }
        out.push('}');
    }
}

/// The rows of `table` as the SDK's JSON lines, each ending in `\n`.
pub fn write_rows(table: &Table) -> String {
    let writer = RowWriter::new(table, Style::Python);
    let mut out = String::new();
    for row in 0..table.len() {
        writer.row(&mut out, row);
        out.push('\n');
    }
    out
}

/// Rows `rows` of `table` as the body of an ML-Dash track `append_batch` request:
/// `{"entries":[{"timestamp":…,…fields},…]}` (fields as the engine stores them: flattened keys).
pub fn entries_body(table: &Table, rows: std::ops::Range<usize>) -> String {
    let writer = RowWriter::new(table, Style::Wire);
    let mut out = String::with_capacity(16 + rows.len() * (24 + 16 * writer.keys.len()));
    out.push_str("{\"entries\":");
    write_list(&mut out, rows, Style::Wire, |out, row| writer.row(out, row));
    out.push('}');
    out
}

/// JSON text as Python's `json.dumps` writes it (the SDK's files): keys in the map's order
/// (insertion order, as Python's dicts), `", "` / `": "`, ASCII escapes.
pub fn python_json(value: &Json) -> String {
    let mut out = String::new();
    write_json(&mut out, value, Style::Python, Strings::Plain);
    out
}

/// `value` as strict JSON text (a request body).
pub fn wire_json(value: &Json) -> String {
    let mut out = String::new();
    write_json(&mut out, value, Style::Wire, Strings::Plain);
    out
}

/// A marked tree (of `parse_marked`, `parse_line` and `marked`) as Python's `json.dumps` writes it.
pub fn python_json_marked(value: &Json) -> String {
    let mut out = String::new();
    write_json(&mut out, value, Style::Python, Strings::Marked);
    out
}

/// A marked tree as strict JSON text (a request body: non-finite floats are `null`).
pub fn wire_json_marked(value: &Json) -> String {
    let mut out = String::new();
    write_json(&mut out, value, Style::Wire, Strings::Marked);
    out
}

/// `s` as a string of a marked tree (so that a real `"\u0000NaN"` stays a string).
pub fn marked(s: &str) -> Json {
    if s.starts_with('\u{0}') {
        Json::String(format!("\u{0}{s}"))
    } else {
        Json::String(s.to_string())
    }
}

/// Parses JSON text that may hold Python's non-finite literals into a marked tree.
pub fn parse_marked(text: &str) -> serde_json::Result<Json> {
    serde_json::from_str(&quote_non_finite(text))
}

/// Makes Python's JSON (bare `NaN` / `Infinity` / `-Infinity` outside strings) parseable by
/// serde_json without ambiguity: each such token becomes a marker string, `"\u0000NaN"`, and each
/// real string that starts with U+0000 gets one more U+0000 in front, so no real string is a
/// marker. `non_finite` reads a marker back; `unmarked` undoes the extra U+0000.
fn quote_non_finite(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut at = 0;
    while let Some(c) = text[at..].chars().next() {
        if !in_string {
            let rest = &text[at..];
            if let Some(token) = ["-Infinity", "Infinity", "NaN"]
                .into_iter()
                .find(|t| rest.starts_with(t))
            {
                out.push('"');
                out.push_str(NUL_ESCAPE);
                out.push_str(token);
                out.push('"');
                at += token.len();
                continue;
            }
        }
        out.push(c);
        at += c.len_utf8();
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            if text[at..].starts_with(NUL_ESCAPE) {
                out.push_str(NUL_ESCAPE);
            }
        }
    }
    out
}

/// U+0000 as JSON spells it inside a string (the only spelling: JSON strings hold no raw controls).
const NUL_ESCAPE: &str = "\\u0000";

fn non_finite(value: &Json) -> Option<f64> {
    match value.as_str()? {
        "\u{0}NaN" => Some(f64::NAN),
        "\u{0}Infinity" => Some(f64::INFINITY),
        "\u{0}-Infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

/// A real string (or key) of text `quote_non_finite` marked, as it was.
fn unmarked(s: &str) -> &str {
    s.strip_prefix('\u{0}').unwrap_or(s)
}

/// A parsed SDK value as an engine value: non-finite floats at the top level or in a list of
/// numbers are floats again; other lists and objects are stored as JSON text that keeps them.
fn from_json(value: Json) -> Value {
    if let Some(v) = non_finite(&value) {
        return Value::F64(v);
    }
    match value {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(b),
        Json::Number(n) => Value::F64(n.as_f64().unwrap_or(f64::NAN)),
        Json::String(s) => Value::Str(unmarked(&s).into()),
        Json::Array(items) => {
            let numbers: Option<Vec<f64>> = items
                .iter()
                .map(|item| item.as_f64().or_else(|| non_finite(item)))
                .collect();
            match numbers {
                Some(numbers) => Value::F64List(numbers.into()),
                None => stored_json(&Json::Array(items)),
            }
        }
        object @ Json::Object(_) => stored_json(&object),
    }
}

fn stored_json(value: &Json) -> Value {
    let mut text = String::new();
    write_json(&mut text, value, Style::Stored, Strings::Marked);
    Value::Json(text.into())
}

/// Parses one line the SDK (or this engine) wrote, Python's non-finite literals included; `None`
/// unless it is a JSON object. Strings and non-finite floats stay marked (see `quote_non_finite`):
/// `*_marked` writers write them as they were; compare them only with other marked trees.
pub(crate) fn parse_line(line: &str) -> Option<Json> {
    parse_marked(line).ok().filter(Json::is_object)
}

/// Reads an SDK `data.jsonl` into a normalized table (entries with equal timestamps merge).
pub fn read_rows(path: &Path) -> Result<Table> {
    let text = std::fs::read_to_string(path).map_err(|e| IngestError::io(path, "nothing (reading)", e))?;
    let mut table = Table::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Json =
            parse_marked(line).map_err(|e| IngestError::corrupt(path, format!("line {}: {e}", number + 1)))?;
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
                row.push((ColumnName::from(unmarked(&key)), from_json(value)));
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
    fn floats_as_python_repr() {
        let cases = [
            (1.0, "1.0"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (0.1, "0.1"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (123_456_789.125, "123456789.125"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (-2.5e-300, "-2.5e-300"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (1796161287.9970837, "1796161287.9970837"),
            // Exactly between two shortest spellings: the even one, as Python.
            (948_719_973_287_311.2, "948719973287311.2"),
        ];
        for (value, python) in cases {
            let mut out = String::new();
            write_float(&mut out, value, Style::Python);
            assert_eq!(out, python, "{value:e}");
        }
    }

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
            write_value(&mut out, &v, Style::Python);
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

    /// Non-finite floats and `-0.0` inside mixed lists and dicts, and real strings (values and keys)
    /// that look like the markers `quote_non_finite` uses, read back as Python wrote them and are
    /// written again byte for byte.
    #[test]
    fn nested_non_finite_and_marker_lookalikes_round_trip() {
        let dir = std::env::temp_dir().join(format!("dash-jsonl-nested-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("data.jsonl");
        let lines = concat!(
            "{\"timestamp\": 1.0, \"m\": [NaN, \"x\", null, [Infinity, -0.0], {\"a\": -Infinity}], ",
            "\"s\": \"\\u0000NaN\", \"\\u0000k\": [\"\\u0000Infinity\", \"\\u0000\\u0000\", 1, ",
            "{\"\\u0000NaN\": NaN}]}\n",
        );
        std::fs::write(&path, lines).unwrap();
        let table = read_rows(&path).unwrap();
        let get = |name: &str| table.columns().iter().find(|c| &*c.name == name).and_then(|c| c.get(0));
        assert_eq!(
            get("m"),
            Some(Value::Json("[NaN,\"x\",null,[Infinity,-0.0],{\"a\":-Infinity}]".into()))
        );
        assert_eq!(get("s"), Some(Value::Str("\u{0}NaN".into())));
        assert_eq!(
            get("\u{0}k"),
            Some(Value::Json(
                "[\"\\u0000Infinity\",\"\\u0000\\u0000\",1,{\"\\u0000NaN\":NaN}]".into()
            ))
        );
        assert_eq!(write_rows(&table), lines);
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
