//! The coarse clock's slot as a JS `Float64Array` of one element (see `ingest_core::engine::clock`).

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use ingest_core::engine::clock;
use napi::bindgen_prelude::Float64ArraySlice;
use napi::Env;
use napi_derive::napi;

/// A `Float64Array` whose only element is wall-clock seconds, rewritten by the engine's clock
/// thread every millisecond while batches are committed at a high rate, and 0 otherwise (then JS reads
/// its own clock); `null` where the runtime cannot share memory with native code. Call once per
/// JS thread: each gets its own slot.
#[napi(catch_unwind, ts_return_type = "Float64Array | null")]
// The one unsafe call of the project: sharing the slot's memory with JS is the point.
#[allow(unsafe_code)]
pub fn clock_slot(env: &Env) -> napi::Result<Option<Float64ArraySlice<'_>>> {
    let slot = clock::new_slot();
    let data = slot.as_ptr().cast::<f64>();
    let copied = Arc::new(AtomicBool::new(false));
    let finalized = copied.clone();
    // SAFETY: `data` points at the slot's 8 bytes, an `f64`-aligned `AtomicU64` kept alive by the
    // `Arc` passed as the finalize hint until the array buffer is collected, and used by no other
    // array buffer (each call makes a new slot). JS only reads it; the clock thread writes it with
    // atomic stores, which an aligned 8-byte load never sees torn.
    let array = unsafe {
        Float64ArraySlice::from_external(env, data, 1, slot, move |_, slot| {
            finalized.store(true, Relaxed);
            drop(slot);
        })
    }?;
    // A runtime without external buffers gets a copy, finalized at once: a clock that never moves.
    Ok((!copied.load(Relaxed)).then_some(array))
}
