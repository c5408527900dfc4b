//! Field values as the engine stores them. Every JS value the TypeScript layer accepts maps to
//! exactly one `Value`, and every `Value` reads back as the same JS value (lossless both ways).

/// Element type of a typed array, named after the JS constructor it comes from and goes back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Elem {
    I8,
    U8,
    U8Clamped,
    I16,
    U16,
    I32,
    U32,
    F32,
    F64,
    I64,
    U64,
}

impl Elem {
    pub const ALL: [Elem; 11] = [
        Elem::I8,
        Elem::U8,
        Elem::U8Clamped,
        Elem::I16,
        Elem::U16,
        Elem::I32,
        Elem::U32,
        Elem::F32,
        Elem::F64,
        Elem::I64,
        Elem::U64,
    ];

    /// Wire code; must match `ELEM_CODES` in `src/wire.ts`.
    pub fn code(self) -> u8 {
        match self {
            Elem::I8 => 0,
            Elem::U8 => 1,
            Elem::U8Clamped => 2,
            Elem::I16 => 3,
            Elem::U16 => 4,
            Elem::I32 => 5,
            Elem::U32 => 6,
            Elem::F32 => 7,
            Elem::F64 => 8,
            Elem::I64 => 9,
            Elem::U64 => 10,
        }
    }

    pub fn from_code(code: u8) -> Option<Elem> {
        Elem::ALL.get(usize::from(code)).copied()
    }

    pub fn size(self) -> usize {
        match self {
            Elem::I8 | Elem::U8 | Elem::U8Clamped => 1,
            Elem::I16 | Elem::U16 => 2,
            Elem::I32 | Elem::U32 | Elem::F32 => 4,
            Elem::F64 | Elem::I64 | Elem::U64 => 8,
        }
    }

    /// The JS constructor name, used in column kinds (`Float32Array`).
    pub fn js_name(self) -> &'static str {
        match self {
            Elem::I8 => "Int8Array",
            Elem::U8 => "Uint8Array",
            Elem::U8Clamped => "Uint8ClampedArray",
            Elem::I16 => "Int16Array",
            Elem::U16 => "Uint16Array",
            Elem::I32 => "Int32Array",
            Elem::U32 => "Uint32Array",
            Elem::F32 => "Float32Array",
            Elem::F64 => "Float64Array",
            Elem::I64 => "BigInt64Array",
            Elem::U64 => "BigUint64Array",
        }
    }

    pub fn from_js_name(name: &str) -> Option<Elem> {
        Elem::ALL.iter().copied().find(|e| e.js_name() == name)
    }
}

/// One element of a typed array, widened without loss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Element {
    Int(i128),
    Float(f64),
}

impl Elem {
    /// The elements of a typed array from its little-endian bytes (a trailing partial element,
    /// which the wire decoder never lets through, is ignored).
    pub fn elements(self, bytes: &[u8]) -> impl Iterator<Item = Element> + '_ {
        bytes.chunks_exact(self.size()).map(move |chunk| {
            let mut b8 = [0u8; 8];
            if let Some(dst) = b8.get_mut(..chunk.len()) {
                dst.copy_from_slice(chunk);
            }
            let [b0, b1, b2, b3, ..] = b8;
            match self {
                Elem::I8 => Element::Int(i128::from(i8::from_le_bytes([b0]))),
                Elem::U8 | Elem::U8Clamped => Element::Int(i128::from(b0)),
                Elem::I16 => Element::Int(i128::from(i16::from_le_bytes([b0, b1]))),
                Elem::U16 => Element::Int(i128::from(u16::from_le_bytes([b0, b1]))),
                Elem::I32 => Element::Int(i128::from(i32::from_le_bytes([b0, b1, b2, b3]))),
                Elem::U32 => Element::Int(i128::from(u32::from_le_bytes([b0, b1, b2, b3]))),
                Elem::F32 => Element::Float(f64::from(f32::from_le_bytes([b0, b1, b2, b3]))),
                Elem::F64 => Element::Float(f64::from_le_bytes(b8)),
                Elem::I64 => Element::Int(i128::from(i64::from_le_bytes(b8))),
                Elem::U64 => Element::Int(i128::from(u64::from_le_bytes(b8))),
            }
        })
    }
}

/// One field value. Typed-array payloads stay raw little-endian bytes end to end.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    F64(f64),
    Bool(bool),
    Str(Box<str>),
    /// A JS BigInt within int64.
    BigInt(i64),
    /// A plain JS array of numbers.
    F64List(Box<[f64]>),
    /// A typed array: element type plus its raw little-endian bytes.
    Typed {
        elem: Elem,
        bytes: Box<[u8]>,
    },
    /// Any other JSON-representable value (arrays of strings or objects), as JSON text.
    Json(Box<str>),
}

