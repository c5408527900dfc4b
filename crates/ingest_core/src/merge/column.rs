//! One column of a table in memory. Columns that hold only numbers (the sensor fast path) are
//! stored as a plain `f64` vector plus presence flags, and columns that hold only typed arrays of
//! one element type (states, observations), only strings or only JSON text as their bytes back to
//! back plus row ends: no per-cell enum or allocation. A column that receives any other value
//! switches once to general cells.

use std::borrow::Cow;

use crate::value::{Kind, Packed, Value};

/// Column name as stored (flattened, dotted).
pub type ColumnName = std::sync::Arc<str>;

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: ColumnName,
    cells: Cells,
}

#[derive(Debug, Clone, PartialEq)]
enum Cells {
    /// Only numbers so far. `values[i]` is meaningful only where `present[i]`.
    Numbers { values: Vec<f64>, present: Vec<bool> },
    /// Only values of one packed kind so far: row `i` is `bytes[ends[i - 1]..ends[i]]` (from 0
    /// for row 0), meaningful only where `present[i]`. `ends` and `present` have one item per row.
    Runs {
        kind: Packed,
        bytes: Vec<u8>,
        ends: Vec<usize>,
        present: Vec<bool>,
    },
    /// Anything. `None` = the row has no such field (absent), distinct from `Some(Value::Null)`.
    Values(Vec<Option<Value>>),
}

impl Column {
    /// The memory its cells hold, roughly (for bounding what compaction loads at once).
    pub fn memory_bytes(&self) -> usize {
        match &self.cells {
            Cells::Numbers { values, .. } => values.len() * 9,
            Cells::Runs { bytes, ends, .. } => bytes.len() + ends.len() * 9,
            Cells::Values(cells) => cells
                .iter()
                .map(|c| c.as_ref().map_or(0, Value::approx_bytes) + 8)
                .sum(),
        }
    }

    pub fn new(name: ColumnName) -> Column {
        Column {
            name,
            cells: Cells::Numbers {
                values: Vec::new(),
                present: Vec::new(),
            },
        }
    }

    pub fn from_cells(name: ColumnName, cells: Vec<Option<Value>>) -> Column {
        Column {
            name,
            cells: Cells::Values(cells),
        }
    }

    /// A number column; `present` and `values` must have the same length.
    pub fn from_numbers(name: ColumnName, values: Vec<f64>, present: Vec<bool>) -> Column {
        Column {
            name,
            cells: Cells::Numbers { values, present },
        }
    }

