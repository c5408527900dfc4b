//! A FIFO bounded by bytes: the memory bound between the producer (JS thread) and the writer.
//! Items with a size of 0 (control commands) are never refused for space, so a flush or close
//! can always be queued behind the data it must wait for.
//!
//! Wake-ups are lazy, because a futex wake costs the producer more than a whole batch of appends:
//! after the queue runs dry the consumer first naps for `POLL` without being woken, and only then
//! parks; a data push wakes it only when it is parked (control items always wake it). Data thus
//! reaches the consumer within `POLL`, and a busy producer never makes a system call.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub struct ByteQueue<T> {
    state: Mutex<State<T>>,
    not_empty: Condvar,
    not_full: Condvar,
    capacity: usize,
}

struct State<T> {
    items: VecDeque<(T, usize)>,
    bytes: usize,
    closed: bool,
    /// The consumer waits until woken (after its nap found nothing).
    consumer_parked: bool,
    /// Producers waiting for room.
    producers_waiting: usize,
}

/// How long the consumer naps, unwoken, before parking.
const POLL: Duration = Duration::from_millis(1);

#[derive(Debug, PartialEq, Eq)]
pub enum PushError {
    /// Still no room after the timeout.
    Full,
    /// The consumer is gone.
    Closed,
}

impl<T> ByteQueue<T> {
    pub fn new(capacity: usize) -> Self {
        ByteQueue {
            state: Mutex::new(State {
                items: VecDeque::new(),
                bytes: 0,
                closed: false,
                consumer_parked: false,
                producers_waiting: 0,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            capacity,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A poisoned lock only means another thread panicked while holding it; the queue's
        // state is updated atomically under the lock, so it is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `item` of `size` bytes, waiting up to `timeout` for room. An item larger than the
    /// whole capacity is accepted once the queue is empty.
    pub fn push(&self, item: T, size: usize, timeout: Duration) -> Result<(), PushError> {
        let mut deadline = None;
        let mut state = self.lock();
        loop {
            if state.closed {
                return Err(PushError::Closed);
            }
            let fits = size == 0 || state.bytes == 0 || state.bytes + size <= self.capacity;
            if fits {
                break;
            }
            let now = Instant::now();
            let until = *deadline.get_or_insert(now + timeout);
            if now >= until {
                return Err(PushError::Full);
            }
            state.producers_waiting += 1;
            state = self
                .not_full
                .wait_timeout(state, until - now)
                .map(|(s, _)| s)
                .unwrap_or_else(|p| p.into_inner().0);
            state.producers_waiting -= 1;
        }
        state.bytes += size;
        state.items.push_back((item, size));
        let wake = state.consumer_parked || size == 0;
        drop(state);
        if wake {
            self.not_empty.notify_one();
        }
        Ok(())
    }

    /// Queues `item` (a control item: never refused for space) as the last one: every later push
    /// fails with `Closed`.
    pub fn push_last(&self, item: T) -> Result<(), PushError> {
        let mut state = self.lock();
        if state.closed {
            return Err(PushError::Closed);
        }
        state.items.push_back((item, 0));
        state.closed = true;
        drop(state);
        self.not_empty.notify_one();
        self.not_full.notify_all();
        Ok(())
    }

    /// Takes the oldest item, waiting until `deadline`; `None` on timeout.
    pub fn pop(&self, deadline: Instant) -> Option<T> {
        let mut state = self.lock();
        let mut napped = false;
        loop {
            if let Some((item, size)) = state.items.pop_front() {
                state.bytes -= size;
                let wake = state.producers_waiting > 0;
                drop(state);
                if wake {
                    self.not_full.notify_all();
                }
                return Some(item);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            let (wait, park) = if napped {
                (deadline - now, true)
            } else {
                (POLL.min(deadline - now), false)
            };
            state.consumer_parked = park;
            state = self
                .not_empty
                .wait_timeout(state, wait)
                .map(|(s, _)| s)
                .unwrap_or_else(|p| p.into_inner().0);
            state.consumer_parked = false;
            napped = true;
        }
    }

    /// Refuses further pushes; items already queued can still be popped.
    pub fn close(&self) {
        self.lock().closed = true;
        self.not_full.notify_all();
    }

    pub fn queued_bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_bytes_but_admits_control_items_and_one_oversized_item() {
        let q = ByteQueue::new(10);
        let no_wait = Duration::ZERO;
        q.push(1, 8, no_wait).unwrap();
        assert_eq!(q.push(2, 8, no_wait), Err(PushError::Full));
        q.push(3, 0, no_wait).unwrap();
        assert_eq!(q.pop(Instant::now()), Some(1));
        assert_eq!(q.pop(Instant::now()), Some(3));
        q.push(4, 100, no_wait).unwrap();
        assert_eq!(q.queued_bytes(), 100);
        q.close();
        assert_eq!(q.push(5, 0, no_wait), Err(PushError::Closed));
        assert_eq!(q.pop(Instant::now()), Some(4));
        assert_eq!(q.pop(Instant::now()), None);
    }

    #[test]
    fn a_blocked_producer_resumes_when_the_consumer_pops() {
        let q = std::sync::Arc::new(ByteQueue::new(4));
        q.push(0, 4, Duration::ZERO).unwrap();
        let consumer = {
            let q = q.clone();
            std::thread::spawn(move || q.pop(Instant::now() + Duration::from_secs(5)))
        };
        q.push(1, 4, Duration::from_secs(5)).unwrap();
        assert_eq!(consumer.join().unwrap(), Some(0));
    }
}
