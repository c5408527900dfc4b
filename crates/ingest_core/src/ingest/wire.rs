//! The binary format that crosses the N-API line, both ways. Little-endian, unaligned.
//! `src/wire.ts` is the other half; a change here is a change there.
//!
//! Batch (JS → engine), a sequence of entries, each starting at a multiple of 8 bytes from the
//! start of the batch (so JS can write the numbers of the fast path through a `Float64Array`):
//! ```text
//! entry   := general | numeric
//! general := topic_id:u32 field_count:u32 timestamp:f64 field* padding-to-8
//! field   := key_id:u32 value
//! value   := tag:u8 payload      (see the TAG_* constants)
//! numeric := (topic_id | NUMERIC_FLAG):u32 shape_id:u32 timestamp:f64 slot*n
//! slot    := f64                                       (a number field)
//!          | byte_len:u32 pad:u32 bytes padding-to-8   (a typed-array field)
//! ```
//! A numeric entry is the fast path for the common sensor entry: every field a number or a typed
//! array (a state, joint angles), the keys and slot kinds those of a [`Shape`] defined before the
//! batch. Every slot starts at a multiple of 8, so JS writes it through a view of its own type.
//! Rows (engine → JS, for reads), written by [`crate::merge::rows`] with the same value tags:
//! ```text
//! rows  := key_count:u32 (len:u32 utf8)* row_count:u32 row*
//! row   := timestamp:f64 field_count:u32 (key_index:u32 value)*
//! ```

use crate::error::{IngestError, Result};
use crate::value::{Elem, Packed, Value};

pub const TAG_NULL: u8 = 0;
pub const TAG_F64: u8 = 1;
pub const TAG_TRUE: u8 = 2;
pub const TAG_FALSE: u8 = 3;
/// `len:u32` then UTF-8 bytes.
pub const TAG_STR: u8 = 4;
/// `i64`.
pub const TAG_BIGINT: u8 = 5;
/// `count:u32` then `count` f64.
pub const TAG_F64_LIST: u8 = 6;
/// `elem:u8 byte_len:u32`, zero padding to a multiple of 8 bytes from the start of the buffer,
/// then the raw bytes (aligned, so JS copies them through a view of their own element type).
pub const TAG_TYPED: u8 = 7;
/// `len:u32` then JSON text.
pub const TAG_JSON: u8 = 8;

/// Set in an entry's topic word when the entry is a numeric shape entry.
pub const NUMERIC_FLAG: u32 = 1 << 31;

/// What one field of a [`Shape`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Number,
    Array(Elem),
}

/// The code of [`Slot::Number`] in a shape definition (the other codes are element codes).
pub const NUMBER_SLOT: u8 = 255;

/// The fields of a numeric entry, in order: key ids and what each holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    pub fields: Box<[(u32, Slot)]>,
    /// Every slot a number: its entries decode to [`Numbers`], their values left in the batch.
    numbers_only: bool,
}

impl Shape {
    fn new(fields: Box<[(u32, Slot)]>) -> Shape {
        let numbers_only = fields.iter().all(|(_, slot)| *slot == Slot::Number);
        Shape { fields, numbers_only }
    }

    /// A shape of number fields only.
    pub fn numbers(keys: &[u32]) -> Shape {
        Shape::new(keys.iter().map(|k| (*k, Slot::Number)).collect())
    }

    /// A shape from its definition: key ids and one slot code per key.
    pub fn from_codes(keys: &[u32], slots: &[u8]) -> Result<Shape> {
        if keys.len() != slots.len() {
            return Err(IngestError::Malformed {
                offset: 0,
                reason: format!("a shape of {} keys with {} slot codes", keys.len(), slots.len()),
            });
        }
        let slot = |code: u8| match code {
            NUMBER_SLOT => Ok(Slot::Number),
            code => Elem::from_code(code).map(Slot::Array).ok_or(IngestError::Malformed {
                offset: 0,
                reason: format!("unknown shape slot code {code}"),
            }),
        };
        Ok(Shape::new(
            keys.iter()
                .zip(slots)
                .map(|(k, c)| Ok((*k, slot(*c)?)))
                .collect::<Result<_>>()?,
        ))
    }

