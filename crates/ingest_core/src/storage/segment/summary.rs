//! Chart summaries: a segment of at least [`BLOCK_ROWS`] rows carries, for each block of that
//! many rows, the block's first and last timestamp and, for every number column, the timestamp
//! and value of its first, last, smallest and largest value (key-value metadata `dash.summary`).
//! A chart of millions of rows is drawn from them (see [`crate::merge::downsample`]) by reading
//! each segment's footer instead of decoding its rows.
//!
//! Encoding: `{"blockRows": N, "columns": [names], "values": base64}`, where `values` holds, per
//! block, little-endian doubles: first and last timestamp, then per column its [`Extremes`] as
//! eight doubles (first, last, min, max as timestamp/value pairs; a NaN timestamp marks a point
//! the block does not have). Other readers ignore it; a summary that does not match its file is
//! ignored too (the rows are decoded instead).

use base64::Engine as _;
use serde_json::{json, Value as Json};

use crate::merge::downsample::{Block, Extremes, Point};
use crate::merge::table::{ColumnName, Table};
use crate::value::{Kind, Value};

pub(super) const SUMMARY_KEY: &str = "dash.summary";
/// Rows per summarized block: about 1% of a `{step,x,y,z}` segment's bytes (34 doubles per 2,048
/// rows), and fine enough for a 1,200-pixel chart of 10M rows (four blocks per pixel column).
pub const BLOCK_ROWS: usize = 2048;
/// Number columns a summary covers at most: a wider segment has none (its summary would grow
/// with the columns, 64 bytes per column per block, and charts of it read rows as before).
pub const MAX_COLUMNS: usize = 64;
/// Doubles per column per block.
const COLUMN_DOUBLES: usize = 8;

/// A segment's chart summary: its blocks, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub blocks: Vec<Block>,
}

/// The summary of `table` (normalized) as key-value metadata text; `None` for a table under one
/// block, without number columns or with more than `MAX_COLUMNS` of them.
pub(super) fn encode(table: &Table) -> Option<String> {
    let rows = table.len();
    let numbers: Vec<_> = (table.columns().iter())
        .filter(|c| c.kind() == Some(Kind::F64))
        .collect();
    if rows < BLOCK_ROWS || numbers.is_empty() || numbers.len() > MAX_COLUMNS {
        return None;
    }
    let timestamps = table.timestamps();
    let blocks = rows.div_ceil(BLOCK_ROWS);
    let mut bytes: Vec<u8> = Vec::with_capacity(blocks * (2 + COLUMN_DOUBLES * numbers.len()) * 8);
    let mut put = |v: f64| bytes.extend_from_slice(&v.to_le_bytes());
    for block in 0..blocks {
        let range = block * BLOCK_ROWS..((block + 1) * BLOCK_ROWS).min(rows);
        let stamps = timestamps.get(range.clone()).unwrap_or_default();
        put(stamps.first().copied().unwrap_or(f64::NAN));
        put(stamps.last().copied().unwrap_or(f64::NAN));
        for column in &numbers {
            let mut extremes: Option<Extremes> = None;
            match column.numbers() {
                Some((values, present)) => {
                    extremes = sorted_extremes(
                        stamps,
                        values.get(range.clone()).unwrap_or_default(),
                        present.get(range.clone()).unwrap_or_default(),
                    );
                }
                None => {
                    for (row, timestamp) in range.clone().zip(stamps) {
                        if let Some(Value::F64(value)) = column.get(row) {
                            Extremes::include(&mut extremes, Point::new(*timestamp, value));
                        }
                    }
                }
            }
            let absent = Point::new(f64::NAN, f64::NAN);
            let points = match extremes {
                Some(e) => [e.first, e.last, e.min.unwrap_or(absent), e.max.unwrap_or(absent)],
                None => [absent; 4],
            };
            for point in points {
                put(point.timestamp);
                put(point.value);
            }
        }
    }
    let names: Vec<&str> = numbers.iter().map(|c| &*c.name).collect();
    let text = json!({
        "blockRows": BLOCK_ROWS,
        "columns": names,
        "values": base64::engine::general_purpose::STANDARD.encode(bytes),
    });
    Some(text.to_string())
}

