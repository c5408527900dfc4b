//! Downsampling for charts (M4): the rows a line chart `buckets` pixels wide needs to look the same
//! as with every row. The time range is cut into `buckets` equal spans; in each, for every number
//! column, the rows holding its first, last, smallest and largest value are kept, and the span's
//! first and last rows. The rows kept are rows of the table, unchanged and in order.

use crate::merge::column::Column;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::table::ColumnName;

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
