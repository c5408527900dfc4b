//! The writer thread: owns all track state, decodes batches, merges rows, seals segments, and
//! writes logs, metrics and files, in the order commands arrive.

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use crate::durability::wal::Wal;

use crate::config::EngineConfig;
use crate::engine::command::{Command, ReadFormat, ReadQuery};
use crate::error::{IngestError, Result};
use crate::ingest::wire::Shape;
use crate::merge::table::{ColumnName, Table};
use crate::queue::ByteQueue;
use crate::sdk::files::Files;
use crate::sdk::records::{Logs, Metrics};
use crate::stats::{BufferPool, Stats};
use crate::storage::track_store::{self, Staged, TrackStore, TrackSummary};
use crate::{ingest::wire, storage::jsonl, storage::segment};

mod compaction;
mod files;
mod recovery;

pub use recovery::Recovery;

#[derive(Debug, Clone, Copy)]
enum SealReason {
    Size,
    Interval,
    Request,
    Shutdown,
    Recovery,
}

pub(crate) struct Track {
    store: Option<TrackStore>,
    dir: PathBuf,
    topic: String,
    pending: Table,
    pending_entries: u64,
}

/// At most this many tracks are sealed as one group when unsealed rows reach their bound.
const MAX_SIZE_SEAL_TRACKS: usize = 128;

/// How often buffered log lines and metric points are appended to their files.
const RECORDS_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// State owned by the writer thread.
pub(crate) struct Writer {
    /// The experiment's lock (for a writing engine), held until the writer has sealed everything
    /// at shutdown, and released before it answers, so a new engine can start at once.
    lock: Option<std::fs::File>,
    /// Whether this writer may change the experiment's files: it holds the lock (directly, or
    /// through the engine that is replaying a log). A reader's writer never writes; it reads
    /// each track's current metadata for every request (see [`track_store::read_snapshot`]).
    writing: bool,
    dir: PathBuf,
    tracks_dir: PathBuf,
    logs: Logs,
    metrics: Metrics,
    files: Files,
    /// Saved files not written yet (images being encoded, and the files queued after them).
    pending_files: files::PendingFiles,
    buffers: Arc<BufferPool>,
    queue: Arc<ByteQueue<Command>>,
    stats: Arc<Stats>,
    config: EngineConfig,
    /// The write-ahead log of a writing engine (`None` for readers and while replaying).
    wal: Option<Wal>,
    keys: Vec<ColumnName>,
    shapes: Vec<Shape>,
    tracks: Vec<Track>,
    /// The first failure since the last flush, reported by the next flush or close.
    failure: Option<IngestError>,
    /// `entries_dropped` as of the last report.
    dropped_reported: u64,
    /// Tracks sealed since they were last compacted (see [`Writer::compact_step`]).
    compaction_due: std::collections::BTreeSet<usize>,
}

/// Closes the queue when the writer thread ends, however it ends, so producers get `Closed`
/// instead of waiting on a consumer that is gone.
struct CloseOnExit(Arc<ByteQueue<Command>>);

impl Drop for CloseOnExit {
    fn drop(&mut self) {
        self.0.close();
    }
}

impl Writer {
    pub(crate) fn new(
        dir: &std::path::Path,
        lock: Option<std::fs::File>,
        buffers: Arc<BufferPool>,
        queue: Arc<ByteQueue<Command>>,
        stats: Arc<Stats>,
        config: EngineConfig,
        wal: Option<Wal>,
    ) -> Writer {
        Writer {
            writing: lock.is_some(),
            lock,
            dir: dir.to_path_buf(),
            tracks_dir: dir.join("tracks"),
            logs: Logs::new(dir),
            metrics: Metrics::new(dir),
            files: Files::new(dir),
            pending_files: files::PendingFiles::new(queue.clone()),
            buffers,
            queue,
            stats,
            config,
            wal,
            keys: Vec::new(),
            shapes: Vec::new(),
            tracks: Vec::new(),
            failure: None,
            dropped_reported: 0,
            compaction_due: std::collections::BTreeSet::new(),
        }
    }