    /// The key ids and slot codes, as `from_codes` takes them.
    pub fn codes(&self) -> (Vec<u32>, Vec<u8>) {
        self.fields
            .iter()
            .map(|(key, slot)| match slot {
                Slot::Number => (*key, NUMBER_SLOT),
                Slot::Array(elem) => (*key, elem.code()),
            })
            .unzip()
    }
}

/// A bounds-checked little-endian cursor.
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    /// The next two words, without moving past them.
    fn peek_words(&self) -> Option<(u32, u32)> {
        let word = |at: usize| {
            let bytes = self.bytes.get(at..at + 4)?;
            Some(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
        };
        Some((word(self.pos)?, word(self.pos + 4)?))
    }

    fn malformed(&self, reason: impl Into<String>) -> IngestError {
        IngestError::Malformed {
            offset: self.pos,
            reason: reason.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| self.malformed(format!("needs {n} more bytes")))?;
        let slice = self
            .bytes
            .get(self.pos..end)
            .ok_or_else(|| self.malformed("out of range"))?;
        self.pos = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let slice = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }

    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_le_bytes(self.array()?))
    }

    /// A typed array's bytes: `byte_len:u32`, padding to 8, the bytes.
    fn array_bytes(&mut self, elem: Elem) -> Result<&'a [u8]> {
        let len = self.u32()? as usize;
        self.align8()?;
        let bytes = self.take(len)?;
        if bytes.len() % elem.size() != 0 {
            return Err(self.malformed("typed array length is not a multiple of its element size"));
        }
        Ok(bytes)
    }

    /// Skips to the next multiple of 8 bytes from the start.
    pub fn align8(&mut self) -> Result<()> {
        let pad = (8 - self.pos % 8) % 8;
        self.take(pad).map(|_| ())
    }

    pub fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    fn len_prefixed(&mut self) -> Result<&'a [u8]> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    /// A length-prefixed run of UTF-8.
    fn text(&mut self) -> Result<&'a [u8]> {
        let bytes = self.len_prefixed()?;
        std::str::from_utf8(bytes).map_err(|e| self.malformed(format!("invalid UTF-8: {e}")))?;
        Ok(bytes)
    }

    /// The next value, owned (tests; the writer takes `field`).
    #[cfg(test)]
    pub fn value(&mut self) -> Result<Value> {
        Ok(match self.field()? {
            Field::Value(value) => value,
            Field::Packed { kind, bytes } => kind.value(bytes),
        })
    }

    /// The next value, with the bytes of typed arrays, strings and JSON borrowed from the input.
    pub fn field(&mut self) -> Result<Field<'a>> {
        let packed = |kind, bytes| Ok(Field::Packed { kind, bytes });
        Ok(Field::Value(match self.u8()? {
            TAG_NULL => Value::Null,
            TAG_F64 => Value::F64(self.f64()?),
            TAG_TRUE => Value::Bool(true),
            TAG_FALSE => Value::Bool(false),
            TAG_STR => return packed(Packed::Str, self.text()?),
            TAG_BIGINT => Value::BigInt(self.i64()?),
            TAG_F64_LIST => {
                let count = self.u32()? as usize;
                let bytes = self.take(count.saturating_mul(8))?;
                Value::F64List(
                    bytes
                        .chunks_exact(8)
                        .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                        .collect(),
                )
            }
            TAG_TYPED => {
                let code = self.u8()?;
                let elem =
                    Elem::from_code(code).ok_or_else(|| self.malformed(format!("unknown element code {code}")))?;
                return packed(Packed::Typed(elem), self.array_bytes(elem)?);
            }
            TAG_JSON => return packed(Packed::Json, self.text()?),
            tag => return Err(self.malformed(format!("unknown value tag {tag}"))),
        }))
    }
}

/// A decoded field value. The bytes of typed arrays, strings and JSON stay borrowed from the
/// batch, so the writer copies them once, straight into their column.
#[derive(Debug, Clone, PartialEq)]
pub enum Field<'a> {
    Value(Value),
    Packed { kind: Packed, bytes: &'a [u8] },
}

