//! What every stage counts and recycles: the engine's counters (`Stats`, read by any thread at
//! any time) and the pool of batch buffers the producer, the writer and the write-ahead log hand
//! around.

use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

/// Counters, readable at any time from any thread.
#[derive(Debug, Default)]
pub struct Stats {
    /// Entries handed to the engine by `commit`.
    pub entries_committed: AtomicU64,
    /// Entries whose data is in sealed segments.
    pub entries_durable: AtomicU64,
    /// Entries that could not be written (I/O errors); each loss is also reported as an error.
    pub entries_lost: AtomicU64,
    /// Entries dropped by the `drop` overload policy; also reported by the next flush.
    pub entries_dropped: AtomicU64,
    /// Entries written to the write-ahead log (they survive a crash of the process).
    pub entries_logged: AtomicU64,
    /// Write-ahead log operations that failed (logging stops until everything is sealed).
    pub wal_failures: AtomicU64,
    pub segments_written: AtomicU64,
    /// Merges of small segments into one (see `TrackStore::stage_compaction`).
    pub compactions: AtomicU64,
    pub segment_bytes_written: AtomicU64,
    pub seals_by_size: AtomicU64,
    pub seals_by_interval: AtomicU64,
    pub seals_by_request: AtomicU64,
    pub seals_at_shutdown: AtomicU64,
    /// Group commits: each makes the segments of any number of tracks durable with two
    /// file-system syncs (see `track_store::commit`).
    pub commits: AtomicU64,
}

/// Batch buffers handed back by the writer for reuse, so a commit neither allocates nor faults in
/// fresh pages. It keeps at most `max_bytes` of capacity: the same memory the queue bound allows
/// in flight, recycled rather than added.
pub(crate) struct BufferPool {
    free: Mutex<(Vec<Vec<u8>>, usize)>,
    max_bytes: usize,
}

impl BufferPool {
    pub(crate) fn new(max_bytes: usize) -> Self {
        BufferPool {
            free: Mutex::new((Vec::new(), 0)),
            max_bytes,
        }
    }

    pub(crate) fn take(&self) -> Vec<u8> {
        let Ok(mut free) = self.free.lock() else {
            return Vec::new();
        };
        let (buffers, bytes) = &mut *free;
        match buffers.pop() {
            Some(buffer) => {
                *bytes -= buffer.capacity();
                buffer
            }
            None => Vec::new(),
        }
    }

    pub(crate) fn give(&self, mut buffer: Vec<u8>) {
        buffer.clear();
        if let Ok(mut free) = self.free.lock() {
            let (buffers, bytes) = &mut *free;
            if *bytes + buffer.capacity() <= self.max_bytes {
                *bytes += buffer.capacity();
                buffers.push(buffer);
            }
        }
    }
}
