//! Batch decoding (bytes from JS, and from the write-ahead log on disk), on any bytes: entries or
//! an error, never a panic. The first byte picks how many numeric shapes exist and their slots.
#![no_main]

use ingest_core::ingest::wire;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&shape_count, batch)) = data.split_first() else {
        return;
    };
    // Shape n has keys 0..=n: numbers at even keys, typed arrays (element type from the byte)
    // at odd ones.
    let shapes: Vec<wire::Shape> = (0..u32::from(shape_count % 4))
        .map(|n| {
            let keys: Vec<u32> = (0..=n).collect();
            let slots: Vec<u8> = (0..=n)
                .map(|k| match k % 2 {
                    0 => wire::NUMBER_SLOT,
                    _ => (k as u8).wrapping_add(shape_count / 4) % 11,
                })
                .collect();
            wire::Shape::from_codes(&keys, &slots)
        })
        .collect::<Result<_, _>>()
        .unwrap_or_default();
    let mut entries = 0usize;
    let _ = wire::decode_batch(batch, &shapes, |entry| {
        assert!(entry.fields.len() <= batch.len());
        entries += 1;
        Ok(())
    });
    // Every entry takes at least its 16-byte header.
    assert!(entries <= batch.len() / 16);
});
