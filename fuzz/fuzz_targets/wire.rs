//! Batch decoding (bytes from JS, and from the write-ahead log on disk), on any bytes: entries or
//! an error, never a panic. The first byte picks how many numeric shapes exist.
#![no_main]

use ingest_core::wire;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&shape_count, batch)) = data.split_first() else {
        return;
    };
    let shapes: Vec<Box<[u32]>> = (0..u32::from(shape_count % 4))
        .map(|n| (0..n + 1).collect::<Vec<u32>>().into())
        .collect();
    let mut entries = 0usize;
    let _ = wire::decode_batch(batch, &shapes, |entry| {
        assert!(entry.fields.len() <= batch.len());
        entries += 1;
        Ok(())
    });
    // Every entry takes at least its 16-byte header.
    assert!(entries <= batch.len() / 16);
});
