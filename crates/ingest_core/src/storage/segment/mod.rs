//! Parquet segments: one table per track, `timestamp` (REQUIRED DOUBLE, strictly increasing) plus
//! one OPTIONAL column per field, where a null cell means "the entry had no such field".
//!
//! Physical layout per column kind (standard Parquet, readable by DuckDB / pyarrow / polars):
//! number → DOUBLE (byte-stream-split), boolean → BOOLEAN, string → BYTE_ARRAY (String),
//! bigint → INT64, json / mixed → BYTE_ARRAY (JSON), number[] and typed arrays → 3-level LIST of
//! their element type; a column of only explicit nulls → INT32 with the NULL logical type. The exact
//! JS kind of each column is kept in the file's key-value metadata (`dash.kinds`) so reads give back
//! the same JS types. Explicit nulls are Parquet nulls like absent fields, and the rows where they
//! are explicit are listed in `dash.nulls` (`{column: [[first_row, count], …]}`), so other readers
//! see plain typed columns and we still tell `null` from absent. (Mixed columns tag their nulls
//! instead.) Compression: zstd level 1.

mod footer;
mod pages;
mod read;
mod summary;
mod write;

pub use footer::{row_groups, Footer, RowGroupSpan};
pub use read::{read, read_range, read_summary, read_timestamps};
pub use summary::{Summary, BLOCK_ROWS, MAX_COLUMNS as SUMMARY_MAX_COLUMNS};
pub use write::{to_bytes, write};

const KINDS_KEY: &str = "dash.kinds";
const NULLS_KEY: &str = "dash.nulls";
/// Rows per row group: small enough that range reads skip most of a segment, large enough that
/// per-group overhead stays negligible.
const ROW_GROUP_ROWS: usize = 64 * 1024;
/// Rows per `write_batch` call for general columns.
const WRITE_CHUNK_ROWS: usize = 256;
pub const TIMESTAMP: &str = "timestamp";

