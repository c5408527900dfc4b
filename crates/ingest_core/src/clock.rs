//! The coarse clock for automatic timestamps: wall-clock seconds (an `f64`) in slots that one
//! ticker thread (`dash-ingest-clock`) rewrites every [`TICK`] while appends are happening, so a
//! reader gets "now" with one memory load (~1 ns) instead of a clock call (60–130 ns, more than
//! a whole append).
//!
//! Contracts:
//! - A slot holds either the seconds since the Unix epoch of the last tick, about one tick old
//!   (more only if the ticker is not scheduled), or 0: "not ticking, read your own clock".
//! - The ticker ticks while there was [`activity`] (batches committed) in the last [`IDLE_AFTER`];
//!   then it zeroes the slots and only checks for activity every [`IDLE_POLL`], so an idle open
//!   experiment costs ~100 wake-ups per second, not 10,000.
//! - The ticker thread runs while at least one [`ClockUse`] is alive, and is joined (the slots
//!   zeroed) when the last one is dropped.
//! - Slots are 8-byte aligned `AtomicU64`s holding `f64` bits, so another language runtime can
//!   read one as a `Float64Array` element (an aligned 8-byte load never sees a torn value).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often the ticker rewrites the slots while appends are happening.
pub const TICK: Duration = Duration::from_micros(100);
/// Without activity for this long, the ticker stops ticking (slots read 0).
pub const IDLE_AFTER: Duration = Duration::from_millis(100);
/// How often an idle ticker checks for activity.
pub const IDLE_POLL: Duration = Duration::from_millis(10);

/// Bumped by every commit of a batch (see [`activity`]).
static ACTIVITY: AtomicU64 = AtomicU64::new(0);

/// Records that appends are happening (called once per committed batch: one relaxed add).
pub fn activity() {
    ACTIVITY.fetch_add(1, Relaxed);
}

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

/// Writes `seconds` (`now_seconds()`, or 0 for "not ticking") into every live slot; forgets
/// slots nobody holds any more.
fn set_all(slots: &mut Vec<Weak<Slot>>, seconds: f64) {
    slots.retain(|slot| match slot.upgrade() {
        Some(slot) => {
            slot.refresh(seconds);
            true
        }
        None => false,
    });
}

/// A new slot, reading 0 until the ticker next ticks.
pub fn new_slot() -> Arc<Slot> {
    let slot = Arc::new(Slot(AtomicU64::new(0)));
    clock().slots.push(Arc::downgrade(&slot));
    slot
}

/// The ticker thread: ticks while there is activity, polls for it otherwise, ends when `stopped`
/// disconnects (and zeroes the slots). It starts ticking: an engine was just opened for appends.
fn run_ticker(stopped: &mpsc::Receiver<()>) {
    let mut seen = ACTIVITY.load(Relaxed);
    let mut last_activity = Instant::now();
    let mut ticking = true;
    set_all(&mut clock().slots, now_seconds());
    loop {
        let period = if ticking { TICK } else { IDLE_POLL };
        if !matches!(stopped.recv_timeout(period), Err(mpsc::RecvTimeoutError::Timeout)) {
            break;
        }
        let now_seen = ACTIVITY.load(Relaxed);
        if now_seen != seen {
            seen = now_seen;
            last_activity = Instant::now();
            ticking = true;
        } else if ticking && last_activity.elapsed() >= IDLE_AFTER {
            ticking = false;
            set_all(&mut clock().slots, 0.0);
        }
        if ticking {
            set_all(&mut clock().slots, now_seconds());
        }
    }
    set_all(&mut clock().slots, 0.0);
}

/// Keeps the ticker running while alive (see the module contract).
#[derive(Debug)]
pub struct ClockUse(());

/// Starts using the clock; the ticker starts with the first use. Fails only if the thread
/// cannot be started (then slots are not refreshed and the caller should not use them).
pub fn start() -> std::io::Result<ClockUse> {
    let mut clock = clock();
    if clock.users == 0 {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("dash-ingest-clock".into())
            .spawn(move || run_ticker(&stopped))?;
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

    fn wait_until(what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn slots_tick_while_appends_happen_and_read_zero_otherwise() {
        let slot = new_slot();
        assert_eq!(slot.seconds(), 0.0);
        let uses = (start().unwrap(), start().unwrap());
        activity();
        wait_until("the first tick", || slot.seconds() > 0.0);
        assert!((slot.seconds() - now_seconds()).abs() < 1.0);
        let first = slot.seconds();
        activity();
        wait_until("the slot to move", || slot.seconds() > first);
        // No activity: the ticker goes idle and says so.
        wait_until("the idle zero", || slot.seconds() == 0.0);
        activity();
        wait_until("ticking again", || slot.seconds() > 0.0);
        drop(uses.0);
        assert!(clock().ticker.is_some(), "one use is left");
        drop(uses.1);
        assert!(clock().ticker.is_none());
        assert_eq!(slot.seconds(), 0.0, "a stopped clock reads 0");
        drop(slot);
        let _again = start().unwrap();
        wait_until("dead slots to be forgotten", || {
            clock().slots.iter().all(|s| s.upgrade().is_some())
        });
    }
}
