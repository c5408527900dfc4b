//! The JSON lines reader (tracks the Python SDK wrote) on any file: rows or a `Corrupt` error,
//! never a panic.
#![no_main]

use ingest_core::storage::jsonl;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("dash-fuzz-jsonl-{}.jsonl", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Ok(mut table) = jsonl::read_rows(&path) {
        table.normalize();
        let _ = jsonl::write_rows(&table);
    }
});