    pub(crate) fn run(mut self) {
        let _close = CloseOnExit(self.queue.clone());
        let mut next_seal = Instant::now() + self.config.flush_interval;
        let mut next_records = Instant::now() + RECORDS_INTERVAL;
        loop {
            // Background work (compaction) runs only while no command waits.
            let idle_until = match self.compaction_due.is_empty() {
                true => next_seal.min(next_records),
                false => Instant::now(),
            };
            let command = self.queue.pop(idle_until);
            let mut stop = false;
            match command {
                None => {
                    if !self.compaction_due.is_empty() {
                        self.compact_step();
                    }
                }
                Some(Command::DefineTopic { id, topic, dir }) => self.define_topic(id, topic, dir),
                Some(Command::DefineKey(name)) => self.define_key(name),
                Some(Command::DefineShape(keys)) => self.define_shape(keys),
                Some(Command::Entries { batch, entries }) => self.accept(batch, entries),
                Some(Command::Flush(reply)) => {
                    self.pending_files.wait_all(&mut self.files, &mut self.failure);
                    let _ = reply.send(self.seal_all(SealReason::Request));
                }
                Some(Command::Logged(reply)) => match self.wal.as_mut().filter(|wal| wal.is_logging()) {
                    Some(wal) => wal.barrier(reply),
                    None => {
                        let _ = reply.send(self.seal_all(SealReason::Request));
                    }
                },
                Some(Command::Read { topic, query, reply }) => {
                    let _ = reply.send(self.read(topic, &query));
                }
                Some(Command::ListTracks(reply)) => {
                    let _ = reply.send(self.seal_all(SealReason::Request).and_then(|()| self.list_tracks()));
                }
                Some(Command::Log {
                    timestamp,
                    level,
                    message,
                    metadata,
                    once,
                }) => {
                    if let Err(error) = self.logs.add(&timestamp, &level, &message, metadata.as_deref(), once) {
                        self.fail(error);
                    }
                }
                Some(Command::Metric { name, data, once }) => {
                    if let Err(error) = self.metrics.add(&name, &data, once) {
                        self.fail(error);
                    }
                }
                Some(Command::ReadMetric {
                    name,
                    start,
                    limit,
                    reply,
                }) => {
                    let _ = reply.send(self.metrics.read(&name, start, limit));
                }
                Some(Command::SaveFile(file)) => self.pending_files.add(*file, &mut self.files, &mut self.failure),
                Some(Command::FileEncoded) => {}
                Some(Command::ListFiles(reply)) => {
                    self.pending_files.wait_all(&mut self.files, &mut self.failure);
                    if !self.writing {
                        self.files.forget();
                    }
                    let _ = reply.send(self.files.list());
                }
                Some(Command::ReadFile {
                    prefix,
                    filename,
                    reply,
                }) => {
                    self.pending_files.wait_all(&mut self.files, &mut self.failure);
                    if !self.writing {
                        self.files.forget();
                    }
                    let _ = reply.send(self.files.read(&prefix, &filename));
                }
                Some(Command::ExportMlDash { topic, reply }) => {
                    let result = self
                        .seal_all(SealReason::Request)
                        .and_then(|()| self.export_ml_dash(topic.as_deref()));
                    let _ = reply.send(result);
                }
                Some(Command::Shutdown(reply)) => {
                    self.pending_files.wait_all(&mut self.files, &mut self.failure);
                    let result = self.seal_all(SealReason::Shutdown);
                    self.close_wal();
                    self.queue.close();
                    drop(self.lock.take());
                    let _ = reply.send(result);
                    stop = true;
                }
            }
            if stop {
                break;
            }
            self.pending_files.write_ready(&mut self.files, &mut self.failure);
            if Instant::now() >= next_records {
                self.write_records();
                next_records = Instant::now() + RECORDS_INTERVAL;
            }
            if Instant::now() >= next_seal {
                // A failure here is kept in `self.failure` for the next flush to report.
                let _ = self.seal_all(SealReason::Interval);
                next_seal = Instant::now() + self.config.flush_interval;
            }
        }
    }

    /// Ids are assigned in order by `Engine::define_topic`, so each new id is the next index.
    fn define_topic(&mut self, id: u32, topic: String, dir: PathBuf) {
        if usize::try_from(id).ok() != Some(self.tracks.len()) {
            return;
        }
        if let Some(wal) = &mut self.wal {
            wal.topic(id, &topic);
        }
        self.tracks.push(Track {
            store: None,
            dir,
            topic,
            pending: Table::new(),
            pending_entries: 0,
        });
    }

