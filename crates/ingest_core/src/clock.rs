//! The coarse clock for automatic timestamps: wall-clock seconds (an `f64`) in slots that one
//! ticker thread (`dash-ingest-clock`) rewrites every [`TICK`] while the clock is in use, so a
//! reader gets "now" with one memory load (~1 ns) instead of a clock call (60–130 ns, more than
//! a whole append).
//!
//! Contracts:
//! - A slot holds the seconds since the Unix epoch of the last tick, never more than about one
//!   tick old while a [`ClockUse`] is alive (longer only if the ticker is not scheduled).
//! - The ticker runs while at least one `ClockUse` is alive, and is joined when the last one is
//!   dropped; starting it first refreshes every slot, so a slot is fresh from the first read.
//! - Slots are 8-byte aligned `AtomicU64`s holding `f64` bits, so another language runtime can
//!   read one as a `Float64Array` element (an aligned 8-byte load never sees a torn value).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often the ticker rewrites the slots.
pub const TICK: Duration = Duration::from_micros(100);

/// One clock slot: the `f64` bits of the seconds since the epoch at the last tick.
#[derive(Debug)]
#[repr(transparent)]
pub struct Slot(AtomicU64);

impl Slot {
    pub fn seconds(&self) -> f64 {
        f64::from_bits(self.0.load(Relaxed))
    }

    /// The slot's memory (for a runtime that reads it in place).
    pub fn as_ptr(&self) -> *mut u64 {
        self.0.as_ptr()
    }

    fn refresh(&self, seconds: f64) {
        self.0.store(seconds.to_bits(), Relaxed);
    }
}

#[derive(Default)]
struct Clock {
    slots: Vec<Weak<Slot>>,
    users: usize,
    ticker: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
}

static CLOCK: Mutex<Clock> = Mutex::new(Clock {
    slots: Vec::new(),
    users: 0,
    ticker: None,
});

fn clock() -> MutexGuard<'static, Clock> {
    // The state stays consistent under the lock even if a holder panicked.
    CLOCK.lock().unwrap_or_else(|p| p.into_inner())
}

fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Rewrites every live slot; forgets slots nobody holds any more.
fn tick(slots: &mut Vec<Weak<Slot>>) {
    let now = now_seconds();
    slots.retain(|slot| match slot.upgrade() {
        Some(slot) => {
            slot.refresh(now);
            true
        }
        None => false,
    });
}

/// A new slot holding the current time. It is kept fresh while the clock is in use.
pub fn new_slot() -> Arc<Slot> {
    let slot = Arc::new(Slot(AtomicU64::new(now_seconds().to_bits())));
    clock().slots.push(Arc::downgrade(&slot));
    slot
}

/// Keeps the ticker running while alive (see the module contract).
#[derive(Debug)]
pub struct ClockUse(());

/// Starts using the clock; the ticker starts with the first use. Fails only if the thread
/// cannot be started (then slots are not refreshed and the caller should not use them).
pub fn start() -> std::io::Result<ClockUse> {
    let mut clock = clock();
    if clock.users == 0 {
        tick(&mut clock.slots);
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("dash-ingest-clock".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(TICK) {
                    tick(&mut crate::clock::clock().slots);
                }
            })?;
        clock.ticker = Some((stop, thread));
    }
    clock.users += 1;
    Ok(ClockUse(()))
}

impl Drop for ClockUse {
    fn drop(&mut self) {
        let ticker = {
            let mut clock = clock();
            clock.users = clock.users.saturating_sub(1);
            if clock.users > 0 {
                return;
            }
            clock.ticker.take()
        };
        // Joined outside the lock: the ticker takes the lock on every tick.
        if let Some((stop, thread)) = ticker {
            drop(stop);
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_the_wall_clock_while_in_use_and_the_ticker_stops_after() {
        let slot = new_slot();
        let uses = (start().unwrap(), start().unwrap());
        let first = slot.seconds();
        assert!((first - now_seconds()).abs() < 1.0);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while slot.seconds() == first {
            assert!(std::time::Instant::now() < deadline, "the slot never moved");
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(uses.0);
        assert!(clock().ticker.is_some(), "one use is left");
        drop(uses.1);
        assert!(clock().ticker.is_none());
        let stopped = slot.seconds();
        std::thread::sleep(TICK * 20);
        assert_eq!(slot.seconds(), stopped);
        drop(slot);
        let _again = start().unwrap();
        assert!(
            clock().slots.iter().all(|s| s.upgrade().is_some()),
            "dead slots are forgotten"
        );
    }
}