/// One decoded batch entry; `fields` is reused between entries to avoid allocation.
pub struct Entry<'a> {
    pub topic: u32,
    pub timestamp: f64,
    /// The fields, unless the entry is of a shape of numbers only (then `numbers` holds them).
    pub fields: Vec<(u32, Field<'a>)>,
    pub numbers: Option<Numbers<'a>>,
}

impl Entry<'_> {
    /// How many batch entries this is (a run of numbers-only entries counts each).
    pub fn count(&self) -> usize {
        self.numbers.map_or(1, |numbers| numbers.rows())
    }
}

/// A run of consecutive entries of one topic and one [`Shape`] of numbers only, still in the
/// batch: each is its 16-byte header (topic word, shape id, timestamp) and one little-endian f64
/// per key of the shape, in its order. The writer copies them straight into their columns, with
/// no [`Field`] per value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Numbers<'a> {
    pub shape: u32,
    /// Values per entry (the shape's key count).
    keys: usize,
    bytes: &'a [u8],
}

impl Numbers<'_> {
    fn stride(&self) -> usize {
        16 + 8 * self.keys
    }

    pub fn rows(&self) -> usize {
        self.bytes.len() / self.stride()
    }

    fn f64_at(&self, offset: usize) -> f64 {
        let mut word = [0u8; 8];
        if let Some(bytes) = self.bytes.get(offset..offset + 8) {
            word.copy_from_slice(bytes);
        }
        f64::from_le_bytes(word)
    }

    pub fn timestamp(&self, row: usize) -> f64 {
        self.f64_at(row * self.stride() + 8)
    }

    /// The value of key `key` (by position in the shape) of entry `row`.
    pub fn value(&self, row: usize, key: usize) -> f64 {
        self.f64_at(row * self.stride() + 16 + 8 * key)
    }

    /// The values of entry `row`, in the shape's key order.
    pub fn values(&self, row: usize) -> impl Iterator<Item = f64> + '_ {
        (0..self.keys).map(move |key| self.value(row, key))
    }
}

/// Decodes every entry of a batch, calling `sink` for each; `shapes` are the shapes of numeric
/// entries, by shape id. Stops at the first malformed byte.
pub fn decode_batch<'a>(
    bytes: &'a [u8],
    shapes: &[Shape],
    mut sink: impl FnMut(&mut Entry<'a>) -> Result<()>,
) -> Result<()> {
    let mut reader = Reader::new(bytes);
    let mut entry = Entry {
        topic: 0,
        timestamp: 0.0,
        fields: Vec::new(),
        numbers: None,
    };
    while !reader.is_empty() {
        let topic_word = reader.u32()?;
        let count_or_shape = reader.u32()?;
        entry.timestamp = reader.f64()?;
        entry.fields.clear();
        entry.numbers = None;
        if topic_word & NUMERIC_FLAG != 0 {
            entry.topic = topic_word & !NUMERIC_FLAG;
            let Some(shape) = shapes.get(count_or_shape as usize) else {
                return Err(IngestError::UnknownId {
                    what: "shape",
                    id: count_or_shape,
                });
            };
            if shape.numbers_only {
                // This entry and every next one of the same topic word and shape, as one run.
                let keys = shape.fields.len();
                let start = reader.pos - 16;
                reader.take(keys * 8)?;
                while reader.peek_words() == Some((topic_word, count_or_shape)) {
                    reader.take(16 + keys * 8)?;
                }
                entry.numbers = Some(Numbers {
                    shape: count_or_shape,
                    keys,
                    bytes: bytes.get(start..reader.pos).unwrap_or_default(),
                });
                sink(&mut entry)?;
                continue;
            }
            for (key, slot) in shape.fields.iter() {
                let field = match slot {
                    Slot::Number => Field::Value(Value::F64(reader.f64()?)),
                    Slot::Array(elem) => {
                        let bytes = reader.array_bytes(*elem)?;
                        reader.align8()?;
                        Field::Packed {
                            kind: Packed::Typed(*elem),
                            bytes,
                        }
                    }
                };
                entry.fields.push((*key, field));
            }
        } else {
            entry.topic = topic_word;
            for _ in 0..count_or_shape {
                let key = reader.u32()?;
                entry.fields.push((key, reader.field()?));
            }
            reader.align8()?;
        }
        sink(&mut entry)?;
    }
    Ok(())
}

