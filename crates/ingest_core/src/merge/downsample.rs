//! Downsampling for charts (M4): what a line chart `buckets` pixels wide needs to look the same as
//! with every row. The time range is cut into `buckets` equal spans; in each, every number
//! column's first, last, smallest and largest value are kept.
//!
//! Two ways, one contract: [`downsample`] keeps the rows holding them (and each span's first and
//! last row), rows of the table unchanged; [`downsample_summarized`] works from rows and from
//! summaries of blocks of rows (see `storage::segment::summary`), so a chart of millions of rows
//! decodes none of them, and gives each number column's points alone (a row per point, holding
//! that column only). A block's extremes count in the spans their timestamps fall in: every point
//! is drawn in its own pixel column, and a span's extremes are exact but for the rows of a block
//! it shares with the next span that are not that block's extremes.

use std::collections::HashMap;

use crate::merge::column::{Column, ColumnName};
use crate::merge::table::Table;
use crate::value::Value;

/// `table` (normalized) downsampled to at most about `4 × buckets × (number columns + 1)` rows;
/// a table that small already is returned as it is.
pub fn downsample(table: Table, buckets: usize) -> Table {
    let rows = table.len();
    let buckets = buckets.max(1);
    if rows <= 4 * buckets {
        return table;
    }
    let timestamps = table.timestamps();
    let (first, last) = (timestamps[0], timestamps[rows - 1]);
    let span = (last - first) / buckets as f64;
    let bucket_of = |t: f64| {
        if span > 0.0 {
            (((t - first) / span) as usize).min(buckets - 1)
        } else {
            0
        }
    };
    let mut keep = vec![false; rows];
    // Row ranges of the buckets (rows are sorted by timestamp).
    let mut start = 0;
    while start < rows {
        let bucket = bucket_of(timestamps[start]);
        let mut end = start + 1;
        while end < rows && bucket_of(timestamps[end]) == bucket {
            end += 1;
        }
        keep[start] = true;
        keep[end - 1] = true;
        for column in table.columns() {
            mark_extremes(column, start..end, &mut keep);
        }
        start = end;
    }
    let kept: Vec<usize> = (0..rows).filter(|row| keep[*row]).collect();
    take(&table, &kept)
}

/// Marks the rows of the first, last, smallest and largest number of `column` in `range`.
fn mark_extremes(column: &Column, range: std::ops::Range<usize>, keep: &mut [bool]) {
    let number = |row: usize| -> Option<f64> {
        match column.numbers() {
            Some((values, present)) => values.get(row).filter(|_| present.get(row) == Some(&true)).copied(),
            None => match column.get(row) {
                Some(Value::F64(v)) => Some(v),
                _ => None,
            },
        }
    };
    let (mut first, mut last, mut min, mut max) = (None, None, None::<(usize, f64)>, None::<(usize, f64)>);
    for row in range {
        let Some(v) = number(row) else { continue };
        first.get_or_insert(row);
        last = Some(row);
        if v.is_nan() {
            continue;
        }
        if min.is_none_or(|(_, m)| v < m) {
            min = Some((row, v));
        }
        if max.is_none_or(|(_, m)| v > m) {
            max = Some((row, v));
        }
    }
    for row in [first, last, min.map(|m| m.0), max.map(|m| m.0)].into_iter().flatten() {
        keep[row] = true;
    }
}

/// The rows `kept` (sorted) of `table`.
fn take(table: &Table, kept: &[usize]) -> Table {
    let timestamps = kept
        .iter()
        .filter_map(|row| table.timestamps().get(*row))
        .copied()
        .collect();
    let columns = (table.columns().iter())
        .map(|column| match column.numbers() {
            Some((values, present)) => Column::from_numbers(
                column.name.clone(),
                kept.iter()
                    .map(|row| values.get(*row).copied().unwrap_or(0.0))
                    .collect(),
                kept.iter()
                    .map(|row| present.get(*row).copied().unwrap_or(false))
                    .collect(),
            ),
            None => Column::from_cells(column.name.clone(), kept.iter().map(|row| column.get(*row)).collect()),
        })
        .collect();
    Table::from_columns(timestamps, columns)
}

/// A value of a number column at its timestamp.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub timestamp: f64,
    pub value: f64,
}

impl Point {
    pub fn new(timestamp: f64, value: f64) -> Point {
        Point { timestamp, value }
    }
}

