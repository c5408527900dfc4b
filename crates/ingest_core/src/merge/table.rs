//! Rows of one track in memory, merged by timestamp.
//!
//! Contract: after `normalize()`, timestamps are strictly increasing and each row is the merge of
//! every entry appended with that timestamp (float64 equality), in append order, the last write
//! winning per field. The result never depends on how appends were split between tables, as long
//! as tables are absorbed in append order.

use std::collections::HashMap;

use crate::error::{IngestError, Result};
use crate::ingest::wire::{Entry, Field, Numbers, Shape};
pub use crate::merge::column::{Column, ColumnName};
use crate::value::{Packed, Value};

/// Marks "no column yet" in the key → column cache.
const NO_COLUMN: u32 = u32::MAX;

/// What a number cell adds to `approx_bytes` (as any value set through [`Table::set`]).
const NUMBER_APPROX_BYTES: usize = std::mem::size_of::<Option<Value>>();

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    timestamps: Vec<f64>,
    /// Columns in first-seen order. A column may be shorter than `timestamps` until `pad()`
    /// (all public accessors of a normalized table see padded columns).
    columns: Vec<Column>,
    /// Column index per interned key id (the writer's field ids), so the hot path never searches.
    by_key: Vec<u32>,
    /// Column indices per numbers-only shape id, in the shape's key order (empty: not resolved).
    by_shape: Vec<Box<[u32]>>,
    /// Column index per name, so finding a column costs the same in a table of 100,000 columns.
    by_name: HashMap<ColumnName, usize>,
    /// True while timestamps are strictly increasing, so `normalize` has nothing to do.
    in_order: bool,
    approx_bytes: usize,
}

impl Default for Table {
    /// An empty table (in order: `normalize` has nothing to do).
    fn default() -> Self {
        Table {
            timestamps: Vec::new(),
            columns: Vec::new(),
            by_key: Vec::new(),
            by_shape: Vec::new(),
            by_name: HashMap::new(),
            in_order: true,
            approx_bytes: 0,
        }
    }
}