/// Appends `value` in wire form.
pub fn encode_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.push(TAG_NULL),
        Value::F64(v) => {
            out.push(TAG_F64);
            out.extend_from_slice(&v.to_le_bytes());
        }
        Value::Bool(true) => out.push(TAG_TRUE),
        Value::Bool(false) => out.push(TAG_FALSE),
        Value::Str(s) => {
            out.push(TAG_STR);
            encode_bytes(out, s.as_bytes());
        }
        Value::BigInt(v) => {
            out.push(TAG_BIGINT);
            out.extend_from_slice(&v.to_le_bytes());
        }
        Value::F64List(values) => {
            out.push(TAG_F64_LIST);
            out.extend_from_slice(&len_u32(values.len()).to_le_bytes());
            for v in values.iter() {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        Value::Typed { elem, bytes } => {
            out.push(TAG_TYPED);
            out.push(elem.code());
            out.extend_from_slice(&len_u32(bytes.len()).to_le_bytes());
            out.resize(out.len().next_multiple_of(8), 0);
            out.extend_from_slice(bytes);
        }
        Value::Json(s) => {
            out.push(TAG_JSON);
            encode_bytes(out, s.as_bytes());
        }
    }
}

pub fn encode_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&len_u32(bytes.len()).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Lengths on the wire are u32; the JS side never produces a value of 4 GiB or more, and values
/// read back were written through the same limit.
pub fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_values() -> Vec<Value> {
        vec![
            Value::Null,
            Value::F64(-0.0),
            Value::F64(f64::NAN),
            Value::Bool(true),
            Value::Bool(false),
            Value::Str("héllo 🌍".into()),
            Value::BigInt(i64::MIN),
            Value::F64List(vec![1.5, f64::INFINITY].into()),
            Value::Typed {
                elem: Elem::F32,
                bytes: 1.25f32.to_le_bytes().to_vec().into(),
            },
            Value::Json("[\"a\",{\"b\":1}]".into()),
        ]
    }

    #[test]
    fn values_round_trip() {
        for value in all_values() {
            let mut out = Vec::new();
            encode_value(&mut out, &value);
            let decoded = Reader::new(&out).value().expect("decodes");
            match (&value, &decoded) {
                (Value::F64(a), Value::F64(b)) => assert_eq!(a.to_bits(), b.to_bits()),
                _ => assert_eq!(value, decoded),
            }
        }
    }

    #[test]
    fn batch_decodes_entries_and_rejects_truncation() {
        let mut batch = Vec::new();
        batch.extend_from_slice(&7u32.to_le_bytes());
        batch.extend_from_slice(&1u32.to_le_bytes());
        batch.extend_from_slice(&1.5f64.to_le_bytes());
        batch.extend_from_slice(&3u32.to_le_bytes());
        encode_value(&mut batch, &Value::F64(2.0));
        batch.resize(batch.len().div_ceil(8) * 8, 0);
        batch.extend_from_slice(&(2 | NUMERIC_FLAG).to_le_bytes());
        batch.extend_from_slice(&0u32.to_le_bytes());
        batch.extend_from_slice(&2.5f64.to_le_bytes());
        batch.extend_from_slice(&10.0f64.to_le_bytes());
        batch.extend_from_slice(&20.0f64.to_le_bytes());
        // A numeric entry with a typed-array slot: length, padding, bytes, padding.
        batch.extend_from_slice(&(2 | NUMERIC_FLAG).to_le_bytes());
        batch.extend_from_slice(&1u32.to_le_bytes());
        batch.extend_from_slice(&3.5f64.to_le_bytes());
        batch.extend_from_slice(&3u32.to_le_bytes());
        batch.extend_from_slice(&[0, 0, 0, 0, 1, 2, 3, 0, 0, 0, 0, 0]);
        batch.extend_from_slice(&30.0f64.to_le_bytes());
        let shapes = vec![
            Shape::numbers(&[4, 5]),
            Shape::from_codes(&[6, 4], &[Elem::U8.code(), NUMBER_SLOT]).expect("valid"),
        ];
        let mut seen = Vec::new();
        decode_batch(&batch, &shapes, |e| {
            let mut fields = e.fields.clone();
            if let Some(numbers) = e.numbers {
                assert_eq!(numbers.rows(), 1);
                let keys = shapes[numbers.shape as usize].fields.iter().map(|(key, _)| *key);
                fields = keys
                    .zip(numbers.values(0))
                    .map(|(k, v)| (k, Field::Value(Value::F64(v))))
                    .collect();
            }
            seen.push((e.topic, e.timestamp, fields));
            Ok(())
        })
        .expect("decodes");
        assert_eq!(
            seen,
            vec![
                (7, 1.5, vec![(3, Field::Value(Value::F64(2.0)))]),
                (
                    2,
                    2.5,
                    vec![(4, Field::Value(Value::F64(10.0))), (5, Field::Value(Value::F64(20.0)))]
                ),
                (
                    2,
                    3.5,
                    vec![
                        (
                            6,
                            Field::Packed {
                                kind: Packed::Typed(Elem::U8),
                                bytes: &[1, 2, 3]
                            }
                        ),
                        (4, Field::Value(Value::F64(30.0)))
                    ]
                ),
            ]
        );
        assert_eq!(shapes[1].codes(), (vec![6, 4], vec![Elem::U8.code(), NUMBER_SLOT]));
        assert!(Shape::from_codes(&[1], &[]).is_err());
        assert!(Shape::from_codes(&[1], &[11]).is_err());

        let truncated = &batch[..batch.len() - 1];
        let err = decode_batch(truncated, &shapes, |_| Ok(())).expect_err("truncated");
        assert_eq!(err.code(), "ERR_DASH_MALFORMED_BATCH");
        let err = decode_batch(&batch, &[], |_| Ok(())).expect_err("unknown shape");
        assert_eq!(err.code(), "ERR_DASH_UNKNOWN_ID");
    }
}

