//! A read's rows as an Arrow IPC stream (`read({ format: "arrow" })`): a schema message, record
//! batches, the end-of-stream marker; apache-arrow's `tableFromIPC`, pyarrow, polars and DuckDB read
//! it. Written directly from the columns (no Arrow library): `timestamp` and number columns are
//! `Float64`, BigInt `Int64`, booleans `Bool`, strings `Utf8`, lists of numbers and typed arrays
//! `List<element type>`; JSON values (lists of strings or objects) are `Utf8` holding their JSON
//! text (Python's spelling of NaN and Infinity, as the engine stores them), and a column mixing
//! kinds is `Utf8` holding each value's JSON text (`1.0`, `"two"`). An absent cell, or `null`, is
//! null.

use std::ops::Range;

use crate::merge::parts::Parts;
use crate::merge::table::{Column, Table};
use crate::storage::flatbuf::{finish, Field, Table as Fb};
use crate::storage::jsonl::{write_value, Style};
use crate::value::{Elem, Kind, Value};

/// Arrow's `MetadataVersion.V5`.
const V5: i16 = 4;
/// `MessageHeader` union tags.
const SCHEMA: u8 = 1;
const RECORD_BATCH: u8 = 3;
/// `Type` union tags.
const TYPE_NULL: u8 = 1;
const TYPE_INT: u8 = 2;
const TYPE_FLOAT: u8 = 3;
const TYPE_UTF8: u8 = 5;
const TYPE_BOOL: u8 = 6;
const TYPE_LIST: u8 = 12;
/// `Precision` values.
const SINGLE: i16 = 1;
const DOUBLE: i16 = 2;

/// How a column is laid out in Arrow.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Layout {
    Null,
    Float64,
    Int64,
    Bool,
    /// Strings, and JSON values as their text.
    Utf8,
    /// A column mixing kinds: every value as JSON text (a string quoted).
    Utf8Json,
    List(Elem),
}

impl Layout {
    fn of(kind: Kind) -> Layout {
        match kind {
            Kind::Null => Layout::Null,
            Kind::F64 => Layout::Float64,
            Kind::BigInt => Layout::Int64,
            Kind::Bool => Layout::Bool,
            Kind::F64List => Layout::List(Elem::F64),
            Kind::Typed(elem) => Layout::List(elem),
            Kind::Str | Kind::Json => Layout::Utf8,
            Kind::Mixed => Layout::Utf8Json,
        }
    }
}

/// The `Type` table of an element of a typed array: (union tag, table).
fn element_type(elem: Elem) -> (u8, Fb<'static>) {
    let int = |bits: i32, signed: bool| (TYPE_INT, Fb(vec![Field::I32(bits), Field::Bool(signed)]));
    match elem {
        Elem::I8 => int(8, true),
        Elem::U8 | Elem::U8Clamped => int(8, false),
        Elem::I16 => int(16, true),
        Elem::U16 => int(16, false),
        Elem::I32 => int(32, true),
        Elem::U32 => int(32, false),
        Elem::I64 => int(64, true),
        Elem::U64 => int(64, false),
        Elem::F32 => (TYPE_FLOAT, Fb(vec![Field::I16(SINGLE)])),
        Elem::F64 => (TYPE_FLOAT, Fb(vec![Field::I16(DOUBLE)])),
    }
}

/// A `Field` table: name, nullable, type, children.
fn field<'a>(name: &'a str, (tag, ty): (u8, Fb<'a>), children: Vec<Fb<'a>>) -> Fb<'a> {
    Fb(vec![
        Field::Str(name),
        Field::Bool(true),
        Field::U8(tag),
        Field::Table(ty),
        Field::Absent,
        Field::Tables(children),
    ])
}

fn schema_field<'a>(name: &'a str, layout: Layout) -> Fb<'a> {
    let empty = |tag: u8| (tag, Fb(Vec::new()));
    match layout {
        Layout::Null => field(name, empty(TYPE_NULL), Vec::new()),
        Layout::Float64 => field(name, element_type(Elem::F64), Vec::new()),
        Layout::Int64 => field(name, element_type(Elem::I64), Vec::new()),
        Layout::Bool => field(name, empty(TYPE_BOOL), Vec::new()),
        Layout::Utf8 | Layout::Utf8Json => field(name, empty(TYPE_UTF8), Vec::new()),
        Layout::List(elem) => field(
            name,
            empty(TYPE_LIST),
            vec![field("item", element_type(elem), Vec::new())],
        ),
    }
}

