//! A minimal FlatBuffers writer for the few tables an Arrow IPC stream's metadata needs (schema,
//! fields, types, record batch headers), front to back in safe code: each table is written with
//! its vtable just before it, then its children after it, so every offset points forward as the
//! format requires. Scalars sit at their natural alignment (8 for `i64`).

/// A field of a table, in the order of the schema's field ids (`Absent` keeps an id unused).
pub enum Field<'a> {
    Absent,
    Bool(bool),
    U8(u8),
    I16(i16),
    I32(i32),
    I64(i64),
    Str(&'a str),
    Table(Table<'a>),
    Tables(Vec<Table<'a>>),
    /// A vector of structs of two `i64` (Arrow's `FieldNode` and `Buffer`).
    Pairs(Vec<[i64; 2]>),
}

/// A table: its fields by id.
pub struct Table<'a>(pub Vec<Field<'a>>);

/// The bytes of a buffer whose root is `root`.
pub fn finish(root: &Table<'_>) -> Vec<u8> {
    let mut out = vec![0u8; 4];
    let at = write_table(&mut out, root);
    patch(&mut out, 0, at);
    out
}

fn align(out: &mut Vec<u8>, to: usize) {
    out.resize(out.len().next_multiple_of(to), 0);
}

/// Sets the `uoffset` at `from` to point at `to` (which follows it).
fn patch(out: &mut [u8], from: usize, to: usize) {
    let offset = u32::try_from(to - from).unwrap_or(u32::MAX);
    if let Some(slot) = out.get_mut(from..from + 4) {
        slot.copy_from_slice(&offset.to_le_bytes());
    }
}

/// Size (and alignment) of a field inline in its table.
fn inline_size(field: &Field<'_>) -> usize {
    match field {
        Field::Absent => 0,
        Field::Bool(_) | Field::U8(_) => 1,
        Field::I16(_) => 2,
        Field::I64(_) => 8,
        Field::I32(_) | Field::Str(_) | Field::Table(_) | Field::Tables(_) | Field::Pairs(_) => 4,
    }
}

fn to_u16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// Writes `table` (vtable, table, then children); returns where the table starts.
fn write_table(out: &mut Vec<u8>, table: &Table<'_>) -> usize {
    // Inline layout: the vtable offset (4 bytes), then each present field at its alignment.
    let mut layout = Vec::with_capacity(table.0.len());
    let mut size: usize = 4;
    for field in &table.0 {
        let n = inline_size(field);
        if n == 0 {
            layout.push(0);
            continue;
        }
        size = size.next_multiple_of(n);
        layout.push(size);
        size += n;
    }
    let size = size.next_multiple_of(4);
    align(out, 2);
    let vtable = out.len();
    out.extend_from_slice(&to_u16(4 + 2 * layout.len()).to_le_bytes());
    out.extend_from_slice(&to_u16(size).to_le_bytes());
    for at in &layout {
        out.extend_from_slice(&to_u16(*at).to_le_bytes());
    }
    align(out, 8);
    let start = out.len();
    out.resize(start + size, 0);
    let soffset = i32::try_from(start - vtable).unwrap_or(i32::MAX);
    put(out, start, &soffset.to_le_bytes());
    for (field, at) in table.0.iter().zip(&layout) {
        let at = start + at;
        match field {
            Field::Absent => {}
            Field::Bool(v) => put(out, at, &[u8::from(*v)]),
            Field::U8(v) => put(out, at, &[*v]),
            Field::I16(v) => put(out, at, &v.to_le_bytes()),
            Field::I32(v) => put(out, at, &v.to_le_bytes()),
            Field::I64(v) => put(out, at, &v.to_le_bytes()),
            Field::Str(_) | Field::Table(_) | Field::Tables(_) | Field::Pairs(_) => {}
        }
    }
    // Children after the table, so their offsets are positive.
    for (field, at) in table.0.iter().zip(&layout) {
        let at = start + at;
        let child = match field {
            Field::Str(s) => {
                align(out, 4);
                let pos = out.len();
                out.extend_from_slice(&len32(s.len()).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
                out.push(0);
                pos
            }
            Field::Table(child) => write_table(out, child),
            Field::Tables(children) => {
                align(out, 4);
                let pos = out.len();
                out.extend_from_slice(&len32(children.len()).to_le_bytes());
                let slots = out.len();
                out.resize(slots + 4 * children.len(), 0);
                for (i, child) in children.iter().enumerate() {
                    let child_at = write_table(out, child);
                    patch(out, slots + 4 * i, child_at);
                }
                pos
            }
            Field::Pairs(pairs) => {
                // The length, then 8-aligned 16-byte structs.
                align(out, 8);
                out.extend_from_slice(&[0; 4]);
                let pos = out.len();
                out.extend_from_slice(&len32(pairs.len()).to_le_bytes());
                for [a, b] in pairs {
                    out.extend_from_slice(&a.to_le_bytes());
                    out.extend_from_slice(&b.to_le_bytes());
                }
                pos
            }
            _ => continue,
        };
        patch(out, at, child);
    }
    start
}

fn put(out: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(slot) = out.get_mut(at..at + bytes.len()) {
        slot.copy_from_slice(bytes);
    }
}

fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
