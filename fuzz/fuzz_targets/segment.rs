//! The segment reader on any file: a table or an error, never a crash, an abort or an unbounded
//! allocation. (It catches the Parquet decoder's panics by design, so the fuzzer's abort-on-panic
//! hook is replaced with a quiet one; a panic that escapes still fails the run.)
#![no_main]

use std::sync::Once;

use ingest_core::storage::segment;
use libfuzzer_sys::fuzz_target;

static QUIET_PANICS: Once = Once::new();

fuzz_target!(|data: &[u8]| {
    QUIET_PANICS.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let path = std::env::temp_dir().join(format!("dash-fuzz-segment-{}.parquet", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Ok(table) = segment::read(&path) {
        assert_eq!(table.timestamps().len(), table.len());
    }
    let _ = segment::read_range(&path, 0.0, 1.0);
});