impl Table {
    pub fn new() -> Self {
        Table::default()
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

    /// The memory its rows hold, roughly, counted from its columns (also for tables read back
    /// from storage, whose `approx_bytes` counts only rows added since).
    pub fn memory_bytes(&self) -> usize {
        self.timestamps.len() * 8 + self.columns.iter().map(Column::memory_bytes).sum::<usize>()
    }

    /// Approximate memory held, for flush-by-size decisions.
    pub fn approx_bytes(&self) -> usize {
        self.approx_bytes
    }

    /// Starts the row for an entry at `timestamp` and returns its index. An entry with the
    /// timestamp of the last row merges into it at once; other equal timestamps merge in
    /// `normalize`.
    pub fn begin_row(&mut self, timestamp: f64) -> usize {
        match self.timestamps.last() {
            Some(last) if *last == timestamp => return self.timestamps.len() - 1,
            Some(last) if timestamp < *last => self.in_order = false,
            _ => {}
        }
        self.timestamps.push(timestamp);
        self.approx_bytes += 8;
        self.timestamps.len() - 1
    }

    /// The index of the column called `name`, created if needed.
    pub fn column_index(&mut self, name: &ColumnName) -> usize {
        if let Some(i) = self.by_name.get(name) {
            return *i;
        }
        self.columns.push(Column::new(name.clone()));
        self.by_name.insert(name.clone(), self.columns.len() - 1);
        self.columns.len() - 1
    }

    /// `column_index` through a cache keyed by the caller's interned id for `name`.
    pub fn column_index_for_key(&mut self, key: u32, name: &ColumnName) -> usize {
        let slot = key as usize;
        if let Some(&index) = self.by_key.get(slot) {
            if index != NO_COLUMN {
                return index as usize;
            }
        }
        let index = self.column_index(name);
        if self.by_key.len() <= slot {
            self.by_key.resize(slot + 1, NO_COLUMN);
        }
        if let Some(cached) = self.by_key.get_mut(slot) {
            *cached = u32::try_from(index).unwrap_or(NO_COLUMN);
        }
        index
    }

    /// Sets a field of `row` (a row returned by `begin_row`).
    pub fn set(&mut self, column: usize, row: usize, value: Value) {
        self.approx_bytes += value.approx_bytes();
        if let Some(column) = self.columns.get_mut(column) {
            column.set(row, value);
        }
    }

    /// Sets a field of `row` to the value of packed kind `kind` whose run of bytes is `run`.
    pub fn set_packed(&mut self, column: usize, row: usize, kind: Packed, run: &[u8]) {
        // The bytes plus a row end and a presence flag.
        self.approx_bytes += run.len() + 9;
        if let Some(column) = self.columns.get_mut(column) {
            column.set_packed(row, kind, run);
        }
    }

    /// Appends one decoded batch entry (see `begin_row`), taking its fields; `keys` names the
    /// batch's field ids, `shapes` its shape ids.
    pub fn push_entry(&mut self, entry: &mut Entry<'_>, keys: &[ColumnName], shapes: &[Shape]) -> Result<()> {
        if let Some(numbers) = entry.numbers {
            return self.push_numbers(numbers, keys, shapes);
        }
        let row = self.begin_row(entry.timestamp);
        for (key, field) in entry.fields.drain(..) {
            let Some(name) = keys.get(key as usize) else {
                return Err(IngestError::UnknownId { what: "key", id: key });
            };
            let column = self.column_index_for_key(key, name);
            match field {
                Field::Value(value) => self.set(column, row, value),
                Field::Packed { kind, bytes } => self.set_packed(column, row, kind, bytes),
            }
        }
        Ok(())
    }

    /// Appends a run of entries of a shape of numbers only: each value copied into its column,
    /// found through the shape's cached column indices (no key lookup, no [`Value`] per field).
    /// A run whose timestamps all follow the table's last, strictly increasing (a sensor's rows),
    /// is appended column by column; any other goes row by row (see `begin_row`).
    fn push_numbers(&mut self, numbers: Numbers<'_>, keys: &[ColumnName], shapes: &[Shape]) -> Result<()> {
        let id = numbers.shape as usize;
        if self.by_shape.get(id).is_none_or(|columns| columns.is_empty()) {
            let Some(shape) = shapes.get(id) else {
                return Err(IngestError::UnknownId {
                    what: "shape",
                    id: numbers.shape,
                });
            };
            let columns = (shape.fields.iter())
                .map(|(key, _)| match keys.get(*key as usize) {
                    Some(name) => Ok(u32::try_from(self.column_index_for_key(*key, name)).unwrap_or(NO_COLUMN)),
                    None => Err(IngestError::UnknownId { what: "key", id: *key }),
                })
                .collect::<Result<Box<[u32]>>>()?;
            if self.by_shape.len() <= id {
                self.by_shape.resize(id + 1, Box::default());
            }
            if let Some(slot) = self.by_shape.get_mut(id) {
                *slot = columns;
            }
        }
        // Taken out while the rows go in (put back below), so the table can be changed meanwhile.
        let columns = self.by_shape.get_mut(id).map(std::mem::take).unwrap_or_default();
        self.push_numbers_into(&columns, numbers);
        if let Some(slot) = self.by_shape.get_mut(id) {
            *slot = columns;
        }
        Ok(())
    }

    /// `push_numbers` once the shape's column indices are known.
    fn push_numbers_into(&mut self, columns: &[u32], numbers: Numbers<'_>) {
        let rows = numbers.rows();
        self.approx_bytes += rows * columns.len() * NUMBER_APPROX_BYTES;
        let mut last = self.timestamps.last().copied().unwrap_or(f64::NEG_INFINITY);
        let increasing = (0..rows).all(|row| {
            let timestamp = numbers.timestamp(row);
            let after = timestamp > last;
            last = timestamp;
            after
        });
        if increasing {
            let first = self.timestamps.len();
            self.timestamps.extend((0..rows).map(|row| numbers.timestamp(row)));
            self.approx_bytes += rows * 8;
            for (key, index) in columns.iter().enumerate() {
                if let Some(column) = self.columns.get_mut(*index as usize) {
                    column.push_numbers(first, (0..rows).map(|row| numbers.value(row, key)));
                }
            }
            return;
        }
        for row in 0..rows {
            let at = self.begin_row(numbers.timestamp(row));
            for (index, value) in columns.iter().zip(numbers.values(row)) {
                if let Some(column) = self.columns.get_mut(*index as usize) {
                    column.set_number(at, value);
                }
            }
        }
    }

    /// Appends one entry (see `begin_row`).
    pub fn push<'a>(&mut self, timestamp: f64, fields: impl IntoIterator<Item = (&'a ColumnName, Value)>) {
        let row = self.begin_row(timestamp);
        for (name, value) in fields {
            let column = self.column_index(name);
            self.set(column, row, value);
        }
    }

    /// Sets every column to exactly one cell per row.
    fn pad(&mut self) {
        let rows = self.timestamps.len();
        for column in &mut self.columns {
            column.pad(rows);
        }
    }

    /// Appends all rows of `newer` after this table's rows (newer writes win on merge).
    pub fn absorb(&mut self, newer: Table) {
        let mut newer = newer;
        newer.pad();
        let after = match (self.timestamps.last(), newer.timestamps.first()) {
            (Some(last), Some(first)) => first > last,
            _ => true,
        };
        if after && newer.in_order {
            // Rows all after ours, none sharing a timestamp: the columns are appended whole.
            self.append_after(newer);
            return;
        }
        let targets: Vec<usize> = newer.columns.iter().map(|c| self.column_index(&c.name)).collect();
        for (row, timestamp) in newer.timestamps.iter().enumerate() {
            let at = self.begin_row(*timestamp);
            for (column, target) in newer.columns.iter_mut().zip(&targets) {
                if let Some(value) = column.take(row) {
                    self.set(*target, at, value);
                }
            }
        }
    }

    /// `absorb` for a padded, in-order `newer` whose first timestamp is after our last one.
    fn append_after(&mut self, newer: Table) {
        let rows = self.timestamps.len();
        self.pad();
        for column in newer.columns {
            let target = self.column_index(&column.name);
            if let Some(target) = self.columns.get_mut(target) {
                target.pad(rows);
                target.append(column);
            }
        }
        self.timestamps.extend_from_slice(&newer.timestamps);
        self.approx_bytes += newer.approx_bytes;
        self.pad();
    }

    /// Splits the rows into those whose timestamp `pick` selects and the rest, both in the
    /// table's order (a normalized table gives normalized parts).
    pub fn split(mut self, pick: impl Fn(f64) -> bool) -> (Table, Table) {
        let picked: Vec<bool> = self.timestamps.iter().map(|ts| pick(*ts)).collect();
        if !picked.contains(&true) {
            return (Table::new(), self);
        }
        self.pad();
        let mut parts = (Table::new(), Table::new());
        let names: Vec<ColumnName> = self.columns.iter().map(|c| c.name.clone()).collect();
        let targets = (
            names.iter().map(|n| parts.0.column_index(n)).collect::<Vec<_>>(),
            names.iter().map(|n| parts.1.column_index(n)).collect::<Vec<_>>(),
        );
        for (row, (timestamp, pick)) in self.timestamps.iter().zip(picked).enumerate() {
            let (part, targets) = match pick {
                true => (&mut parts.0, &targets.0),
                false => (&mut parts.1, &targets.1),
            };
            let at = part.begin_row(*timestamp);
            for (column, target) in self.columns.iter_mut().zip(targets) {
                if let Some(value) = column.take(row) {
                    part.set(*target, at, value);
                }
            }
        }
        parts.0.pad();
        parts.1.pad();
        parts
    }

    /// Empties the table but keeps its allocations (and its columns, empty), so refilling it with
    /// the next rows of the same track neither reallocates nor faults in fresh memory.
    pub fn clear(&mut self) {
        self.timestamps.clear();
        for column in &mut self.columns {
            column.clear();
        }
        self.in_order = true;
        self.approx_bytes = 0;
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
            let Some(&ts) = self.timestamps.get(old) else { continue };
            match (timestamps.last(), groups.last_mut()) {
                (Some(last), Some(group)) if *last == ts => group.push(old),
                _ => {
                    timestamps.push(ts);
                    groups.push(vec![old]);
                }
            }
        }
        for column in &mut self.columns {
            let mut merged = Column::new(column.name.clone());
            for (row, group) in groups.iter().enumerate() {
                if let Some(value) = group.iter().filter_map(|old| column.take(*old)).last() {
                    merged.set(row, value);
                }
            }
            merged.pad(groups.len());
            *column = merged;
        }
        self.timestamps = timestamps;
        self.in_order = true;
    }

    /// The rows with `start <= timestamp <= end` (a normalized table): this table itself when
    /// they are all of its rows (no copy), else `range`.
    pub fn into_range(self, start: f64, end: f64) -> Table {
        let within = |t: Option<&f64>| t.is_some_and(|t| (start..=end).contains(t));
        match within(self.timestamps.first()) && within(self.timestamps.last()) {
            true => self,
            false => self.range(start, end),
        }
    }

    /// The rows with `start <= timestamp <= end`, as a new normalized table. Requires a
    /// normalized table.
    pub fn range(&self, start: f64, end: f64) -> Table {
        let from = self.timestamps.partition_point(|t| *t < start);
        let to = self.timestamps.partition_point(|t| *t <= end).max(from);
        let mut out = Table::new();
        out.timestamps = self.timestamps.get(from..to).map(<[f64]>::to_vec).unwrap_or_default();
        out.columns = self
            .columns
            .iter()
            .map(|c| c.slice(from, to))
            .filter(Column::has_values)
            .collect();
        out.index_columns();
        out
    }

    /// Rebuilds the index of columns by name after the column list was replaced.
    fn index_columns(&mut self) {
        self.by_name = (self.columns.iter().enumerate())
            .map(|(index, column)| (column.name.clone(), index))
            .collect();
    }

    /// The column named `name`, if the table has one.
    pub fn column(&self, name: &ColumnName) -> Option<&Column> {
        self.columns.get(*self.by_name.get(name)?)
    }

    /// Keeps only the named columns (timestamps always stay).
    pub fn project(&mut self, names: &[String]) {
        let keep: std::collections::HashSet<&str> = names.iter().map(String::as_str).collect();
        self.columns.retain(|c| keep.contains(&*c.name));
        self.by_key.clear();
        self.by_shape.clear();
        self.index_columns();
    }

    /// Builds a table from columns read back from storage. Every column must be as long as
    /// `timestamps`.
    pub fn from_columns(timestamps: Vec<f64>, columns: Vec<Column>) -> Table {
        let mut table = Table {
            timestamps,
            columns,
            by_key: Vec::new(),
            by_shape: Vec::new(),
            by_name: HashMap::new(),
            in_order: true,
            approx_bytes: 0,
        };
        table.index_columns();
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

    /// A deterministic pseudo-random sequence (an LCG): `next(n)` is in `0..n`.
    fn seeded(mut seed: u64) -> impl FnMut(u64) -> u64 {
        move |n| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        }
    }

    fn rows(table: &Table) -> Vec<(f64, Vec<(String, Value)>)> {
        (0..table.len())
            .map(|i| {
                let mut fields: Vec<(String, Value)> = table
                    .columns()
                    .iter()
                    .filter_map(|c| c.get(i).map(|v| (c.name.to_string(), v)))
                    .collect();
                fields.sort_by(|a, b| a.0.cmp(&b.0));
                (table.timestamps()[i], fields)
            })
            .collect()
    }

    #[test]
    fn a_cleared_table_refills_like_a_new_one() {
        let fill = |table: &mut Table, base: f64| {
            for i in 0..100 {
                let ts = base + f64::from(i);
                table.push(ts, [(&name("x"), Value::F64(ts)), (&name("s"), Value::Str("a".into()))]);
            }
            table.push(base - 1.0, [(&name("y"), Value::Bool(true))]);
            table.normalize();
        };
        let mut reused = Table::new();
        fill(&mut reused, 0.0);
        reused.clear();
        assert!(reused.is_empty());
        assert_eq!(reused.approx_bytes(), 0);
        fill(&mut reused, 500.0);
        let mut fresh = Table::new();
        fill(&mut fresh, 500.0);
        assert_eq!(rows(&reused), rows(&fresh));
        assert_eq!(reused.approx_bytes(), fresh.approx_bytes());
    }

    #[test]
    fn equal_timestamps_merge_last_write_wins_in_any_order() {
        let (a, b) = (name("a"), name("b"));
        let mut t = Table::new();
        t.push(2.0, [(&a, Value::F64(1.0))]);
        t.push(1.0, [(&a, Value::F64(10.0))]);
        t.push(2.0, [(&b, Value::Str("x".into()))]);
        t.push(2.0, [(&a, Value::F64(3.0))]);
        t.normalize();
        assert_eq!(
            rows(&t),
            vec![
                (1.0, vec![("a".into(), Value::F64(10.0))]),
                (
                    2.0,
                    vec![("a".into(), Value::F64(3.0)), ("b".into(), Value::Str("x".into()))]
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

    /// Seeded random batches mixing runs of entries of numbers-only shapes (copied into their
    /// columns without a field per value, column by column when in time order) with general
    /// entries of the same keys (strings, nulls, numbers), at increasing, repeated and
    /// out-of-order timestamps, and a clear between batches: the table equals one built by `push`
    /// of the same values.
    #[test]
    fn numbers_only_entries_equal_general_ones() {
        use crate::ingest::wire::{decode_batch, encode_value, Shape, NUMERIC_FLAG};
        let keys = [name("a"), name("b"), name("c")];
        let shapes = [Shape::numbers(&[0, 1]), Shape::numbers(&[2, 0]), Shape::numbers(&[1])];
        let mut next = seeded(20_261_203);
        let mut table = Table::new();
        for case in 0..600 {
            table.clear();
            let mut batch = Vec::new();
            let mut model = Table::new();
            // Half the cases in time order (runs of one shape then go in column by column, unless
            // a timestamp repeats), half at random timestamps.
            let ordered = next(2) == 0;
            let (mut ts, mut id) = (0.0, 0_u32);
            for _ in 0..1 + next(30) {
                ts = match (ordered, next(8)) {
                    (true, 0) => ts,
                    (true, _) => ts + 1.0,
                    (false, _) => next(5) as f64,
                };
                let mut fields: Vec<(usize, Value)> = Vec::new();
                if next(3) > 0 {
                    // Mostly the shape before, so runs of one shape form.
                    if next(4) == 0 {
                        id = next(shapes.len() as u64) as u32;
                    }
                    batch.extend_from_slice(&NUMERIC_FLAG.to_le_bytes());
                    batch.extend_from_slice(&id.to_le_bytes());
                    batch.extend_from_slice(&ts.to_le_bytes());
                    for (key, _) in shapes[id as usize].fields.iter() {
                        let value = next(100) as f64 - 50.0;
                        batch.extend_from_slice(&value.to_le_bytes());
                        fields.push((*key as usize, Value::F64(value)));
                    }
                } else {
                    for key in 0..3 {
                        match next(4) {
                            0 => {}
                            1 => fields.push((key, Value::Str(format!("s{}", next(3)).into()))),
                            2 => fields.push((key, Value::Null)),
                            _ => fields.push((key, Value::F64(next(9) as f64))),
                        }
                    }
                    batch.extend_from_slice(&0u32.to_le_bytes());
                    batch.extend_from_slice(&(fields.len() as u32).to_le_bytes());
                    batch.extend_from_slice(&ts.to_le_bytes());
                    for (key, value) in &fields {
                        batch.extend_from_slice(&(*key as u32).to_le_bytes());
                        encode_value(&mut batch, value);
                    }
                    batch.resize(batch.len().div_ceil(8) * 8, 0);
                }
                model.push(ts, fields.iter().map(|(k, v)| (&keys[*k], v.clone())));
            }
            decode_batch(&batch, &shapes, |entry| table.push_entry(entry, &keys, &shapes)).expect("decodes");
            table.normalize();
            model.normalize();
            assert_eq!(rows(&table), rows(&model), "case {case}");
        }
    }

    /// Seeded random tables, split in two at a random row, absorbed (whole columns when the
    /// second part is after the first, cell by cell otherwise) equal one table of every row.
    #[test]
    fn absorbing_random_parts_equals_one_table() {
        let names = [name("a"), name("b"), name("c")];
        let mut next = seeded(20_261_202);
        for case in 0..500 {
            let count = 1 + next(12);
            let ordered = next(2) == 0;
            let mut rows_in: Vec<(f64, Vec<(usize, Value)>)> = Vec::new();
            for i in 0..count {
                let ts = if ordered { i as f64 } else { next(6) as f64 };
                let mut fields = Vec::new();
                for c in 0..3 {
                    if next(3) == 0 {
                        continue;
                    }
                    let value = match next(4) {
                        0 => Value::F64(next(100) as f64),
                        1 => Value::Str(format!("s{}", next(5)).into()),
                        2 => Value::Null,
                        _ => Value::F64List(vec![next(9) as f64].into()),
                    };
                    fields.push((c, value));
                }
                rows_in.push((ts, fields));
            }
            let build = |part: &[(f64, Vec<(usize, Value)>)]| {
                let mut table = Table::new();
                for (ts, fields) in part {
                    table.push(*ts, fields.iter().map(|(c, v)| (&names[*c], v.clone())));
                }
                table.normalize();
                table
            };
            let whole = build(&rows_in);
            let split = next(count + 1) as usize;
            let mut first = build(&rows_in[..split]);
            first.absorb(build(&rows_in[split..]));
            first.normalize();
            assert_eq!(rows(&first), rows(&whole), "case {case}, split at {split}");
        }
    }

    #[test]
    fn keyed_lookup_matches_named_lookup() {
        let (a, b) = (name("a"), name("b"));
        let mut t = Table::new();
        let row = t.begin_row(1.0);
        let ca = t.column_index_for_key(7, &a);
        let cb = t.column_index_for_key(2, &b);
        assert_eq!((t.column_index_for_key(7, &a), t.column_index(&b)), (ca, cb));
        t.set(ca, row, Value::F64(1.0));
        assert_eq!(rows(&t), vec![(1.0, vec![("a".into(), Value::F64(1.0))])]);
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