type PResult<T> = std::result::Result<T, parquet::errors::ParquetError>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::table::{ColumnName, Table};
    use crate::value::{Elem, Value};

    #[test]
    fn range_reads_skip_row_groups_and_keep_explicit_nulls() {
        let dir = std::env::temp_dir().join(format!("dash-seg-range-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("r.parquet");
        let (x, note) = (ColumnName::from("x"), ColumnName::from("note"));
        let mut table = Table::new();
        let rows = 3 * ROW_GROUP_ROWS + 10;
        for i in 0..rows {
            let value = if i % 1000 == 7 {
                Value::Null
            } else {
                Value::Str(format!("n{i}").into())
            };
            table.push(i as f64, [(&x, Value::F64(i as f64)), (&note, value)]);
        }
        table.normalize();
        write(&path, &table, "test rows").unwrap();
        let start = (2 * ROW_GROUP_ROWS + 5) as f64;
        let part = read_range(&path, start, start + 100.0).unwrap();
        assert_eq!(part.len(), ROW_GROUP_ROWS, "only the third row group is read");
        assert_eq!(part.timestamps()[0], (2 * ROW_GROUP_ROWS) as f64);
        let notes = part.columns().iter().find(|c| *c.name == *"note").unwrap();
        for (row, ts) in part.timestamps().iter().enumerate() {
            let i = *ts as usize;
            let expected = if i % 1000 == 7 {
                Value::Null
            } else {
                Value::Str(format!("n{i}").into())
            };
            assert_eq!(notes.get(row), Some(expected), "row {i}");
        }
        assert_eq!(read(&path).unwrap().len(), rows);
        std::fs::remove_dir_all(dir).ok();
    }

    /// What the files guarantee is declared for other engines: rows sorted by the timestamp
    /// (`sorting_columns`), and min/max statistics on the timestamp and every number column.
    #[test]
    fn declares_sorting_and_number_statistics() {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let mut table = Table::new();
        let (x, label) = (ColumnName::from("x"), ColumnName::from("label"));
        for i in 0..100 {
            let row = [
                (&x, Value::F64(f64::from(i) * 0.5)),
                (&label, Value::Str(format!("l{i}").into())),
            ];
            table.push(f64::from(i), row);
        }
        let path = std::env::temp_dir().join(format!("dash-seg-meta-{}.parquet", std::process::id()));
        std::fs::write(&path, to_bytes(&table).unwrap()).unwrap();
        let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
        let group = reader.metadata().row_group(0);
        let sorting = group.sorting_columns().expect("sorting columns declared");
        assert_eq!(
            (sorting.len(), sorting[0].column_idx, sorting[0].descending),
            (1, 0, false)
        );
        for (column, min, max) in [(0, 0.0, 99.0), (1, 0.0, 49.5)] {
            match group.column(column).statistics() {
                Some(parquet::file::statistics::Statistics::Double(s)) => {
                    assert_eq!((s.min_opt(), s.max_opt()), (Some(&min), Some(&max)), "column {column}");
                }
                other => panic!("column {column}: {other:?}"),
            }
        }
        std::fs::remove_file(path).ok();
    }

    #[test]
    fn every_kind_round_trips_with_absent_cells() {
        let dir = std::env::temp_dir().join(format!("dash-seg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.parquet");
        let samples: Vec<(&str, Vec<Value>)> = vec![
            ("num", vec![Value::F64(1.5), Value::F64(f64::NAN)]),
            ("flag", vec![Value::Bool(true), Value::Bool(false)]),
            ("text", vec![Value::Str("ü🌍".into()), Value::Str("".into())]),
            ("big", vec![Value::BigInt(i64::MIN), Value::BigInt(7)]),
            (
                "list",
                vec![Value::F64List(vec![1.0, 2.0].into()), Value::F64List(Vec::new().into())],
            ),
            ("json", vec![Value::Json("[\"a\"]".into()), Value::Json("[{}]".into())]),
            ("str_or_null", vec![Value::Null, Value::Str("x".into())]),
            ("num_or_null", vec![Value::F64(1.0), Value::Null]),
            ("only_null", vec![Value::Null, Value::Null]),
            ("mixed", vec![Value::Bool(true), Value::Str("x".into())]),
        ];
        let mut typed: Vec<(String, Vec<Value>)> = Vec::new();
        for elem in Elem::ALL {
            let bytes: Vec<u8> = (0..elem.size() * 2).map(|i| i as u8 + 1).collect();
            typed.push((
                elem.js_name().into(),
                vec![
                    Value::Typed {
                        elem,
                        bytes: bytes.into(),
                    },
                    Value::Typed {
                        elem,
                        bytes: Vec::new().into(),
                    },
                ],
            ));
        }
        let names: Vec<(ColumnName, Vec<Value>)> = samples
            .into_iter()
            .map(|(n, v)| (ColumnName::from(n), v))
            .chain(typed.into_iter().map(|(n, v)| (ColumnName::from(n.as_str()), v)))
            .collect();
        let mut table = Table::new();
        // Row 0: first sample of each column; row 1: nothing (all absent); row 2: second sample.
        table.push(0.0, names.iter().map(|(n, v)| (n, v[0].clone())));
        table.push(1.0, std::iter::empty());
        table.push(2.0, names.iter().map(|(n, v)| (n, v[1].clone())));
        table.normalize();
        write(&path, &table, "test rows").expect("writes");
        let back = read(&path).expect("reads");
        assert_eq!(back.timestamps(), table.timestamps());
        for column in table.columns() {
            let other = back
                .columns()
                .iter()
                .find(|c| c.name == column.name)
                .expect("column kept");
            for (a, b) in column.cells().iter().zip(other.cells().iter()) {
                match (a, b) {
                    (Some(a), Some(b)) => {
                        assert!(a.identical(b), "{}: {a:?} vs {b:?}", column.name)
                    }
                    (None, None) => {}
                    _ => panic!("{}: presence differs: {a:?} vs {b:?}", column.name),
                }
            }
        }
        std::fs::remove_dir_all(dir).ok();
    }
}

#[cfg(test)]
mod corrupt_files {
    use super::*;
    use crate::merge::table::{ColumnName, Table};
    use crate::value::Value;

    /// Found by the `segment` fuzz target: the parquet crate spins for minutes on this page header.
    #[test]
    fn a_page_header_or_footer_claiming_a_huge_list_is_an_error_not_a_hang() {
        let hangs: [&[u8]; 2] = [
            include_bytes!("../../../../../fuzz/known-hangs/segment-page-header-huge-list.parquet"),
            include_bytes!("../../../../../fuzz/known-hangs/segment-footer-huge-list.parquet"),
        ];
        for (index, bytes) in hangs.into_iter().enumerate() {
            let path = std::env::temp_dir().join(format!("dash-seg-hang-{}-{index}.parquet", std::process::id()));
            std::fs::write(&path, bytes).unwrap();
            let error = read(&path).unwrap_err();
            assert_eq!(error.code(), "ERR_DASH_CORRUPT", "{error}");
            std::fs::remove_file(path).ok();
        }
    }

    #[test]
    fn truncated_or_flipped_segments_are_errors_not_panics() {
        let dir = std::env::temp_dir().join(format!("dash-seg-corrupt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.parquet");
        let (x, s) = (ColumnName::from("x"), ColumnName::from("s"));
        let mut table = Table::new();
        for i in 0..500 {
            table.push(
                f64::from(i),
                [(&x, Value::F64(f64::from(i))), (&s, Value::Str(format!("v{i}").into()))],
            );
        }
        table.normalize();
        write(&good, &table, "test rows").unwrap();
        let bytes = std::fs::read(&good).unwrap();
        let bad = dir.join("bad.parquet");
        let mut state = 0x1234_5678_9abc_def1u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..300 {
            let mut broken = bytes.clone();
            if round % 3 == 0 {
                broken.truncate((next() as usize) % broken.len());
            } else {
                for _ in 0..1 + round % 8 {
                    let at = (next() as usize) % broken.len();
                    broken[at] ^= 1 << (next() % 8);
                }
            }
            std::fs::write(&bad, &broken).unwrap();
            // Either a clean error or a table: a flipped bit in a value is not detectable.
            let _ = read(&bad);
        }
        std::fs::remove_dir_all(dir).ok();
    }
}
