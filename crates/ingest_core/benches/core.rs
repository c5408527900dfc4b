//! Micro-benchmarks of the engine's stages, without a benchmark framework (std timing, best of
//! five): `cargo bench -p ingest_core` (or `npm run bench:core`); `cargo bench -p ingest_core --
//! RL` runs only the benchmarks whose name contains "RL".

use std::hint::black_box;
use std::time::{Duration, Instant};

use ingest_core::queue::ByteQueue;
use ingest_core::table::{ColumnName, Table};
use ingest_core::value::Value;
use ingest_core::{segment, wire};

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
    let shapes: Vec<Box<[u32]>> = vec![vec![0, 1, 2, 3].into()];
    bench("decode numeric entries", ROWS, || {
        let mut fields = 0usize;
        let _ = wire::decode_batch(&batch, &shapes, |entry| {
            fields += entry.fields.len();
            Ok(())
        });
        black_box(fields);
    });

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
    bench("segment: read back", ROWS, || {
        black_box(segment::read(&path).ok());
    });
    let _ = std::fs::remove_file(&path);

    // The RL scenario's rows: { episode, step, state: Float32Array(64), action, reward }.
    const RL_ROWS: usize = ROWS / 5;
    let rl_names: Vec<ColumnName> = ["episode", "step", "state", "action", "reward"]
        .iter()
        .map(|n| ColumnName::from(*n))
        .collect();
    let rl_table = || {
        let mut table = Table::new();
        for i in 0..RL_ROWS {
            let row = table.begin_row(i as f64);
            let state: Vec<u8> = (0..64)
                .flat_map(|k| ((i + k) as f32 * 1e-3).sin().to_le_bytes())
                .collect();
            for (key, name) in rl_names.iter().enumerate() {
                let column = table.column_index_for_key(key as u32, name);
                let value = if key == 2 {
                    Value::Typed {
                        elem: ingest_core::value::Elem::F32,
                        bytes: state.clone().into(),
                    }
                } else {
                    Value::F64(i as f64)
                };
                table.set(column, row, value);
            }
        }
        table
    };
    bench("RL table: rows with a 64-float array", RL_ROWS, || {
        black_box(rl_table());
    });
    let mut table = rl_table();
    table.normalize();
    bench("RL segment: encode + fsync Parquet", RL_ROWS, || {
        let _ = segment::write(&path, &table, "benchmark rows");
    });
    let _ = std::fs::remove_file(path);
}
