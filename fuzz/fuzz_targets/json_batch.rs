//! A server's request bodies (`append_batch`), on any bytes: a batch or an error, never a panic;
//! and a batch it encodes always decodes, with one entry per entry of the body and one key per
//! distinct field name.
#![no_main]

use std::collections::HashMap;

use ingest_core::ingest::{json_batch, wire};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut names: HashMap<String, u32> = HashMap::new();
    let encoded = json_batch::encode_entries(data, 3, |name| {
        assert!(!names.contains_key(name), "a name asked twice: {name:?}");
        let id = u32::try_from(names.len()).unwrap_or(u32::MAX);
        names.insert(name.to_string(), id);
        Ok(id)
    });
    let Ok((batch, count)) = encoded else {
        return;
    };
    let mut decoded = 0u32;
    wire::decode_batch(&batch, &[], |entry| {
        assert_eq!(entry.topic, 3);
        assert!(entry.timestamp.is_finite());
        assert!(entry.fields.iter().all(|(key, _)| (*key as usize) < names.len()));
        decoded += 1;
        Ok(())
    })
    .expect("an encoded batch decodes");
    assert_eq!(decoded, count);
});