    fn define_key(&mut self, name: ColumnName) {
        if let Some(wal) = &mut self.wal {
            wal.key(&name);
        }
        self.keys.push(name);
    }

    fn define_shape(&mut self, shape: Shape) {
        if let Some(wal) = &mut self.wal {
            wal.shape(&shape);
        }
        self.shapes.push(shape);
    }

    /// Merges a batch into the unsealed tables, then logs it (the log thread gives the buffer
    /// back to the pool). Logging after merging is safe: a reset that came in between (everything
    /// sealed) only makes the log hold rows that are sealed, which a replay merges with themselves.
    fn accept(&mut self, batch: Vec<u8>, entries: u64) {
        self.ingest(&batch, entries);
        match &mut self.wal {
            Some(wal) => wal.entries(batch, u32::try_from(entries).unwrap_or(u32::MAX)),
            None => self.buffers.give(batch),
        }
        // A long log makes a long replay: past its bound, seal everything so it can be emptied.
        if self
            .wal
            .as_ref()
            .is_some_and(|wal| wal.len() >= self.config.max_wal_bytes)
        {
            let _ = self.seal_all(SealReason::Size);
        }
    }

    /// Appends buffered log lines and metric points to their files.
    fn write_records(&mut self) {
        if let Err(error) = self.logs.seal().and_then(|()| self.metrics.seal()) {
            self.fail(error);
        }
    }

    /// Empties the log once every track is sealed, and logs the definitions again (later batches
    /// use them).
    fn reset_wal_if_sealed(&mut self) {
        let sealed = self.all_sealed();
        let Some(wal) = self.wal.as_mut().filter(|wal| sealed && !wal.is_empty()) else {
            return;
        };
        wal.reset();
        for (id, track) in (0u32..).zip(&self.tracks) {
            wal.topic(id, &track.topic);
        }
        for key in &self.keys {
            wal.key(key);
        }
        for shape in &self.shapes {
            wal.shape(shape);
        }
    }

    /// Whether every accepted row is in a segment (or counted as lost): the log's rows are then
    /// all durable.
    fn all_sealed(&self) -> bool {
        self.tracks.iter().all(|t| t.pending_entries == 0)
    }

    /// At shutdown: a log whose rows are all sealed is deleted; otherwise (a seal failed) it is
    /// written, synced and kept for the next engine to replay.
    fn close_wal(&mut self) {
        let sealed = self.all_sealed();
        if let Some(wal) = self.wal.take() {
            wal.finish(sealed);
        }
    }

    fn fail(&mut self, error: IngestError) {
        if self.failure.is_none() {
            self.failure = Some(error);
        }
    }

    fn ingest(&mut self, batch: &[u8], entries: u64) {
        let keys = &self.keys;
        let shapes = &self.shapes;
        let tracks = &mut self.tracks;
        let result = wire::decode_batch(batch, shapes, |entry| {
            let Some(track) = tracks.get_mut(entry.topic as usize) else {
                return Err(IngestError::UnknownId {
                    what: "topic",
                    id: entry.topic,
                });
            };
            let count = entry.count() as u64;
            track.pending.push_entry(entry, keys, shapes)?;
            track.pending_entries += count;
            Ok(())
        });
        if let Err(error) = result {
            // Entries before the malformed byte were ingested; the rest of the batch is lost.
            self.stats.entries_lost.fetch_add(entries, Relaxed);
            self.fail(error);
        }
        // Memory bound: all tracks' unsealed rows together stay under `max_unsealed_bytes`. Past
        // it, the largest tracks (they make the best segments) are sealed as one group until at
        // most half the bound is left (at most `MAX_SIZE_SEAL_TRACKS` of them, so the writer
        // pauses briefly even with thousands of small tracks): one group commit frees room for
        // many batches.
        let unsealed = self.unsealed_bytes();
        if unsealed >= self.config.max_unsealed_bytes {
            let mut largest: Vec<(usize, usize)> = (self.tracks.iter().enumerate())
                .filter(|(_, t)| t.pending_entries > 0)
                .map(|(index, t)| (t.pending.approx_bytes(), index))
                .collect();
            largest.sort_unstable_by(|a, b| b.cmp(a));
            let mut left = unsealed;
            let chosen: Vec<usize> = largest
                .into_iter()
                .take(MAX_SIZE_SEAL_TRACKS)
                .take_while(|(bytes, _)| {
                    let take = left > self.config.max_unsealed_bytes / 2;
                    left = left.saturating_sub(*bytes);
                    take
                })
                .map(|(_, index)| index)
                .collect();
            self.seal(&chosen, SealReason::Size);
            self.reset_wal_if_sealed();
        }
    }