/// The first, last, smallest and largest of some points of one column (a NaN value can be first
/// or last, never smallest or largest).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Extremes {
    pub first: Point,
    pub last: Point,
    pub min: Option<Point>,
    pub max: Option<Point>,
}

impl Extremes {
    fn of(point: Point) -> Extremes {
        let number = (!point.value.is_nan()).then_some(point);
        Extremes {
            first: point,
            last: point,
            min: number,
            max: number,
        }
    }

    /// Counts `point` into `slot` (which holds the extremes of the points so far, if any).
    #[inline]
    pub fn include(slot: &mut Option<Extremes>, point: Point) {
        let Some(extremes) = slot else {
            *slot = Some(Extremes::of(point));
            return;
        };
        if point.timestamp < extremes.first.timestamp {
            extremes.first = point;
        }
        if point.timestamp > extremes.last.timestamp {
            extremes.last = point;
        }
        if point.value.is_nan() {
            return;
        }
        if extremes.min.is_none_or(|m| point.value < m.value) {
            extremes.min = Some(point);
        }
        if extremes.max.is_none_or(|m| point.value > m.value) {
            extremes.max = Some(point);
        }
    }

    /// First, last, smallest and largest (each present once or more).
    pub fn points(&self) -> impl Iterator<Item = Point> {
        [Some(self.first), Some(self.last), self.min, self.max]
            .into_iter()
            .flatten()
    }
}

/// A summarized block of rows: its time range and each number column's extremes in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub first_timestamp: f64,
    pub last_timestamp: f64,
    pub columns: Vec<(ColumnName, Extremes)>,
}

/// Up to this many columns, `Spans::of` looks a name up by pointer before hashing it.
const FEW_COLUMNS: usize = 16;

/// Each column's extremes per span, columns in first-seen order.
struct Spans {
    buckets: usize,
    columns: Vec<(ColumnName, Vec<Option<Extremes>>)>,
    index: HashMap<ColumnName, usize>,
}

impl Spans {
    fn new(buckets: usize) -> Spans {
        Spans {
            buckets,
            columns: Vec::new(),
            index: HashMap::new(),
        }
    }

    /// Every extreme as a row of its timestamp and column (rows of equal timestamps merged); a
    /// column without a number is left out.
    fn into_table(self) -> Table {
        let mut points: Vec<(f64, usize, f64)> = Vec::new();
        for (column, (_, slots)) in self.columns.iter().enumerate() {
            for point in slots.iter().flatten().flat_map(Extremes::points) {
                points.push((point.timestamp, column, point.value));
            }
        }
        points.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        let mut timestamps: Vec<f64> = Vec::new();
        let mut columns: Vec<(Vec<f64>, Vec<bool>)> = vec![(Vec::new(), Vec::new()); self.columns.len()];
        for (timestamp, column, value) in points {
            if timestamps.last() != Some(&timestamp) {
                timestamps.push(timestamp);
                for (values, present) in &mut columns {
                    values.push(0.0);
                    present.push(false);
                }
            }
            if let Some((values, present)) = columns.get_mut(column) {
                if let (Some(v), Some(p)) = (values.last_mut(), present.last_mut()) {
                    (*v, *p) = (value, true);
                }
            }
        }
        let columns = (self.columns.into_iter().zip(columns))
            .map(|((name, _), (values, present))| Column::from_numbers(name, values, present))
            .filter(Column::has_values)
            .collect();
        Table::from_columns(timestamps, columns)
    }

    /// The spans of column `name`. Called per block and column: the blocks of one segment share
    /// their names' allocations, so among a few columns a pointer comparison usually finds the
    /// column without hashing.
    fn of(&mut self, name: &ColumnName) -> &mut Vec<Option<Extremes>> {
        let next = self.columns.len();
        let known = (self.columns.len() <= FEW_COLUMNS)
            .then(|| self.columns.iter().position(|(n, _)| std::sync::Arc::ptr_eq(n, name)))
            .flatten();
        let index = match known {
            Some(index) => index,
            None => *self.index.entry(name.clone()).or_insert(next),
        };
        if index == next {
            self.columns.push((name.clone(), vec![None; self.buckets]));
        }
        &mut self.columns[index].1
    }
}

