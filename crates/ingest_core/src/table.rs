//! Rows of one track in memory, merged by timestamp.
//!
//! Contract: after `normalize()`, timestamps are strictly increasing and each row is the merge of
//! every entry appended with that timestamp (float64 equality), in append order, the last write
//! winning per field. The result never depends on how appends were split between tables, as long
//! as tables are absorbed in append order.

use crate::value::Value;

/// Column name as stored (flattened, dotted).
pub type ColumnName = std::sync::Arc<str>;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    timestamps: Vec<f64>,
    /// Columns in first-seen order; every column has exactly `timestamps.len()` cells once
    /// `pad()` ran (all public accessors pad first).
    columns: Vec<Column>,
    /// True while timestamps are strictly increasing, so `normalize` has nothing to do.
    in_order: bool,
    approx_bytes: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: ColumnName,
    /// `None` = the row has no such field (absent), distinct from `Some(Value::Null)`.
    pub cells: Vec<Option<Value>>,
}

impl Table {
    pub fn new() -> Self {
        Table {
            in_order: true,
            ..Table::default()
        }
    }

    pub fn len(&self) -> usize {
        self.timestamps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.timestamps.is_empty()
    }

    pub fn timestamps(&self) -> &[f64] {
        &self.timestamps
    }

    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// Approximate memory held, for flush-by-size decisions.
    pub fn approx_bytes(&self) -> usize {
        self.approx_bytes
    }

    fn column_index(&mut self, name: &ColumnName) -> usize {
        if let Some(i) = self.columns.iter().position(|c| c.name == *name) {
            return i;
        }
        self.columns.push(Column {
            name: name.clone(),
            cells: Vec::new(),
        });
        self.columns.len() - 1
    }

    /// Appends one entry. An entry with the timestamp of the last row merges into it at once; any
    /// other equal timestamp merges in `normalize`.
    pub fn push<'a>(
        &mut self,
        timestamp: f64,
        fields: impl IntoIterator<Item = (&'a ColumnName, Value)>,
    ) {
        let merges_into_last = self.timestamps.last() == Some(&timestamp);
        if !merges_into_last {
            if let Some(last) = self.timestamps.last() {
                if timestamp < *last {
                    self.in_order = false;
                }
            }
            self.timestamps.push(timestamp);
            self.approx_bytes += 8;
        }
        let row = self.timestamps.len() - 1;
        for (name, value) in fields {
            self.approx_bytes += value.approx_bytes();
            let index = self.column_index(name);
            if let Some(column) = self.columns.get_mut(index) {
                if column.cells.len() <= row {
                    column.cells.resize(row + 1, None);
                }
                if let Some(cell) = column.cells.get_mut(row) {
                    *cell = Some(value);
                }
            }
        }
    }

    /// Sets every column to exactly one cell per row.
    fn pad(&mut self) {
        let rows = self.timestamps.len();
        for column in &mut self.columns {
            column.cells.resize(rows, None);
        }
    }

    /// Appends all rows of `newer` after this table's rows (newer writes win on merge).
    pub fn absorb(&mut self, newer: Table) {
        let mut newer = newer;
        newer.pad();
        let names: Vec<ColumnName> = newer.columns.iter().map(|c| c.name.clone()).collect();
        let mut columns: Vec<std::vec::IntoIter<Option<Value>>> = newer
            .columns
            .into_iter()
            .map(|c| c.cells.into_iter())
            .collect();
        for timestamp in newer.timestamps {
            let fields: Vec<(&ColumnName, Value)> = names
                .iter()
                .zip(columns.iter_mut())
                .filter_map(|(name, cells)| cells.next().flatten().map(|v| (name, v)))
                .collect();
            self.push(timestamp, fields);
        }
    }