/// The extremes of the present `values` at `timestamps` (increasing): [`Extremes::include`] for
/// points in time order, where the first and last are known without comparing timestamps.
fn sorted_extremes(timestamps: &[f64], values: &[f64], present: &[bool]) -> Option<Extremes> {
    // One pass without `Option`s: an index of usize::MAX is "none yet". NaN compares false both
    // ways (never smallest or largest); an infinity is taken while nothing else is.
    const NONE: usize = usize::MAX;
    let (mut first, mut last) = (NONE, NONE);
    let (mut min, mut min_value, mut max, mut max_value) = (NONE, f64::INFINITY, NONE, f64::NEG_INFINITY);
    for (row, (&value, &is_present)) in values.iter().zip(present).enumerate() {
        if !is_present {
            continue;
        }
        if first == NONE {
            first = row;
        }
        last = row;
        if value < min_value || (min == NONE && value == min_value) {
            (min, min_value) = (row, value);
        }
        if value > max_value || (max == NONE && value == max_value) {
            (max, max_value) = (row, value);
        }
    }
    let point = |row: usize| Point::new(timestamps[row], values[row]);
    (first != NONE).then(|| Extremes {
        first: point(first),
        last: point(last),
        min: (min != NONE).then(|| point(min)),
        max: (max != NONE).then(|| point(max)),
    })
}