#[cfg(test)]
mod fuzz {
    //! Malformed input must give errors, never panics: batches cross from JS, segments and JSON
    //! lines come from disk.
    use super::*;

    /// xorshift64*: deterministic pseudo-random bytes without a dependency.
    pub(crate) struct Bytes(u64);

    impl Bytes {
        pub(crate) fn new(seed: u64) -> Self {
            Bytes(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
        }

        pub(crate) fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        pub(crate) fn fill(&mut self, len: usize) -> Vec<u8> {
            (0..len).map(|_| (self.next() >> 56) as u8).collect()
        }
    }

    #[test]
    fn random_and_mutated_batches_never_panic() {
        let shapes = vec![
            Shape::numbers(&[0, 1]),
            Shape::from_codes(&[0], &[Elem::F32.code()]).expect("valid"),
        ];
        let mut valid = Vec::new();
        valid.extend_from_slice(&(NUMERIC_FLAG).to_le_bytes());
        valid.extend_from_slice(&0u32.to_le_bytes());
        valid.extend_from_slice(&1.0f64.to_le_bytes());
        valid.extend_from_slice(&2.0f64.to_le_bytes());
        valid.extend_from_slice(&3.0f64.to_le_bytes());
        valid.extend_from_slice(&(NUMERIC_FLAG).to_le_bytes());
        valid.extend_from_slice(&1u32.to_le_bytes());
        valid.extend_from_slice(&4.0f64.to_le_bytes());
        valid.extend_from_slice(&8u32.to_le_bytes());
        valid.extend_from_slice(&[0; 4]);
        valid.extend_from_slice(&[1.5f32.to_le_bytes(), 2.5f32.to_le_bytes()].concat());
        let mut rng = Bytes::new(7);
        for round in 0..20_000u64 {
            let bytes = if round % 2 == 0 {
                let len = (rng.next() % 96) as usize;
                rng.fill(len)
            } else {
                let mut mutated = valid.clone();
                let at = (rng.next() as usize) % mutated.len();
                mutated[at] = (rng.next() >> 56) as u8;
                mutated.truncate((rng.next() as usize) % (mutated.len() + 1));
                mutated
            };
            let _ = decode_batch(&bytes, &shapes, |_| Ok(()));
            let _ = Reader::new(&bytes).value();
        }
    }
}