    /// Sorts rows by timestamp and merges equal timestamps (see the module contract).
    pub fn normalize(&mut self) {
        self.pad();
        if self.in_order {
            return;
        }
        let mut order: Vec<usize> = (0..self.timestamps.len()).collect();
        // Stable, so equal timestamps keep append order and the later write wins below.
        order.sort_by(|a, b| {
            let (x, y) = (self.timestamps.get(*a), self.timestamps.get(*b));
            x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal)
        });
        let mut timestamps: Vec<f64> = Vec::with_capacity(order.len());
        // For each new row, the old rows merged into it, in append order.
        let mut groups: Vec<Vec<usize>> = Vec::with_capacity(order.len());
        for old in order {
            let Some(&ts) = self.timestamps.get(old) else {
                continue;
            };
            match (timestamps.last(), groups.last_mut()) {
                (Some(last), Some(group)) if *last == ts => group.push(old),
                _ => {
                    timestamps.push(ts);
                    groups.push(vec![old]);
                }
            }
        }
        for column in &mut self.columns {
            let mut old_cells = std::mem::take(&mut column.cells);
            column.cells = groups
                .iter()
                .map(|group| {
                    group
                        .iter()
                        .filter_map(|old| old_cells.get_mut(*old).and_then(Option::take))
                        .last()
                })
                .collect();
        }
        self.timestamps = timestamps;
        self.in_order = true;
    }

    /// The rows with `start <= timestamp <= end`, as a new normalized table. Requires a
    /// normalized table.
    pub fn range(&self, start: f64, end: f64) -> Table {
        let from = self.timestamps.partition_point(|t| *t < start);
        let to = self.timestamps.partition_point(|t| *t <= end).max(from);
        let mut out = Table::new();
        out.timestamps = self
            .timestamps
            .get(from..to)
            .map(<[f64]>::to_vec)
            .unwrap_or_default();
        out.columns = self
            .columns
            .iter()
            .filter_map(|c| {
                let cells = c.cells.get(from..to)?.to_vec();
                cells.iter().any(Option::is_some).then(|| Column {
                    name: c.name.clone(),
                    cells,
                })
            })
            .collect();
        out
    }

    /// Builds a table from columns read back from storage. Timestamps must be strictly
    /// increasing and every column as long as `timestamps`.
    pub fn from_columns(timestamps: Vec<f64>, columns: Vec<Column>) -> Table {
        let mut table = Table {
            timestamps,
            columns,
            in_order: true,
            approx_bytes: 0,
        };
        table.in_order = table.timestamps.windows(2).all(|w| w[0] < w[1]);
        table.pad();
        table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> ColumnName {
        ColumnName::from(s)
    }

    fn rows(table: &Table) -> Vec<(f64, Vec<(String, Value)>)> {
        (0..table.len())
            .map(|i| {
                let mut fields: Vec<(String, Value)> = table
                    .columns()
                    .iter()
                    .filter_map(|c| c.cells[i].clone().map(|v| (c.name.to_string(), v)))
                    .collect();
                fields.sort_by(|a, b| a.0.cmp(&b.0));
                (table.timestamps()[i], fields)
            })
            .collect()
    }

    #[test]
    fn equal_timestamps_merge_last_write_wins_in_any_order() {
        let (a, b) = (name("a"), name("b"));
        let mut t = Table::new();
        t.push(2.0, [(&a, Value::F64(1.0))]);
        t.push(1.0, [(&a, Value::F64(10.0))]);
        t.push(2.0, [(&b, Value::F64(2.0))]);
        t.push(2.0, [(&a, Value::F64(3.0))]);
        t.normalize();
        assert_eq!(
            rows(&t),
            vec![
                (1.0, vec![("a".into(), Value::F64(10.0))]),
                (
                    2.0,
                    vec![("a".into(), Value::F64(3.0)), ("b".into(), Value::F64(2.0))]
                ),
            ]
        );
    }

    #[test]
    fn absorbing_in_parts_equals_one_table() {
        let (a, b) = (name("a"), name("b"));
        let entries = [
            (3.0, &a, 1.0),
            (1.0, &b, 2.0),
            (3.0, &b, 3.0),
            (2.0, &a, 4.0),
            (1.0, &b, 5.0),
        ];
        let mut whole = Table::new();
        for (ts, n, v) in entries {
            whole.push(ts, [(n, Value::F64(v))]);
        }
        whole.normalize();
        for split in 0..entries.len() {
            let mut first = Table::new();
            let mut second = Table::new();
            for (i, (ts, n, v)) in entries.iter().enumerate() {
                let target = if i < split { &mut first } else { &mut second };
                target.push(*ts, [(*n, Value::F64(*v))]);
            }
            first.normalize();
            second.normalize();
            first.absorb(second);
            first.normalize();
            assert_eq!(rows(&first), rows(&whole), "split at {split}");
        }
    }

    #[test]
    fn range_is_inclusive() {
        let a = name("a");
        let mut t = Table::new();
        for i in 0..10 {
            t.push(f64::from(i), [(&a, Value::F64(f64::from(i)))]);
        }
        t.normalize();
        assert_eq!(t.range(2.0, 4.0).timestamps(), &[2.0, 3.0, 4.0]);
        assert!(t.range(20.0, 30.0).is_empty());
    }
}
