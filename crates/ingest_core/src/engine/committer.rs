//! The producer's hot path: a batch of wire-encoded entries copied into a pooled buffer and
//! queued for the writer, under the engine's overload policy. Runs on the JS thread once per
//! batch; never touches the file system.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Overload;
use crate::engine::command::Command;
use crate::error::{IngestError, Result};
use crate::queue::{ByteQueue, PushError};
use crate::stats::{BufferPool, Stats};

/// Commits batches to an engine's queue; cheap to clone, usable while the engine lives (after it
/// closes, commits fail with `Closed`).
#[derive(Clone)]
pub struct Committer {
    pub(super) queue: Arc<ByteQueue<Command>>,
    pub(super) stats: Arc<Stats>,
    pub(super) buffers: Arc<BufferPool>,
    pub(super) backpressure_timeout: Duration,
    pub(super) overload: Overload,
}

impl Committer {
    pub(super) fn send(&self, command: Command, bytes: usize) -> Result<()> {
        self.queue
            .push(command, bytes, self.backpressure_timeout)
            .map_err(|e| self.push_error(e, bytes))
    }

    pub(super) fn send_last(&self, command: Command) -> Result<()> {
        self.queue.push_last(command).map_err(|e| self.push_error(e, 0))
    }

    fn push_error(&self, error: PushError, bytes: usize) -> IngestError {
        match error {
            PushError::Closed => IngestError::Closed,
            PushError::Full => IngestError::Backpressure {
                waited_ms: u64::try_from(self.backpressure_timeout.as_millis()).unwrap_or(u64::MAX),
                bytes,
            },
        }
    }

    /// Hands a batch of `entries` wire-encoded entries to the writer (copied; the caller may
    /// reuse `batch` at once). When the queue is full the overload policy applies, unless
    /// `must_wait` (a flush, read or close): then it waits for room like `Block`.
    pub fn commit(&self, batch: &[u8], entries: u32, must_wait: bool) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        crate::engine::clock::activity();
        let mut copy = self.buffers.take();
        copy.extend_from_slice(batch);
        let command = Command::Entries {
            batch: copy,
            entries: u64::from(entries),
        };
        let policy = if must_wait { Overload::Block } else { self.overload };
        let wait = match policy {
            Overload::Block => self.backpressure_timeout,
            Overload::Drop | Overload::Throw => Duration::ZERO,
        };
        match self.queue.push(command, batch.len(), wait) {
            Ok(()) => {}
            Err(PushError::Full) if policy == Overload::Drop => {
                self.stats.entries_dropped.fetch_add(u64::from(entries), Relaxed);
                return Ok(());
            }
            Err(PushError::Full) => {
                return Err(IngestError::Backpressure {
                    waited_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    bytes: batch.len(),
                })
            }
            Err(error) => return Err(self.push_error(error, batch.len())),
        }
        self.stats.entries_committed.fetch_add(u64::from(entries), Relaxed);
        Ok(())
    }
}
