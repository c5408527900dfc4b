//! Engine configuration: plain data with presets. Units are in the field names.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Unsealed rows are made durable at least this often (ML_DASH_FLUSH_INTERVAL).
    pub flush_interval: Duration,
    /// Bound on batches queued between the JS thread and the writer.
    pub max_queue_bytes: usize,
    /// Bound on the memory of unsealed rows, all tracks together; past it the largest track is
    /// sealed into a segment.
    pub max_unsealed_bytes: usize,
    /// How long `commit` waits for queue room before failing with `Backpressure`.
    pub backpressure_timeout: Duration,
    /// How long `close` waits for the writer to drain before failing with `Timeout`.
    pub close_timeout: Duration,
    /// What a commit does when the queue is full.
    pub overload: Overload,
    /// The write-ahead log is fsynced this often (when it changed).
    pub sync_interval: Duration,
    /// Past this many bytes of write-ahead log, everything is sealed and the log emptied.
    pub max_wal_bytes: u64,
}

/// What happens to a batch that finds the queue full (the writer is behind). Whatever the
/// choice, memory stays bounded and nothing is lost silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overload {
    /// Wait for room up to `backpressure_timeout`, then fail with `Backpressure` (no loss).
    Block,
    /// Drop the batch at once: counted in `entries_dropped`, reported by the next flush.
    Drop,
    /// Fail with `Backpressure` at once (the caller decides).
    Throw,
}

impl EngineConfig {
    /// What users get: durable within 5 s (the SDK's default), ~32 MiB of engine memory.
    pub const DEFAULT: EngineConfig = EngineConfig {
        flush_interval: Duration::from_secs(5),
        max_queue_bytes: 8 << 20,
        max_unsealed_bytes: 16 << 20,
        backpressure_timeout: Duration::from_secs(30),
        close_timeout: Duration::from_secs(60),
        overload: Overload::Block,
        sync_interval: Duration::from_millis(500),
        max_wal_bytes: 64 << 20,
    };

    /// For deterministic tests: nothing is sealed unless asked (flush, read, size, close).
    pub const NEVER: EngineConfig = EngineConfig {
        flush_interval: Duration::from_secs(3600 * 24 * 365),
        ..EngineConfig::DEFAULT
    };
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig::DEFAULT
    }
}
