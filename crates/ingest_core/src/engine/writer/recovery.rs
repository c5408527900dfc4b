//! Recovery at open: what an engine that stopped without closing left behind (temporary and
//! unlisted files in every track, a write-ahead log to replay and seal).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use super::{SealReason, Writer};
use crate::config::EngineConfig;
use crate::durability::wal;
use crate::error::Result;
use crate::merge::table::ColumnName;
use crate::queue::ByteQueue;
use crate::stats::{BufferPool, Stats};
use crate::storage::track_store;
use crate::time;

/// What replaying a write-ahead log found (see `Writer::replay`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recovery {
    /// Entries replayed from the log and sealed.
    pub entries: u64,
    /// Entries of complete records that did not decode (not expected: the engine wrote them).
    pub entries_lost: u64,
    /// Bytes of a torn or corrupt tail that were discarded.
    pub discarded_bytes: u64,
}

impl Writer {
    /// Repairs what an engine that stopped without closing left in the experiment `dir` (temporary
    /// files and unlisted segments in every track, a write-ahead log to replay). Only for the
    /// holder of the experiment's lock.
    pub(crate) fn recover(dir: &std::path::Path, config: &EngineConfig) -> Result<Recovery> {
        if let Ok(tracks) = std::fs::read_dir(dir.join("tracks")) {
            // A link among the tracks is not followed: nothing outside the experiment is touched.
            for track in tracks.flatten().filter(|t| t.file_type().is_ok_and(|t| t.is_dir())) {
                track_store::recover(dir, &track.path())?;
            }
        }
        Self::replay(dir, config)
    }

    /// Replays the write-ahead log a previous engine left in `dir` (it stopped without closing)
    /// and seals its rows, so they are durable before a new log replaces it. Rows that were
    /// already sealed merge with themselves (same timestamps, same values). Records a warning in
    /// the experiment's logs when anything was replayed or discarded.
    fn replay(dir: &std::path::Path, config: &EngineConfig) -> Result<Recovery> {
        let Some(bytes) = wal::read_file(dir)? else {
            return Ok(Recovery::default());
        };
        let contents = wal::parse(&dir.join(wal::WAL_FILE), &bytes)?;
        let stats = Arc::new(Stats::default());
        let mut writer = Writer::new(
            dir,
            None,
            Arc::new(BufferPool::new(0)),
            Arc::new(ByteQueue::new(0)),
            stats.clone(),
            config.clone(),
            None,
        );
        // The engine being started holds the lock for this writer.
        writer.writing = true;
        for record in contents.records {
            match record {
                wal::Record::Topic { id, topic } => {
                    let track_dir = writer.tracks_dir.join(crate::storage::paths::topic_dir(topic)?);
                    writer.define_topic(id, topic.to_string(), track_dir);
                }
                wal::Record::Key(name) => writer.define_key(ColumnName::from(name)),
                wal::Record::Shape(shape) => writer.define_shape(shape),
                wal::Record::Entries { batch, entries } => writer.ingest(batch, u64::from(entries)),
            }
        }
        // Batches that do not decode are counted, not fatal: the experiment must stay openable.
        writer.failure = None;
        writer.seal_all(SealReason::Recovery)?;
        let recovery = Recovery {
            entries: stats.entries_durable.load(Relaxed),
            entries_lost: stats.entries_lost.load(Relaxed),
            discarded_bytes: contents.discarded_bytes,
        };
        if recovery != Recovery::default() {
            let message = format!(
                "recovered {} entries from the write-ahead log of an engine that stopped without closing; \
                 {} entries did not decode; discarded {} bytes of a torn tail",
                recovery.entries, recovery.entries_lost, recovery.discarded_bytes
            );
            writer.logs.add(&time::utc_now_iso(), "warn", &message, None, false)?;
            writer.logs.seal()?;
        }
        Ok(recovery)
    }
}