/// A message: `0xFFFFFFFF`, the metadata's length, the metadata (padded to 8), the body.
fn message(out: &mut Vec<u8>, header_type: u8, header: Fb<'_>, body: &[u8]) {
    let body_len = i64::try_from(body.len()).unwrap_or(i64::MAX);
    let mut metadata = finish(&Fb(vec![
        Field::I16(V5),
        Field::U8(header_type),
        Field::Table(header),
        Field::I64(body_len),
    ]));
    metadata.resize(metadata.len().next_multiple_of(8), 0);
    out.extend_from_slice(&u32::MAX.to_le_bytes());
    out.extend_from_slice(&u32::try_from(metadata.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(&metadata);
    out.extend_from_slice(body);
}

/// The record batch's body: its buffers back to back (each 8-aligned), with the field nodes and
/// buffer positions its header lists.
#[derive(Default)]
struct Body {
    bytes: Vec<u8>,
    nodes: Vec<[i64; 2]>,
    buffers: Vec<[i64; 2]>,
}

fn i64_of(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Body {
    fn buffer(&mut self, bytes: &[u8]) {
        let at = self.bytes.len();
        self.buffers.push([i64_of(at), i64_of(bytes.len())]);
        self.bytes.extend_from_slice(bytes);
        self.bytes.resize(self.bytes.len().next_multiple_of(8), 0);
    }

    /// A buffer of `values` as little-endian doubles, written in place.
    fn doubles(&mut self, values: &[f64]) {
        let at = self.bytes.len();
        self.buffers.push([i64_of(at), i64_of(values.len() * 8)]);
        self.bytes.resize(at + values.len() * 8, 0);
        let slots = self.bytes.get_mut(at..).unwrap_or_default().chunks_exact_mut(8);
        for (slot, v) in slots.zip(values) {
            slot.copy_from_slice(&v.to_le_bytes());
        }
        self.bytes.resize(self.bytes.len().next_multiple_of(8), 0);
    }

    /// A node of `valid.len()` cells and its validity bitmap (empty when every cell is valid).
    fn node(&mut self, valid: &[bool]) {
        let nulls = valid.iter().filter(|v| !**v).count();
        self.nodes.push([i64_of(valid.len()), i64_of(nulls)]);
        if nulls == 0 {
            self.buffer(&[]);
            return;
        }
        let mut bits = vec![0u8; valid.len().div_ceil(8)];
        for (i, v) in valid.iter().enumerate() {
            if *v {
                if let Some(byte) = bits.get_mut(i / 8) {
                    *byte |= 1 << (i % 8);
                }
            }
        }
        self.buffer(&bits);
    }

    /// The cells `range` of `column`; `Err(TooLong)` when its offsets would pass `i32::MAX`.
    fn column(&mut self, column: &Column, range: Range<usize>, layout: Layout) -> Result<(), TooLong> {
        let rows = range.len();
        let cells: Vec<Option<Value>> = match (layout, column.numbers()) {
            (Layout::Float64, Some((values, present))) => {
                self.node(present.get(range.clone()).unwrap_or_default());
                self.doubles(values.get(range).unwrap_or_default());
                return Ok(());
            }
            _ => range.map(|row| column.get(row).filter(|v| *v != Value::Null)).collect(),
        };
        let valid: Vec<bool> = cells.iter().map(Option::is_some).collect();
        if layout == Layout::Null {
            self.nodes.push([i64_of(rows), i64_of(rows)]);
            return Ok(());
        }
        self.node(&valid);
        match layout {
            Layout::Null => {}
            Layout::Float64 => {
                let values: Vec<f64> = (cells.iter())
                    .map(|c| match c {
                        Some(Value::F64(v)) => *v,
                        _ => 0.0,
                    })
                    .collect();
                self.doubles(&values);
            }
            Layout::Int64 => {
                let mut bytes = Vec::with_capacity(rows * 8);
                for cell in &cells {
                    let v = match cell {
                        Some(Value::BigInt(v)) => *v,
                        _ => 0,
                    };
                    bytes.extend_from_slice(&v.to_le_bytes());
                }
                self.buffer(&bytes);
            }
            Layout::Bool => {
                let mut bits = vec![0u8; rows.div_ceil(8)];
                for (i, cell) in cells.iter().enumerate() {
                    if let (Some(Value::Bool(true)), Some(byte)) = (cell, bits.get_mut(i / 8)) {
                        *byte |= 1 << (i % 8);
                    }
                }
                self.buffer(&bits);
            }
            Layout::Utf8 | Layout::Utf8Json => {
                let mut offsets = Vec::with_capacity((rows + 1) * 4);
                let mut data = String::new();
                offsets.extend_from_slice(&0i32.to_le_bytes());
                for cell in &cells {
                    match cell {
                        Some(Value::Str(s) | Value::Json(s)) if layout == Layout::Utf8 => data.push_str(s),
                        Some(value) => write_value(&mut data, value, Style::Stored),
                        None => {}
                    }
                    offsets.extend_from_slice(&offset(data.len())?.to_le_bytes());
                }
                self.buffer(&offsets);
                self.buffer(data.as_bytes());
            }
            Layout::List(elem) => {
                let mut offsets = Vec::with_capacity((rows + 1) * 4);
                let mut values: Vec<u8> = Vec::new();
                offsets.extend_from_slice(&0i32.to_le_bytes());
                for cell in &cells {
                    match cell {
                        Some(Value::F64List(items)) => values.extend_from_slice(&doubles(items)),
                        Some(Value::Typed { bytes, .. }) => values.extend_from_slice(bytes),
                        _ => {}
                    }
                    offsets.extend_from_slice(&offset(values.len() / elem.size())?.to_le_bytes());
                }
                self.buffer(&offsets);
                let count = values.len() / elem.size();
                self.nodes.push([i64_of(count), 0]);
                self.buffer(&[]);
                self.buffer(&values);
            }
        }
        Ok(())
    }
}

/// A batch whose strings or list elements pass what `i32` offsets can hold.
struct TooLong;

fn offset(n: usize) -> Result<i32, TooLong> {
    i32::try_from(n).map_err(|_| TooLong)
}

fn doubles(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Rows per record batch at most: readers can stream a long read; halved where a batch's strings
/// or list elements would pass `i32` offsets.
const BATCH_ROWS: usize = 65_536;

/// The columns of `table` that hold values, with their layouts.
fn layouts(table: &Table) -> Vec<(&Column, Layout)> {
    (table.columns().iter())
        .filter_map(|c| c.kind().map(|kind| (c, Layout::of(kind))))
        .collect()
}

/// A read's rows as an Arrow IPC stream. Batches stay within a part (see [`Parts`]) when every
/// part has the first one's columns in the same layouts (no batch is then copied out of a merged
/// table); otherwise they are cut from the parts merged into one table.
pub fn to_ipc(parts: Parts) -> Vec<u8> {
    let first: Vec<(String, Layout)> = (parts.tables().first())
        .map(|t| layouts(t).into_iter().map(|(c, l)| (c.name.to_string(), l)).collect())
        .unwrap_or_default();
    let alike = parts.tables().iter().all(|table| {
        let own = layouts(table);
        own.len() == first.len()
            && (first.iter()).all(|(name, layout)| own.iter().any(|(c, l)| &*c.name == name.as_str() && l == layout))
    });
    let parts = if alike { parts } else { Parts::one(parts.merged()) };
    let schema = match parts.tables().first() {
        Some(table) => layouts(table).into_iter().map(|(c, l)| (c.name.clone(), l)).collect(),
        None => Vec::new(),
    };
    let mut fields = vec![schema_field("timestamp", Layout::Float64)];
    fields.extend(schema.iter().map(|(name, layout)| schema_field(name, *layout)));
    let mut out = Vec::new();
    message(&mut out, SCHEMA, Fb(vec![Field::I16(0), Field::Tables(fields)]), &[]);
    for table in parts.tables() {
        // This part's columns in the schema's order (each part has them all, see `alike`).
        let columns: Vec<(&Column, Layout)> = (schema.iter())
            .filter_map(|(name, layout)| Some((table.column(name)?, *layout)))
            .collect();
        write_batches(&mut out, table, &columns);
    }
    // End of stream.
    out.extend_from_slice(&u32::MAX.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out
}

/// The record batches of `table`'s rows, at most `BATCH_ROWS` each.
fn write_batches(out: &mut Vec<u8>, table: &Table, columns: &[(&Column, Layout)]) {
    // Row ranges still to write, the next on top.
    let mut pending: Vec<Range<usize>> = Vec::new();
    pending.push(0..table.len());
    while let Some(range) = pending.pop() {
        let split = |range: &Range<usize>, at: usize| [range.start + at..range.end, range.start..range.start + at];
        if range.len() > BATCH_ROWS {
            pending.extend(split(&range, BATCH_ROWS));
            continue;
        }
        match record_batch(table, columns, range.clone()) {
            Ok((header, body)) => message(out, RECORD_BATCH, header, &body),
            // A row alone never passes the limit (entries are far smaller), so halving ends.
            Err(TooLong) => pending.extend(split(&range, range.len() / 2)),
        }
    }
}

/// The header and body of the record batch of rows `range`.
fn record_batch<'a>(
    table: &Table,
    columns: &[(&Column, Layout)],
    range: Range<usize>,
) -> Result<(Fb<'a>, Vec<u8>), TooLong> {
    let mut body = Body::default();
    body.nodes.push([i64_of(range.len()), 0]);
    body.buffer(&[]);
    body.doubles(table.timestamps().get(range.clone()).unwrap_or_default());
    for (column, layout) in columns {
        body.column(column, range.clone(), *layout)?;
    }
    let header = Fb(vec![
        Field::I64(i64_of(range.len())),
        Field::Pairs(body.nodes),
        Field::Pairs(body.buffers),
    ]);
    Ok((header, body.bytes))
}