/// Parses a segment's summary text for a file of `rows` rows; `None` if it is malformed or does
/// not match the file (block count, sorted block timestamps).
pub(super) fn decode(text: &str, rows: usize) -> Option<Summary> {
    let json: Json = serde_json::from_str(text).ok()?;
    let block_rows = usize::try_from(json.get("blockRows")?.as_u64()?).ok()?;
    let columns: Vec<ColumnName> = (json.get("columns")?.as_array()?.iter())
        .map(|c| c.as_str().map(ColumnName::from))
        .collect::<Option<_>>()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(json.get("values")?.as_str()?)
        .ok()?;
    let per_block = (2 + COLUMN_DOUBLES * columns.len()) * 8;
    if block_rows == 0 || bytes.len() != rows.div_ceil(block_rows) * per_block {
        return None;
    }
    let doubles: Vec<f64> = (bytes.chunks_exact(8))
        .map(|b| f64::from_le_bytes(b.try_into().unwrap_or_default()))
        .collect();
    let mut blocks: Vec<Block> = Vec::with_capacity(rows.div_ceil(block_rows));
    for block in doubles.chunks_exact(per_block / 8) {
        let (&[first_timestamp, last_timestamp], rest) = block.split_first_chunk::<2>()?;
        let ordered =
            first_timestamp <= last_timestamp && blocks.last().is_none_or(|b| b.last_timestamp < first_timestamp);
        if !ordered {
            return None;
        }
        let within = |t: f64| (first_timestamp..=last_timestamp).contains(&t);
        let mut summarized = Vec::new();
        for (name, d) in columns.iter().zip(rest.chunks_exact(COLUMN_DOUBLES)) {
            let point = |at: usize| Some(Point::new(*d.get(at)?, *d.get(at + 1)?)).filter(|p| !p.timestamp.is_nan());
            let (Some(first), Some(last)) = (point(0), point(2)) else {
                continue; // the block has no value of this column
            };
            let (min, max) = (point(4), point(6));
            let numbers = [min, max].into_iter().flatten().all(|p| !p.value.is_nan());
            if ![Some(first), Some(last), min, max]
                .into_iter()
                .flatten()
                .all(|p| within(p.timestamp))
                || !numbers
            {
                return None;
            }
            summarized.push((name.clone(), Extremes { first, last, min, max }));
        }
        blocks.push(Block {
            first_timestamp,
            last_timestamp,
            columns: summarized,
        });
    }
    Some(Summary { blocks })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::downsample::downsample_summarized;

    fn random(seed: &mut u64) -> f64 {
        *seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (*seed >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Seeded random tables (sparse columns, NaN, infinities, a label column) summarized, decoded and charted
    /// together with unsealed rows after them, against a model computed from every row: each
    /// span's first, last, smallest and largest value per number column, where a block's
    /// extremes (found row by row) count in the spans of their own timestamps.
    #[test]
    fn a_chart_from_summaries_keeps_each_spans_extremes_of_every_row() {
        let (x, y, label) = (ColumnName::from("x"), ColumnName::from("y"), ColumnName::from("label"));
        let mut seed = 11_u64;
        for case in 0..20 {
            let rows = BLOCK_ROWS * (1 + case % 5) + (case * 997) % BLOCK_ROWS;
            let (mut sealed, mut unsealed) = (Table::new(), Table::new());
            let mut t = 0.0;
            for i in 0..rows + 500 {
                t += 0.001 + random(&mut seed);
                let mut fields = vec![(&label, Value::Str(format!("l{i}").into()))];
                if random(&mut seed) > 0.2 {
                    let v = match random(&mut seed) {
                        r if r < 0.01 => f64::NAN,
                        r if r < 0.02 => f64::INFINITY,
                        r if r < 0.03 => f64::NEG_INFINITY,
                        _ => random(&mut seed) * 100.0,
                    };
                    fields.push((&x, Value::F64(v)));
                }
                if case % 2 == 0 || random(&mut seed) > 0.5 {
                    // Every third case, a column of only +∞ (its smallest value is +∞).
                    let v = if case % 3 == 1 { f64::INFINITY } else { -(i as f64) };
                    fields.push((&y, Value::F64(v)));
                }
                match i < rows {
                    true => sealed.push(t, fields),
                    false => unsealed.push(t, fields),
                }
            }
            sealed.normalize();
            unsealed.normalize();
            let summary = decode(&encode(&sealed).expect("summarized"), rows).expect("decodes");
            assert_eq!(summary.blocks.len(), rows.div_ceil(BLOCK_ROWS));
            let buckets = 3 + case;
            let chart = downsample_summarized(std::slice::from_ref(&unsealed), &summary.blocks, buckets);

            // The model: each block's extremes row by row, and every unsealed row.
            let (first, last) = (sealed.timestamps()[0], *unsealed.timestamps().last().unwrap());
            let span = (last - first) / buckets as f64;
            let bucket_of = |t: f64| (((t - first) / span) as usize).min(buckets - 1);
            let mut model: Vec<Vec<Option<Extremes>>> = vec![vec![None; buckets]; 2];
            for (table, block_rows) in [(&sealed, BLOCK_ROWS), (&unsealed, 1)] {
                for (c, name) in [&x, &y].into_iter().enumerate() {
                    let Some(column) = table.columns().iter().find(|col| col.name == *name) else {
                        continue;
                    };
                    for from in (0..table.len()).step_by(block_rows) {
                        let mut block = None;
                        for row in from..(from + block_rows).min(table.len()) {
                            if let Some(Value::F64(v)) = column.get(row) {
                                Extremes::include(&mut block, Point::new(table.timestamps()[row], v));
                            }
                        }
                        for point in block.iter().flat_map(Extremes::points) {
                            Extremes::include(&mut model[c][bucket_of(point.timestamp)], point);
                        }
                    }
                }
            }
            let mut expected = Table::new();
            for (c, name) in [&x, &y].into_iter().enumerate() {
                for extremes in model[c].iter().flatten() {
                    for point in extremes.points() {
                        expected.push(point.timestamp, [(name, Value::F64(point.value))]);
                    }
                }
            }
            expected.normalize();
            assert_eq!(chart.timestamps(), expected.timestamps(), "case {case}");
            for name in [&x, &y] {
                let cells = |t: &Table| t.columns().iter().find(|c| c.name == *name).map(|c| c.cells().to_vec());
                let (got, want) = (cells(&chart), cells(&expected));
                let same = match (&got, &want) {
                    (Some(a), Some(b)) => a.iter().zip(b).all(|(a, b)| match (a, b) {
                        (Some(a), Some(b)) => a.identical(b),
                        (a, b) => a.is_none() && b.is_none(),
                    }),
                    (a, b) => a.is_none() && b.is_none(),
                };
                assert!(same, "case {case}, column {name}");
            }
            assert!(chart.columns().iter().all(|c| c.name != label), "numbers only");
        }
    }

    #[test]
    fn a_summary_that_does_not_match_its_file_is_ignored() {
        let x = ColumnName::from("x");
        let mut table = Table::new();
        for i in 0..2 * BLOCK_ROWS {
            table.push(i as f64, [(&x, Value::F64(i as f64))]);
        }
        let text = encode(&table).expect("summarized");
        assert!(decode(&text, 2 * BLOCK_ROWS).is_some());
        assert!(decode(&text, 3 * BLOCK_ROWS).is_none(), "block count");
        let mut json: Json = serde_json::from_str(&text).unwrap();
        json["blockRows"] = json!(0);
        assert!(decode(&json.to_string(), 2 * BLOCK_ROWS).is_none(), "no rows per block");
        // A point outside its block's time range.
        let mut values = base64::engine::general_purpose::STANDARD
            .decode(serde_json::from_str::<Json>(&text).unwrap()["values"].as_str().unwrap())
            .unwrap();
        values[16..24].copy_from_slice(&1e9_f64.to_le_bytes());
        json["blockRows"] = json!(BLOCK_ROWS);
        json["values"] = json!(base64::engine::general_purpose::STANDARD.encode(values));
        assert!(
            decode(&json.to_string(), 2 * BLOCK_ROWS).is_none(),
            "point outside its block"
        );
        assert!(decode("not json", 2 * BLOCK_ROWS).is_none());
        let mut small = Table::new();
        small.push(0.0, [(&x, Value::F64(1.0))]);
        assert!(encode(&small).is_none(), "under one block");
        let names: Vec<ColumnName> = (0..=MAX_COLUMNS)
            .map(|i| ColumnName::from(format!("c{i}").as_str()))
            .collect();
        let mut wide = Table::new();
        for row in 0..BLOCK_ROWS {
            wide.push(row as f64, names.iter().map(|n| (n, Value::F64(1.0))));
        }
        assert!(encode(&wide).is_none(), "more number columns than a summary covers");
    }
}