    pub fn len(&self) -> usize {
        match &self.cells {
            Cells::Numbers { present, .. } | Cells::Runs { present, .. } => present.len(),
            Cells::Values(cells) => cells.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The storage kind of the present values; `None` if no row has this field.
    pub fn kind(&self) -> Option<Kind> {
        match &self.cells {
            Cells::Numbers { present, .. } => present.contains(&true).then_some(Kind::F64),
            Cells::Runs { kind, present, .. } => present.contains(&true).then_some(kind.kind()),
            Cells::Values(cells) => Kind::of_cells(cells),
        }
    }

    /// Whether any row has this field (`kind().is_some()`, without scanning every cell).
    pub fn has_values(&self) -> bool {
        match &self.cells {
            Cells::Numbers { present, .. } | Cells::Runs { present, .. } => present.contains(&true),
            Cells::Values(cells) => cells.iter().any(Option::is_some),
        }
    }

    /// How many rows have this field.
    pub fn present_count(&self) -> usize {
        match &self.cells {
            Cells::Numbers { present, .. } | Cells::Runs { present, .. } => present.iter().filter(|p| **p).count(),
            Cells::Values(cells) => cells.iter().filter(|c| c.is_some()).count(),
        }
    }

    /// The values and presence flags of a number column (`None` for other columns).
    pub fn numbers(&self) -> Option<(&[f64], &[bool])> {
        match &self.cells {
            Cells::Numbers { values, present } => Some((values, present)),
            _ => None,
        }
    }

    /// The cells of a general column (`None` for number and packed columns, which hold no nulls or
    /// other kinds).
    pub fn general(&self) -> Option<&[Option<Value>]> {
        match &self.cells {
            Cells::Values(cells) => Some(cells),
            _ => None,
        }
    }

    /// The run of bytes of the value in `row` if it is of packed kind `kind` (a typed array's
    /// raw little-endian bytes, a string's or JSON text's UTF-8), in either storage.
    pub fn packed(&self, row: usize, kind: Packed) -> Option<&[u8]> {
        match &self.cells {
            Cells::Runs {
                kind: column_kind,
                bytes,
                ends,
                present,
            } if *column_kind == kind => match present.get(row) {
                Some(true) => bytes.get(run_start(ends, row)..*ends.get(row)?),
                _ => None,
            },
            Cells::Values(cells) => match cells.get(row)?.as_ref()?.packed() {
                Some((packed, bytes)) if packed == kind => Some(bytes),
                _ => None,
            },
            _ => None,
        }
    }

    /// All cells as general values (borrowed when already general).
    pub fn cells(&self) -> Cow<'_, [Option<Value>]> {
        match &self.cells {
            Cells::Values(cells) => Cow::Borrowed(cells),
            _ => Cow::Owned((0..self.len()).map(|row| self.get(row)).collect()),
        }
    }

    pub fn get(&self, row: usize) -> Option<Value> {
        match &self.cells {
            Cells::Numbers { values, present } => match present.get(row) {
                Some(true) => values.get(row).map(|v| Value::F64(*v)),
                _ => None,
            },
            Cells::Runs { kind, .. } => self.packed(row, *kind).map(|bytes| kind.value(bytes)),
            Cells::Values(cells) => cells.get(row).cloned().flatten(),
        }
    }

    pub fn take(&mut self, row: usize) -> Option<Value> {
        let value = match &self.cells {
            Cells::Values(_) => None,
            _ => self.get(row),
        };
        match &mut self.cells {
            Cells::Numbers { present, .. } | Cells::Runs { present, .. } => {
                if let Some(p) = present.get_mut(row) {
                    *p = false;
                }
                value
            }
            Cells::Values(cells) => cells.get_mut(row).and_then(Option::take),
        }
    }

    /// Removes every cell. Number and packed columns keep their allocations; a general one
    /// starts over as numbers (the common case), so one odd value does not slow the column down
    /// for good.
    pub fn clear(&mut self) {
        match &mut self.cells {
            Cells::Numbers { values, present } => {
                values.clear();
                present.clear();
            }
            Cells::Runs {
                bytes, ends, present, ..
            } => {
                bytes.clear();
                ends.clear();
                present.clear();
            }
            Cells::Values(_) => {
                self.cells = Cells::Numbers {
                    values: Vec::new(),
                    present: Vec::new(),
                }
            }
        }
    }

    /// Extends the column with absent cells up to `rows` (never shortens it).
    pub fn pad(&mut self, rows: usize) {
        if self.len() >= rows {
            return;
        }
        match &mut self.cells {
            Cells::Numbers { values, present } => {
                values.resize(rows, 0.0);
                present.resize(rows, false);
            }
            Cells::Runs {
                bytes, ends, present, ..
            } => {
                ends.resize(rows, bytes.len());
                present.resize(rows, false);
            }
            Cells::Values(cells) => cells.resize(rows, None),
        }
    }

    /// Sets the cell of `row`, padding with absent cells before it.
    pub fn set(&mut self, row: usize, value: Value) {
        if let Some(stored) = value.packed().map(|(kind, run)| self.append_run(row, kind, run)) {
            if !stored {
                // Not storable as a run here: keep the value itself.
                self.set_general(row, value);
            }
            return;
        }
        if let (Cells::Numbers { values, present }, Value::F64(number)) = (&mut self.cells, &value) {
            if row == present.len() {
                values.push(*number);
                present.push(true);
            } else {
                if row > present.len() {
                    values.resize(row, 0.0);
                    present.resize(row, false);
                    values.push(*number);
                    present.push(true);
                } else if let (Some(v), Some(p)) = (values.get_mut(row), present.get_mut(row)) {
                    *v = *number;
                    *p = true;
                }
            }
            return;
        }
        self.set_general(row, value);
    }

    /// Sets the cell of `row` to the number `value` (`set` with [`Value::F64`], pushed straight
    /// onto a number column when `row` is its next row).
    pub fn set_number(&mut self, row: usize, value: f64) {
        if let Cells::Numbers { values, present } = &mut self.cells {
            if row == present.len() {
                values.push(value);
                present.push(true);
                return;
            }
        }
        self.set(row, Value::F64(value));
    }

    /// Sets the cells of rows `first`, `first + 1`, … (new rows, after every row set so far) to
    /// `values`: appended in one go to a number column, one by one (`set`) to another.
    pub fn push_numbers(&mut self, first: usize, values: impl ExactSizeIterator<Item = f64>) {
        if let Cells::Numbers {
            values: numbers,
            present,
        } = &mut self.cells
        {
            if present.len() <= first {
                let count = values.len();
                numbers.resize(first, 0.0);
                present.resize(first, false);
                numbers.extend(values);
                present.resize(first + count, true);
                return;
            }
        }
        for (row, value) in (first..).zip(values) {
            self.set(row, Value::F64(value));
        }
    }

    /// Sets the cell of `row` to the value of packed kind `kind` whose run is `run` (copied
    /// straight into the column when it holds only values of that kind).
    pub fn set_packed(&mut self, row: usize, kind: Packed, run: &[u8]) {
        if !self.append_run(row, kind, run) {
            self.set_general(row, kind.value(run));
        }
    }

    /// Stores `run` as the cell of `row` if the column keeps runs of `kind` (or has no value yet)
    /// and `row` is its next or last row; returns false, leaving every cell as it was, otherwise.
    fn append_run(&mut self, row: usize, kind: Packed, run: &[u8]) -> bool {
        if let Cells::Numbers { present, .. } = &self.cells {
            if !present.contains(&true) {
                // No number yet: this is a packed column.
                self.cells = Cells::Runs {
                    kind,
                    bytes: Vec::new(),
                    ends: vec![0; present.len()],
                    present: vec![false; present.len()],
                };
            }
        }
        if let Cells::Runs {
            kind: column_kind,
            bytes,
            ends,
            present,
        } = &mut self.cells
        {
            // Appending a row, or rewriting the last one (an entry merged by timestamp).
            if *column_kind == kind && row + 1 >= present.len() {
                if row + 1 == present.len() {
                    bytes.truncate(run_start(ends, row));
                    ends.pop();
                    present.pop();
                }
                ends.resize(row, bytes.len());
                present.resize(row, false);
                bytes.extend_from_slice(run);
                ends.push(bytes.len());
                present.push(true);
                return true;
            }
        }
        false
    }

    /// Sets the cell of `row` in general storage (switching to it if needed).
    fn set_general(&mut self, row: usize, value: Value) {
        if !matches!(self.cells, Cells::Values(_)) {
            self.cells = Cells::Values(self.cells().into_owned());
        }
        if let Cells::Values(cells) = &mut self.cells {
            if row == cells.len() {
                // The common case: the next row.
                cells.push(Some(value));
                return;
            }
            if cells.len() < row {
                cells.resize(row + 1, None);
            }
            if let Some(cell) = cells.get_mut(row) {
                *cell = Some(value);
            }
        }
    }

    /// Appends the rows of `other` (same name) after this column's `len()` rows.
    pub fn append(&mut self, other: Column) {
        if self.is_empty() {
            self.cells = other.cells;
            return;
        }
        match (&mut self.cells, other.cells) {
            (Cells::Numbers { values, present }, Cells::Numbers { values: v, present: p }) => {
                values.extend(v);
                present.extend(p);
            }
            (
                Cells::Runs {
                    kind,
                    bytes,
                    ends,
                    present,
                },
                Cells::Runs {
                    kind: k,
                    bytes: b,
                    ends: n,
                    present: p,
                },
            ) if *kind == k => {
                let base = bytes.len();
                bytes.extend(b);
                ends.extend(n.iter().map(|end| base + end));
                present.extend(p);
            }
            (_, other_cells) => {
                let mut cells = self.cells().into_owned();
                cells.extend(
                    Column {
                        name: other.name,
                        cells: other_cells,
                    }
                    .cells()
                    .iter()
                    .cloned(),
                );
                self.cells = Cells::Values(cells);
            }
        }
    }

    /// Rows `from..to` as a new column.
    pub fn slice(&self, from: usize, to: usize) -> Column {
        let cells = match &self.cells {
            Cells::Numbers { values, present } => Cells::Numbers {
                values: values.get(from..to).map(<[f64]>::to_vec).unwrap_or_default(),
                present: present.get(from..to).map(<[bool]>::to_vec).unwrap_or_default(),
            },
            Cells::Runs {
                kind,
                bytes,
                ends,
                present,
            } => {
                let (first, last) = (run_start(ends, from), run_start(ends, to));
                Cells::Runs {
                    kind: *kind,
                    bytes: bytes.get(first..last).map(<[u8]>::to_vec).unwrap_or_default(),
                    ends: ends
                        .get(from..to)
                        .unwrap_or_default()
                        .iter()
                        .map(|end| end - first)
                        .collect(),
                    present: present.get(from..to).map(<[bool]>::to_vec).unwrap_or_default(),
                }
            }
            Cells::Values(cells) => Cells::Values(cells.get(from..to).map(<[_]>::to_vec).unwrap_or_default()),
        };
        Column {
            name: self.name.clone(),
            cells,
        }
    }
}

/// Where the run of `row` starts in a `Runs` column (where the previous row's ends).
fn run_start(ends: &[usize], row: usize) -> usize {
    row.checked_sub(1)
        .and_then(|previous| ends.get(previous))
        .copied()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Elem;

    #[test]
    fn numbers_stay_compact_until_another_kind_arrives() {
        let mut c = Column::new(ColumnName::from("x"));
        c.set(0, Value::F64(1.0));
        c.set(2, Value::F64(3.0));
        assert_eq!(
            c.numbers().map(|(v, p)| (v.len(), p.to_vec())),
            Some((3, vec![true, false, true]))
        );
        c.set(1, Value::Str("s".into()));
        assert!(c.numbers().is_none());
        assert_eq!(
            c.cells().to_vec(),
            vec![
                Some(Value::F64(1.0)),
                Some(Value::Str("s".into())),
                Some(Value::F64(3.0))
            ]
        );
        assert_eq!(c.kind(), Some(Kind::Mixed));
        assert_eq!(c.take(0), Some(Value::F64(1.0)));
        assert_eq!(c.get(0), None);
    }

    const F32: Packed = Packed::Typed(Elem::F32);

    #[test]
    fn strings_stay_contiguous_until_another_kind_arrives() {
        let mut column = Column::new(ColumnName::from("label"));
        column.set(0, Value::Str("héllo".into()));
        column.set(2, Value::Str("".into()));
        assert!(column.general().is_none());
        assert_eq!(column.kind(), Some(Kind::Str));
        assert_eq!(column.packed(0, Packed::Str), Some("héllo".as_bytes()));
        assert_eq!(column.packed(0, Packed::Json), None);
        assert_eq!(
            column.cells().to_vec(),
            vec![Some(Value::Str("héllo".into())), None, Some(Value::Str("".into()))]
        );
        column.set(3, Value::Json("[1]".into()));
        assert!(column.general().is_some());
        assert_eq!(column.kind(), Some(Kind::Mixed));
        assert_eq!(column.packed(3, Packed::Json), Some(&b"[1]"[..]));
        assert_eq!(column.get(0), Some(Value::Str("héllo".into())));
    }

    fn typed(elem: Elem, values: &[f32]) -> Value {
        Value::Typed {
            elem,
            bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }

    #[test]
    fn typed_arrays_stay_contiguous_until_another_kind_arrives() {
        let (a, b, c) = (
            typed(Elem::F32, &[1.0, 2.0]),
            typed(Elem::F32, &[]),
            typed(Elem::F32, &[3.0]),
        );
        let mut column = Column::new(ColumnName::from("state"));
        column.pad(1);
        column.set(1, a.clone());
        column.set(2, b.clone());
        // An entry merged into the last row rewrites it.
        column.set(3, typed(Elem::F32, &[9.0]));
        column.set(3, c.clone());
        assert!(column.general().is_none());
        assert_eq!(column.kind(), Some(Kind::Typed(Elem::F32)));
        assert_eq!(
            column.cells().to_vec(),
            vec![None, Some(a.clone()), Some(b.clone()), Some(c.clone())]
        );
        assert_eq!(column.packed(1, F32), Some(&[0, 0, 128, 63, 0, 0, 0, 64][..]));
        assert_eq!(column.packed(0, F32), None);

        let tail = column.slice(2, 4);
        assert_eq!(tail.cells().to_vec(), vec![Some(b.clone()), Some(c.clone())]);
        let mut joined = column.slice(0, 2);
        joined.append(tail);
        assert!(joined.general().is_none());
        assert_eq!(joined, column);

        assert_eq!(column.take(1), Some(a.clone()));
        assert_eq!(column.packed(1, F32), None);
        column.clear();
        column.set(0, a.clone());
        assert!(column.general().is_none(), "a cleared array column keeps its storage");

        // Rewriting an earlier row, another element type and a number all switch to general cells,
        // keeping every cell.
        for (row, value) in [(0, c.clone()), (1, typed(Elem::I32, &[])), (2, Value::F64(1.0))] {
            let mut mixed = column.clone();
            mixed.pad(2);
            mixed.set(1, b.clone());
            mixed.set(row, value.clone());
            assert!(mixed.general().is_some());
            let mut expected = vec![Some(a.clone()), Some(b.clone()), None];
            expected.truncate(mixed.len());
            if let Some(cell) = expected.get_mut(row) {
                *cell = Some(value);
            }
            assert_eq!(mixed.cells().to_vec(), expected);
        }
    }
}