/// The storage kind of a column within one segment: all present values of a column share a kind,
/// or the column is `Mixed` and stores each value tagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    F64,
    Bool,
    Str,
    BigInt,
    F64List,
    Typed(Elem),
    Json,
    /// Only explicit nulls.
    Null,
    /// Values of different kinds.
    Mixed,
}

/// Values stored as one run of bytes: typed arrays (raw little-endian) and strings and JSON text
/// (UTF-8). A column holding only one of these keeps the runs back to back (see `column.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Packed {
    Typed(Elem),
    Str,
    Json,
}

impl Packed {
    pub fn kind(self) -> Kind {
        match self {
            Packed::Typed(elem) => Kind::Typed(elem),
            Packed::Str => Kind::Str,
            Packed::Json => Kind::Json,
        }
    }

    /// The value whose run is `bytes` (text runs are UTF-8; anything else would be replaced).
    pub fn value(self, bytes: &[u8]) -> Value {
        match self {
            Packed::Typed(elem) => Value::Typed {
                elem,
                bytes: bytes.into(),
            },
            Packed::Str => Value::Str(String::from_utf8_lossy(bytes).into()),
            Packed::Json => Value::Json(String::from_utf8_lossy(bytes).into()),
        }
    }
}

impl Value {
    /// The run of bytes of a typed array, string or JSON value.
    pub fn packed(&self) -> Option<(Packed, &[u8])> {
        match self {
            Value::Typed { elem, bytes } => Some((Packed::Typed(*elem), bytes)),
            Value::Str(s) => Some((Packed::Str, s.as_bytes())),
            Value::Json(s) => Some((Packed::Json, s.as_bytes())),
            _ => None,
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Value::Null => Kind::Null,
            Value::F64(_) => Kind::F64,
            Value::Bool(_) => Kind::Bool,
            Value::Str(_) => Kind::Str,
            Value::BigInt(_) => Kind::BigInt,
            Value::F64List(_) => Kind::F64List,
            Value::Typed { elem, .. } => Kind::Typed(*elem),
            Value::Json(_) => Kind::Json,
        }
    }

    /// Equality that compares floats by bits (NaN equals NaN, -0 differs from 0): "the same value
    /// read back".
    pub fn identical(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::F64(a), Value::F64(b)) => a.to_bits() == b.to_bits(),
            (Value::F64List(a), Value::F64List(b)) => {
                a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| x.to_bits() == y.to_bits())
            }
            (a, b) => a == b,
        }
    }

    /// Approximate heap + inline bytes, for memory accounting.
    pub fn approx_bytes(&self) -> usize {
        let heap = match self {
            Value::Str(s) | Value::Json(s) => s.len(),
            Value::F64List(v) => v.len() * 8,
            Value::Typed { bytes, .. } => bytes.len(),
            _ => 0,
        };
        std::mem::size_of::<Option<Value>>() + heap
    }
}

impl Kind {
    /// Name stored in segment metadata (`dash.kinds`).
    pub fn name(self) -> String {
        match self {
            Kind::F64 => "number".into(),
            Kind::Bool => "boolean".into(),
            Kind::Str => "string".into(),
            Kind::BigInt => "bigint".into(),
            Kind::F64List => "number[]".into(),
            Kind::Typed(elem) => elem.js_name().into(),
            Kind::Json => "json".into(),
            Kind::Null => "null".into(),
            Kind::Mixed => "mixed".into(),
        }
    }

    pub fn from_name(name: &str) -> Option<Kind> {
        Some(match name {
            "number" => Kind::F64,
            "boolean" => Kind::Bool,
            "string" => Kind::Str,
            "bigint" => Kind::BigInt,
            "number[]" => Kind::F64List,
            "json" => Kind::Json,
            "null" => Kind::Null,
            "mixed" => Kind::Mixed,
            other => Kind::Typed(Elem::from_js_name(other)?),
        })
    }

    /// The kind of a column holding all of `values`: absent cells are ignored, and explicit nulls
    /// do not change the kind of the other values (they are kept beside the column).
    pub fn of_cells<'a>(values: impl IntoIterator<Item = &'a Option<Value>>) -> Option<Kind> {
        let mut kind = None;
        for value in values.into_iter().flatten() {
            let k = value.kind();
            kind = match kind {
                None => Some(k),
                Some(prev) if prev == k => Some(prev),
                Some(Kind::Null) => Some(k),
                Some(prev) if k == Kind::Null => Some(prev),
                Some(_) => return Some(Kind::Mixed),
            };
        }
        kind
    }
}