/// The number columns' extremes per span of `[first, last]` cut into `buckets` spans, from
/// `tables` (each normalized, no timestamp shared between them or with `blocks`) and `blocks`;
/// one row per point, holding only its column. Non-number columns are left out.
pub fn downsample_summarized(tables: &[Table], blocks: &[Block], buckets: usize) -> Table {
    let buckets = buckets.max(1);
    let stamps = (tables.iter())
        .flat_map(|t| [t.timestamps().first(), t.timestamps().last()])
        .flatten()
        .copied()
        .chain(blocks.iter().flat_map(|b| [b.first_timestamp, b.last_timestamp]));
    let (first, last) = stamps.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), t| (lo.min(t), hi.max(t)));
    let span = (last - first) / buckets as f64;
    let bucket_of = |t: f64| match span > 0.0 {
        true => (((t - first) / span) as usize).min(buckets - 1),
        false => 0,
    };
    let mut spans = Spans::new(buckets);
    // Summarized blocks first: they precede the unsealed rows in time, so among equal values
    // (a flat line, a column of infinities) the earliest point is the one kept.
    for block in blocks {
        for (name, extremes) in &block.columns {
            let slots = spans.of(name);
            for point in extremes.points() {
                if let Some(slot) = slots.get_mut(bucket_of(point.timestamp)) {
                    Extremes::include(slot, point);
                }
            }
        }
    }
    for table in tables {
        let timestamps = table.timestamps();
        for column in table.columns() {
            let slots = spans.of(&column.name);
            let mut include = |row: usize, value: f64| {
                if let Some(t) = timestamps.get(row) {
                    if let Some(slot) = slots.get_mut(bucket_of(*t)) {
                        Extremes::include(slot, Point::new(*t, value));
                    }
                }
            };
            match column.numbers() {
                Some((values, present)) => {
                    for (row, (value, present)) in values.iter().zip(present).enumerate() {
                        if *present {
                            include(row, *value);
                        }
                    }
                }
                None => {
                    for row in 0..column.len() {
                        if let Some(Value::F64(value)) = column.get(row) {
                            include(row, value);
                        }
                    }
                }
            }
        }
    }
    spans.into_table()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seeded random series: every bucket keeps each number column's min, max, first and last
    /// value, the output is a subset of the rows in order, and it stays small.
    #[test]
    fn keeps_every_buckets_extremes_and_stays_small() {
        let (x, label) = (ColumnName::from("x"), ColumnName::from("label"));
        let mut seed = 7_u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        for case in 0..50 {
            let rows = 1000 + case * 97;
            let buckets = 10 + case;
            let mut table = Table::new();
            let mut t = 0.0;
            for i in 0..rows {
                t += 0.001 + next();
                let mut fields = vec![(&label, Value::Str(format!("l{i}").into()))];
                if next() > 0.1 {
                    fields.push((&x, Value::F64((next() - 0.5) * 100.0)));
                }
                table.push(t, fields);
            }
            table.normalize();
            let whole = table.clone();
            let small = downsample(table, buckets);
            assert!(small.len() <= 6 * buckets, "case {case}: {} rows", small.len());
            let ts = small.timestamps();
            assert!(ts.windows(2).all(|w| w[0] < w[1]));
            let span = (whole.timestamps()[rows - 1] - whole.timestamps()[0]) / buckets as f64;
            let bucket = |t: f64| (((t - whole.timestamps()[0]) / span) as usize).min(buckets - 1);
            let values = |table: &Table| -> Vec<(usize, f64)> {
                let column = table.columns().iter().find(|c| &*c.name == "x").unwrap();
                (0..table.len())
                    .filter_map(|row| match column.get(row) {
                        Some(Value::F64(v)) => Some((bucket(table.timestamps()[row]), v)),
                        _ => None,
                    })
                    .collect()
            };
            let (all, kept) = (values(&whole), values(&small));
            for b in 0..buckets {
                let of = |list: &[(usize, f64)]| -> Vec<f64> {
                    list.iter().filter(|(k, _)| *k == b).map(|(_, v)| *v).collect()
                };
                let (a, k) = (of(&all), of(&kept));
                let extremes = |v: &[f64]| {
                    (
                        v.iter().copied().fold(f64::INFINITY, f64::min),
                        v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                        v.first().copied(),
                        v.last().copied(),
                    )
                };
                assert_eq!(extremes(&a), extremes(&k), "case {case}, bucket {b}");
            }
        }
    }

    #[test]
    fn a_small_table_is_returned_as_it_is() {
        let x = ColumnName::from("x");
        let mut table = Table::new();
        for i in 0..8 {
            table.push(f64::from(i), [(&x, Value::F64(f64::from(i)))]);
        }
        assert_eq!(downsample(table.clone(), 2), table);
    }
}
