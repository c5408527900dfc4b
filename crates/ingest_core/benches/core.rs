//! Micro-benchmarks of the engine's stages, without a benchmark framework (std timing, best of
//! five): `cargo bench -p ingest_core` (or `npm run bench:core`); `cargo bench -p ingest_core --
//! RL` runs only the benchmarks whose name contains "RL".

use std::hint::black_box;
use std::time::{Duration, Instant};

use ingest_core::ingest::wire;
use ingest_core::merge::table::{ColumnName, Table};
use ingest_core::queue::ByteQueue;
use ingest_core::storage::segment;
use ingest_core::value::{Elem, Value};

const ROWS: usize = 1_000_000;

/// Runs `f` five times and reports the best time per item (unless a name filter excludes it).
fn bench(name: &str, items: usize, mut f: impl FnMut()) {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    if filter.is_some_and(|f| !name.contains(&f)) {
        return;
    }
    let best = (0..5)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap_or(Duration::ZERO);
    let per_item = best.as_secs_f64() * 1e9 / items as f64;
    println!("{name:<48} {per_item:>8.1} ns/item   {:>8.2} M items/s", 1e3 / per_item);
}

/// A batch of `ROWS` numeric shape entries `{ step, x, y, z }` (shape 0 = keys 0..4).
fn numeric_batch() -> Vec<u8> {
    let mut batch = Vec::with_capacity(ROWS * 48);
    for i in 0..ROWS {
        batch.extend_from_slice(&wire::NUMERIC_FLAG.to_le_bytes());
        batch.extend_from_slice(&0u32.to_le_bytes());
        batch.extend_from_slice(&(i as f64).to_le_bytes());
        for v in [i as f64, (i as f64).sin(), (i as f64).cos(), 0.3] {
            batch.extend_from_slice(&v.to_le_bytes());
        }
    }
    batch
}

/// A batch of `rows` RL entries in general form (field ids 0..5, the state a typed array).
fn rl_batch(rows: usize) -> Vec<u8> {
    let mut batch = Vec::with_capacity(rows * 320);
    for i in 0..rows {
        batch.extend_from_slice(&1u32.to_le_bytes());
        batch.extend_from_slice(&5u32.to_le_bytes());
        batch.extend_from_slice(&(i as f64).to_le_bytes());
        let state: Vec<u8> = (0..64)
            .flat_map(|k| ((i as f64 * 1e-3 + f64::from(k)).sin() as f32).to_le_bytes())
            .collect();
        let values = [
            Value::F64((i / 1000) as f64),
            Value::F64((i % 1000) as f64),
            Value::Typed {
                elem: Elem::F32,
                bytes: state.into(),
            },
            Value::F64((i % 4) as f64),
            Value::F64(1.0),
        ];
        for (key, value) in (0u32..).zip(&values) {
            batch.extend_from_slice(&key.to_le_bytes());
            wire::encode_value(&mut batch, value);
        }
        batch.resize(batch.len().next_multiple_of(8), 0);
    }
    batch
}

fn filled_table(in_order: bool) -> Table {
    let mut table = Table::new();
    fill(&mut table, in_order);
    table
}

fn fill(table: &mut Table, in_order: bool) {
    let names: Vec<ColumnName> = ["step", "x", "y", "z"].iter().map(|n| ColumnName::from(*n)).collect();
    for i in 0..ROWS {
        let ts = if in_order { i as f64 } else { ((i * 7919) % ROWS) as f64 };
        let row = table.begin_row(ts);
        for (key, name) in names.iter().enumerate() {
            let column = table.column_index_for_key(key as u32, name);
            table.set(column, row, Value::F64(i as f64 * 0.5));
        }
    }
}

fn main() {
    let queue = ByteQueue::new(1 << 30);
    bench("queue push + pop (one thread)", ROWS, || {
        for i in 0..ROWS {
            let _ = queue.push(i, 8, Duration::ZERO);
        }
        while queue.pop(Instant::now()).is_some() {}
    });

    let batch = numeric_batch();
    let shapes = vec![wire::Shape::numbers(&[0, 1, 2, 3])];
    bench("decode numeric entries", ROWS, || {
        let mut fields = 0usize;
        let _ = wire::decode_batch(&batch, &shapes, |entry| {
            fields += entry.fields.len() + entry.numbers.map_or(0, |n| n.rows());
            Ok(())
        });
        black_box(fields);
    });

    let names: Vec<ColumnName> = ["step", "x", "y", "z"].iter().map(|n| ColumnName::from(*n)).collect();
    let mut ingested = Table::new();
    // In batches of 256 entries, as an append loop commits them.
    let ingest = |table: &mut Table| {
        table.clear();
        for chunk in batch.chunks(256 * 48) {
            let _ = wire::decode_batch(chunk, &shapes, |entry| table.push_entry(entry, &names, &shapes));
        }
    };
    ingest(&mut ingested);
    assert_eq!(ingested.len(), ROWS);
    bench(
        "numeric entries into a cleared table (the writer's ingest)",
        ROWS,
        || ingest(&mut ingested),
    );

    bench("table: rows in timestamp order", ROWS, || {
        black_box(filled_table(true));
    });
    let mut reused = filled_table(true);
    bench("table: rows in order into a cleared table", ROWS, || {
        reused.clear();
        fill(&mut reused, true);
    });
    bench("table: rows out of order + normalize", ROWS, || {
        let mut table = filled_table(false);
        table.normalize();
        black_box(table);
    });

    let mut table = filled_table(true);
    table.normalize();
    let path = std::env::temp_dir().join(format!("dash-core-bench-{}.parquet", std::process::id()));
    bench("segment: encode + fsync Parquet (4 columns)", ROWS, || {
        let _ = segment::write(&path, &table, "benchmark rows");
    });
    let mut sensors = ingested.clone();
    sensors.normalize();
    bench("segment: encode + fsync Parquet ({step, sin, cos, 0.3})", ROWS, || {
        let _ = segment::write(&path, &sensors, "benchmark rows");
    });
    let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
    println!(
        "{:<48} {:>8.1} bytes/row",
        "  its size on disk",
        bytes as f64 / ROWS as f64
    );
    let _ = segment::write(&path, &table, "benchmark rows");
    bench("segment: read back", ROWS, || {
        black_box(segment::read(&path).ok());
    });
    let _ = std::fs::remove_file(&path);

    // The RL scenario's entries, as the writer receives them from JS: { episode, step,
    // state: Float32Array(64), action, reward }, state[k] = sin(i * 1e-3 + k).
    const RL_ROWS: usize = ROWS / 5;
    let rl_keys: Vec<ColumnName> = ["episode", "step", "state", "action", "reward"]
        .iter()
        .map(|n| ColumnName::from(*n))
        .collect();
    let rl_batch = rl_batch(RL_ROWS);
    let decode = |table: &mut Table| {
        table.clear();
        let _ = wire::decode_batch(&rl_batch, &[], |entry| table.push_entry(entry, &rl_keys, &[]));
    };
    let mut table = Table::new();
    decode(&mut table);
    assert_eq!(table.len(), RL_ROWS);
    bench("RL decode into a cleared table", RL_ROWS, || decode(&mut table));
    bench("RL segment: encode + fsync Parquet", RL_ROWS, || {
        let _ = segment::write(&path, &table, "benchmark rows");
    });
    let _ = std::fs::remove_file(path);
}