    fn unsealed_bytes(&self) -> usize {
        self.tracks.iter().map(|t| t.pending.approx_bytes()).sum()
    }

    fn store<'a>(root: &std::path::Path, track: &'a mut Track) -> Result<&'a mut TrackStore> {
        let store = match track.store.take() {
            Some(store) => store,
            None => TrackStore::open(root, track.dir.clone(), &track.topic)?,
        };
        Ok(track.store.insert(store))
    }

    /// Seals the unsealed rows of the tracks `indices` as one group: each track's segments are
    /// staged, then one [`track_store::commit`] makes them all durable, so sealing many tracks
    /// costs two file-system syncs, not four fsyncs per track. Rows whose staging or commit fails
    /// are lost: counted, and reported by the next flush or close.
    fn seal(&mut self, indices: &[usize], reason: SealReason) {
        let mut members: Vec<(usize, u64)> = Vec::new();
        let mut group: Vec<Staged> = Vec::new();
        for &index in indices {
            let Some(track) = self.tracks.get_mut(index) else {
                continue;
            };
            if track.pending_entries == 0 {
                continue;
            }
            let mut rows = std::mem::take(&mut track.pending);
            let entries = std::mem::take(&mut track.pending_entries);
            rows.normalize();
            match Self::store(&self.dir, track).and_then(|store| store.stage(rows)) {
                Ok((staged, mut reusable)) => {
                    // The track's next rows go into the same allocations (its typical size, and
                    // within the unsealed-memory bound it was sealed at).
                    reusable.clear();
                    track.pending = reusable;
                    if let Some(staged) = staged {
                        members.push((index, entries));
                        group.push(staged);
                    }
                }
                Err(error) => self.lose(entries, error),
            }
        }
        let indices: Vec<usize> = members.iter().map(|(index, _)| *index).collect();
        let (listed, result) = self.commit(&indices, group);
        if let Err(error) = result {
            // Those listed stay (they are on disk and readable; whether the last sync made their
            // listing durable is what the error reports); the rest are lost.
            let entries = members.iter().skip(listed.len()).map(|(_, entries)| entries).sum();
            self.lose(entries, error);
        }
        let stats = self.stats.clone();
        let counter = match reason {
            SealReason::Size => &stats.seals_by_size,
            SealReason::Interval => &stats.seals_by_interval,
            SealReason::Request => &stats.seals_by_request,
            SealReason::Shutdown | SealReason::Recovery => &stats.seals_at_shutdown,
        };
        let sealed: Vec<usize> = listed.iter().map(|(index, _)| *index).collect();
        for ((index, staged), (_, entries)) in listed.into_iter().zip(members) {
            counter.fetch_add(1, Relaxed);
            stats.entries_durable.fetch_add(entries, Relaxed);
            stats.segments_written.fetch_add(staged.segments_written(), Relaxed);
            stats.segment_bytes_written.fetch_add(staged.bytes_written(), Relaxed);
            self.apply(index, staged);
        }
        self.schedule_compaction(sealed);
    }

    /// Commits a group staged for the tracks `indices` (in order; see [`track_store::commit`]).
    /// Returns the staged seals that are listed, with their track, for the caller to count and
    /// [`Writer::apply`]; the rest were abandoned, and the commit's error says why.
    fn commit(&mut self, indices: &[usize], group: Vec<Staged>) -> (Vec<(usize, Staged)>, Result<()>) {
        if !group.is_empty() {
            self.stats.commits.fetch_add(1, Relaxed);
        }
        let (listed, result) = track_store::commit(&self.dir, &group);
        let mut group = group;
        let unlisted = group.split_off(listed.min(group.len()));
        unlisted.into_iter().for_each(Staged::abandon);
        (indices.iter().copied().zip(group).collect(), result)
    }

    /// Hands a committed seal to its track's store.
    fn apply(&mut self, index: usize, staged: Staged) {
        if let Some(store) = self.tracks.get_mut(index).and_then(|t| t.store.as_mut()) {
            store.apply(staged);
        }
    }

    /// Counts `entries` as lost and keeps `error` for the next flush or close to report.
    fn lose(&mut self, entries: u64, error: IngestError) {
        self.stats.entries_lost.fetch_add(entries, Relaxed);
        self.fail(error);
    }

    /// Seals every track, log line and metric point; the result reports the first failure since
    /// the last call (including entries the `drop` policy dropped since then).
    fn seal_all(&mut self, reason: SealReason) -> Result<()> {
        let dropped = self.stats.entries_dropped.load(Relaxed);
        if dropped > self.dropped_reported {
            self.fail(IngestError::Dropped {
                entries: dropped - self.dropped_reported,
            });
            self.dropped_reported = dropped;
        }
        let every: Vec<usize> = (0..self.tracks.len()).collect();
        self.seal(&every, reason);
        if let Err(error) = (self.logs.seal())
            .and_then(|()| self.metrics.seal())
            .and_then(|()| self.files.seal())
        {
            self.fail(error);
        }
        self.reset_wal_if_sealed();
        // Seals nobody waits for (by interval or size) keep their failure for the next flush.
        if matches!(reason, SealReason::Interval | SealReason::Size) {
            return Ok(());
        }
        match self.failure.take() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    fn read(&mut self, topic: u32, query: &ReadQuery) -> Result<Vec<u8>> {
        let writing = self.writing;
        let Some(track) = self.tracks.get_mut(topic as usize) else {
            return Err(IngestError::UnknownId {
                what: "topic",
                id: topic,
            });
        };
        let (range, columns) = ((query.start, query.end), query.columns.as_deref());
        let rows = if writing {
            track.pending.normalize();
            let unsealed = track.pending.range(query.start, query.end);
            Self::store(&self.dir, track)?.select(range, unsealed, columns, query.chart_width)?
        } else {
            track_store::read_snapshot(&self.dir, &track.dir, &track.topic, |store| {
                store.select(range, Table::new(), columns, query.chart_width)
            })?
        };
        Ok(match query.format {
            ReadFormat::Entries => crate::merge::rows::encode_entries(&rows),
            ReadFormat::Columns => crate::merge::rows::encode_columns(&rows),
            ReadFormat::JsonLines => jsonl::write_rows(&rows.merged()).into_bytes(),
            ReadFormat::Parquet => segment::to_bytes(&rows.merged())?,
            ReadFormat::Arrow => crate::storage::arrow_ipc::to_ipc(rows),
        })
    }

    /// Runs `f` on the store of every track on disk: this run's stores where they exist, fresh
    /// ones (the current metadata) otherwise and always for a reader.
    fn for_each_store<T>(&mut self, mut f: impl FnMut(&mut TrackStore) -> Result<T>) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for (dir, topic) in track_store::track_dirs(&self.tracks_dir)? {
            match self.tracks.iter_mut().find(|t| t.dir == dir).filter(|_| self.writing) {
                Some(track) => out.push(f(Self::store(&self.dir, track)?)?),
                None => out.push(f(&mut TrackStore::open(&self.dir, dir, &topic)?)?),
            }
        }
        Ok(out)
    }

    fn list_tracks(&mut self) -> Result<Vec<TrackSummary>> {
        self.for_each_store(|store| store.summary())
    }

    /// Writes the SDK's files of every track (or of `only`). A reader may export only when no
    /// engine writes the experiment: it takes the lock for the export (after repairing what a
    /// crashed writer left), so the files it writes never race a writer's.
    fn export_ml_dash(&mut self, only: Option<&str>) -> Result<()> {
        let _lock = match self.writing {
            true => None,
            false => {
                let lock = crate::durability::lock::lock(
                    &self.dir,
                    "export from the engine that writes it (experiment.exportMlDash()), or after it completes",
                )?;
                Self::recover(&self.dir, &self.config)?;
                Some(lock)
            }
        };
        self.for_each_store(|store| match only {
            Some(topic) if store.topic() != topic => Ok(()),
            _ => store.export_ml_dash(),
        })
        .map(|_| ())
    }
}
