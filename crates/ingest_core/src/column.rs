//! One column of a table in memory. Columns that hold only numbers (the sensor fast path) are
//! stored as a plain `f64` vector plus presence flags, with no per-cell enum; a column that
//! receives any other value switches once to general cells.

use std::borrow::Cow;

use crate::value::{Kind, Value};

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
    /// Anything. `None` = the row has no such field (absent), distinct from `Some(Value::Null)`.
    Values(Vec<Option<Value>>),
}

impl Column {
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
            Cells::Numbers { present, .. } => present.len(),
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
            Cells::Values(cells) => Kind::of_cells(cells),
        }
    }

    /// The values and presence flags of a number column (`None` for general columns).
    pub fn numbers(&self) -> Option<(&[f64], &[bool])> {
        match &self.cells {
            Cells::Numbers { values, present } => Some((values, present)),
            Cells::Values(_) => None,
        }
    }

    /// All cells as general values (borrowed when already general).
    pub fn cells(&self) -> Cow<'_, [Option<Value>]> {
        match &self.cells {
            Cells::Numbers { values, present } => Cow::Owned(
                values
                    .iter()
                    .zip(present)
                    .map(|(v, p)| p.then_some(Value::F64(*v)))
                    .collect(),
            ),
            Cells::Values(cells) => Cow::Borrowed(cells),
        }
    }

    pub fn get(&self, row: usize) -> Option<Value> {
        match &self.cells {
            Cells::Numbers { values, present } => match present.get(row) {
                Some(true) => values.get(row).map(|v| Value::F64(*v)),
                _ => None,
            },
            Cells::Values(cells) => cells.get(row).cloned().flatten(),
        }
    }

    pub fn take(&mut self, row: usize) -> Option<Value> {
        match &mut self.cells {
            Cells::Numbers { values, present } => match present.get_mut(row) {
                Some(p) if *p => {
                    *p = false;
                    values.get(row).map(|v| Value::F64(*v))
                }
                _ => None,
            },
            Cells::Values(cells) => cells.get_mut(row).and_then(Option::take),
        }
    }

    /// Removes every cell. A number column keeps its allocations; a general one starts over as
    /// numbers (the common case), so one odd value does not slow the column down for good.
    pub fn clear(&mut self) {
        match &mut self.cells {
            Cells::Numbers { values, present } => {
                values.clear();
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
            Cells::Values(cells) => cells.resize(rows, None),
        }
    }

    /// Sets the cell of `row`, padding with absent cells before it.
    pub fn set(&mut self, row: usize, value: Value) {
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
        if let Cells::Numbers { .. } = self.cells {
            self.cells = Cells::Values(self.cells().into_owned());
        }
        if let Cells::Values(cells) = &mut self.cells {
            if cells.len() <= row {
                cells.resize(row + 1, None);
            }
            if let Some(cell) = cells.get_mut(row) {
                *cell = Some(value);
            }
        }
    }

    /// Appends the rows of `other` (same name) after this column's `len()` rows.
    pub fn append(&mut self, other: Column) {
        match (&mut self.cells, other.cells) {
            (Cells::Numbers { values, present }, Cells::Numbers { values: v, present: p }) => {
                values.extend(v);
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
            Cells::Values(cells) => Cells::Values(cells.get(from..to).map(<[_]>::to_vec).unwrap_or_default()),
        };
        Column {
            name: self.name.clone(),
            cells,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
