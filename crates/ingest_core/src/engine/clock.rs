//! The coarse clock for automatic timestamps: wall-clock seconds (an `f64`) in slots that one
//! ticker thread (`dash-ingest-clock`) rewrites every [`TICK`] while appends stream in fast, so a
//! reader gets "now" with one memory load (~1 ns) instead of a clock call (60–130 ns, more than
//! a whole append).
//!
//! Contracts:
//! - A slot holds either the seconds since the Unix epoch of the last tick, about one tick old
//!   (more only if the ticker is not scheduled), or 0: "not ticking, read your own clock".
//! - Ticking costs the ticker ~1,000 wake-ups per second, which only pays off when the clock calls
//!   it saves cost more (each wake-up also takes a core from a busy thread for several µs on a
//!   2-core VM: at 100 µs the ticker cost ~13% of a core and ~10% of the append rate, measured
//!   with paired runs; a 1 ms tick leaves automatic timestamps at most ~1 ms old while fast): it ticks while at least [`BUSY_COMMITS`]
//!   batches were committed ([`activity`]) in the last [`WINDOW`] (at 256 entries per batch, about
//!   500,000 appends per second), and otherwise zeroes the slots and only counts commits, waking
//!   every [`WINDOW`].
//! - The ticker thread runs while at least one [`ClockUse`] is alive, and is joined (the slots
//!   zeroed) when the last one is dropped.
//! - Slots are 8-byte aligned `AtomicU64`s holding `f64` bits, so another language runtime can
//!   read one as a `Float64Array` element (an aligned 8-byte load never sees a torn value).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often the ticker rewrites the slots while appends stream in fast (see the module contracts).
pub const TICK: Duration = Duration::from_millis(1);
/// The window in which commits are counted (and how often an idle ticker wakes).
pub const WINDOW: Duration = Duration::from_millis(10);
/// Commits per window that make the ticker tick.
pub const BUSY_COMMITS: u64 = 20;

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
    let mut clock = clock();
    clock.slots.retain(|s| s.strong_count() > 0);
    clock.slots.push(Arc::downgrade(&slot));
    slot
}

/// The ticker thread: ticks while commits are frequent, counts them otherwise, ends when `stopped`
/// disconnects (and zeroes the slots).
fn run_ticker(stopped: &mpsc::Receiver<()>) {
    let mut seen = ACTIVITY.load(Relaxed);
    let mut window_start = Instant::now();
    let mut ticking = false;
    loop {
        let period = if ticking { TICK } else { WINDOW };
        if !matches!(stopped.recv_timeout(period), Err(mpsc::RecvTimeoutError::Timeout)) {
            break;
        }
        if window_start.elapsed() >= WINDOW {
            let now_seen = ACTIVITY.load(Relaxed);
            let busy = now_seen.wrapping_sub(seen) >= BUSY_COMMITS;
            (seen, window_start) = (now_seen, Instant::now());
            if ticking && !busy {
                set_all(&mut clock().slots, 0.0);
            }
            ticking = busy;
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

/// Tests that commit batches (and so count [`activity`]) hold this for reading; the clock's own
/// test holds it for writing, so no other test's commits make the clock tick under it.
#[cfg(test)]
pub(crate) static ACTIVITY_IN_TESTS: std::sync::RwLock<()> = std::sync::RwLock::new(());

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
    fn slots_tick_while_commits_are_frequent_and_read_zero_otherwise() {
        let _alone = ACTIVITY_IN_TESTS
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let slot = new_slot();
        assert_eq!(slot.seconds(), 0.0);
        let uses = (start().unwrap(), start().unwrap());
        // A few commits (slow appends) do not make it tick.
        activity();
        std::thread::sleep(WINDOW * 3);
        assert_eq!(slot.seconds(), 0.0);
        // Many commits do; it ticks as long as they keep coming.
        let busy = || {
            for _ in 0..BUSY_COMMITS * 10 {
                activity();
            }
        };
        wait_until("the first tick", || {
            busy();
            slot.seconds() > 0.0
        });
        assert!((slot.seconds() - now_seconds()).abs() < 1.0);
        let first = slot.seconds();
        wait_until("the slot to move", || {
            busy();
            slot.seconds() > first
        });
        // Commits stop: the ticker goes idle and says so.
        wait_until("the idle zero", || slot.seconds() == 0.0);
        drop(uses.0);
        assert!(clock().ticker.is_some(), "one use is left");
        drop(uses.1);
        assert!(clock().ticker.is_none());
        assert_eq!(slot.seconds(), 0.0, "a stopped clock reads 0");
        drop(slot);
        let _fresh = new_slot();
        assert!(
            clock().slots.iter().all(|s| s.upgrade().is_some()),
            "dead slots are forgotten"
        );
    }
}
