//! The write-ahead log reader, on any bytes: records or a `Corrupt` error, never a panic; the
//! batches it yields decode or fail cleanly.
#![no_main]

use std::path::Path;

use ingest_core::durability::wal;
use ingest_core::ingest::wire;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(contents) = wal::parse(Path::new("fuzz.wal"), data) else {
        return;
    };
    assert!(contents.discarded_bytes <= data.len() as u64);
    let mut shapes: Vec<wire::Shape> = Vec::new();
    for record in contents.records {
        match record {
            wal::Record::Shape(shape) => shapes.push(shape),
            wal::Record::Entries { batch, .. } => {
                let _ = wire::decode_batch(batch, &shapes, |_| Ok(()));
            }
            wal::Record::Topic { .. } | wal::Record::Key(_) => {}
        }
    }
});
