//! The write-ahead log: everything the writer thread accepted into unsealed tables, so a crash
//! (SIGKILL, power loss) loses at most the last moments instead of everything since the last seal.
//!
//! File `<experiment>/.dash-ingest.wal`: the magic `DASHWAL2` (the version of the wire format of its
//! batches), then records
//! `len u32 | crc32 u32 | kind u32 | count u32 | payload[len]` (little endian; the CRC covers
//! kind, count and payload). Kinds: a topic definition (`id u32` + UTF-8 name), a key (UTF-8
//! name), a shape (`u32` key ids, then one `u8` slot code per key), and a batch of `count` wire
//! entries ([`crate::ingest::wire`]).
//!
//! Contracts:
//! - Threads: the writer thread hands records to the log's own thread (`dash-ingest-wal`) through
//!   a byte-bounded queue; that thread writes them to the file as they come (so they survive the
//!   process within milliseconds) and `fdatasync`s it every `sync_interval` when it changed (so
//!   they survive the machine). The writer thread never waits for the disk, only for queue room.
//! - Order: records are logged in the order the writer handles its commands, definitions before
//!   the batches that use them.
//! - Reset: once every track is sealed the log is emptied and the definitions still in use are
//!   logged again. Replaying a log whose rows are already (partly) sealed is harmless, because
//!   rows merge by timestamp: the same row sealed twice is the same row.
//! - Failure: a write that fails (a full disk), or a record the queue could not take in time,
//!   stops logging until the next reset, so the file always holds a consistent prefix; the rows
//!   are still sealed as usual. Failures are counted in `Stats::wal_failures`.
//! - Torn tails: reading stops at the first incomplete or corrupt record and reports how many
//!   bytes it discarded.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{IngestError, Result};
use crate::ingest::wire::Shape;
use crate::queue::ByteQueue;
use crate::stats::{BufferPool, Stats};

pub const WAL_FILE: &str = ".dash-ingest.wal";

const MAGIC: &[u8; 8] = b"DASHWAL2";
const HEADER_BYTES: usize = 16;
/// The log thread writes at least this often when records keep coming.
const WRITE_BYTES: usize = 1 << 20;

const KIND_TOPIC: u32 = 1;
const KIND_KEY: u32 = 2;
const KIND_SHAPE: u32 = 3;
const KIND_ENTRIES: u32 = 4;

/// One record read back from a log.
#[derive(Debug, PartialEq)]
pub enum Record<'a> {
    Topic { id: u32, topic: &'a str },
    Key(&'a str),
    Shape(Shape),
    Entries { batch: &'a [u8], entries: u32 },
}

/// What the writer thread sends the log thread.
enum Message {
    Record {
        kind: u32,
        count: u32,
        payload: Vec<u8>,
        /// A batch buffer, given back to the pool once written.
        batch: bool,
    },
    /// A record could not be queued: stop logging until the next reset.
    Gap,
    /// Everything logged so far is sealed: empty the file.
    Reset,
    /// The last message: delete the file (everything is sealed) or keep it for a replay.
    Finish { remove: bool },
    /// Answer once every record queued before is written to the file (to the OS: it survives a
    /// crash of the process), or with `NotLogged` if the log failed first.
    Barrier(mpsc::SyncSender<Result<()>>),
}

/// Settings of a log.
pub struct WalConfig {
    pub sync_interval: Duration,
    /// Bound on records queued for the log thread.
    pub max_queue_bytes: usize,
    /// How long the writer waits for queue room before giving up logging (until the next reset).
    pub queue_timeout: Duration,
}

/// The writer thread's handle on the log.
pub struct Wal {
    queue: Arc<ByteQueue<Message>>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<Stats>,
    queue_timeout: Duration,
    /// Bytes logged since the last reset (counted when queued).
    len: u64,
    has_entries: bool,
    /// Whether records reach the file: false from a failure (here or in the log thread) until
    /// the next reset empties the log.
    logging: Arc<AtomicBool>,
}

impl Wal {
    /// Creates (or empties) the log of the experiment directory `dir` and starts its thread.
    /// Batch buffers go back to `buffers` once written; `stats` counts what was logged.
    pub(crate) fn create(dir: &Path, config: &WalConfig, buffers: Arc<BufferPool>, stats: Arc<Stats>) -> Result<Wal> {
        let path = dir.join(WAL_FILE);
        let io = |e| IngestError::io(&path, "nothing (creating the write-ahead log)", e);
        let mut file = crate::storage::fsx::open_within(
            dir,
            &path,
            OpenOptions::new().create(true).truncate(true).write(true),
            "nothing (creating the write-ahead log)",
        )?;
        file.write_all(MAGIC).map_err(io)?;
        let queue = Arc::new(ByteQueue::new(config.max_queue_bytes));
        let logging = Arc::new(AtomicBool::new(true));
        let log = LogThread {
            file,
            path,
            queue: queue.clone(),
            buffers,
            stats: stats.clone(),
            sync_interval: config.sync_interval,
            out: Vec::with_capacity(WRITE_BYTES),
            out_entries: 0,
            broken: false,
            logging: logging.clone(),
            dirty: true,
        };
        let thread = std::thread::Builder::new()
            .name("dash-ingest-wal".into())
            .spawn(move || log.run())
            .map_err(|source| IngestError::ThreadStart {
                thread: "write-ahead log",
                source,
            })?;
        Ok(Wal {
            queue,
            thread: Some(thread),
            stats,
            queue_timeout: config.queue_timeout,
            len: MAGIC.len() as u64,
            has_entries: false,
            logging,
        })
    }

    /// Bytes logged since the last reset.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether no entries were logged since the last reset.
    pub fn is_empty(&self) -> bool {
        !self.has_entries
    }

    pub fn topic(&mut self, id: u32, topic: &str) {
        let mut payload = Vec::with_capacity(4 + topic.len());
        payload.extend_from_slice(&id.to_le_bytes());
        payload.extend_from_slice(topic.as_bytes());
        self.send(KIND_TOPIC, 0, payload, false);
    }

    pub fn key(&mut self, name: &str) {
        self.send(KIND_KEY, 0, name.as_bytes().to_vec(), false);
    }

    pub fn shape(&mut self, shape: &Shape) {
        let (keys, slots) = shape.codes();
        let mut payload: Vec<u8> = keys.iter().flat_map(|k| k.to_le_bytes()).collect();
        payload.extend_from_slice(&slots);
        self.send(KIND_SHAPE, 0, payload, false);
    }

    /// Logs a batch of `entries` wire entries; the buffer goes back to the pool once written.
    pub fn entries(&mut self, batch: Vec<u8>, entries: u32) {
        self.has_entries = true;
        self.send(KIND_ENTRIES, entries, batch, true);
    }

    fn send(&mut self, kind: u32, count: u32, payload: Vec<u8>, batch: bool) {
        let size = payload.len();
        self.len += (HEADER_BYTES + size) as u64;
        let message = Message::Record {
            kind,
            count,
            payload,
            batch,
        };
        if self.queue.push(message, size.max(1), self.queue_timeout).is_err() {
            // The log thread is far behind (or gone): a hole in the log would make a replay wrong,
            // so logging stops here until the next reset.
            self.stats.wal_failures.fetch_add(1, Relaxed);
            self.logging.store(false, Relaxed);
            let _ = self.queue.push(Message::Gap, 0, Duration::ZERO);
        }
    }

    /// Whether records reach the file (no failure since the last reset).
    pub fn is_logging(&self) -> bool {
        self.logging.load(Relaxed)
    }

    /// Has `reply` answered once every record queued before it is written to the file (or with
    /// `NotLogged` if the log fails first). It takes no room in the queue; only a stopped log
    /// drops it, which its waiter sees as a stopped writer.
    pub fn barrier(&mut self, reply: mpsc::SyncSender<Result<()>>) {
        let _ = self.queue.push(Message::Barrier(reply), 0, Duration::ZERO);
    }

    /// Empties the log (everything it held is sealed). The caller logs the definitions again.
    pub fn reset(&mut self) {
        self.len = MAGIC.len() as u64;
        self.has_entries = false;
        let _ = self.queue.push(Message::Reset, 0, Duration::ZERO);
    }

    /// Stops the log thread, deleting the file if `remove` (everything is sealed), else keeping
    /// it, written and synced, for the next engine to replay.
    pub fn finish(mut self, remove: bool) {
        self.stop(remove);
    }

    fn stop(&mut self, remove: bool) {
        let _ = self.queue.push_last(Message::Finish { remove });
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Wal {
    /// Without `finish`, the log is kept: a replay of sealed rows is harmless, a lost log is not.
    fn drop(&mut self) {
        self.stop(false);
    }
}

/// The log thread's state.
struct LogThread {
    file: File,
    path: PathBuf,
    queue: Arc<ByteQueue<Message>>,
    buffers: Arc<BufferPool>,
    stats: Arc<Stats>,
    sync_interval: Duration,
    /// Records not yet written, and their entries.
    out: Vec<u8>,
    out_entries: u64,
    broken: bool,
    /// `!broken`, for the writer thread (see [`Wal::is_logging`]).
    logging: Arc<AtomicBool>,
    /// Written since the last sync.
    dirty: bool,
}

impl LogThread {
    fn run(mut self) {
        let mut synced = Instant::now();
        loop {
            let deadline = if self.dirty {
                synced + self.sync_interval
            } else {
                Instant::now() + Duration::from_secs(1)
            };
            // Everything queued is taken at once and written with one call.
            let mut next = self.queue.pop(deadline);
            while let Some(message) = next {
                if let Some(remove) = self.handle(message) {
                    self.finish(remove);
                    return;
                }
                if self.out.len() >= WRITE_BYTES {
                    self.write_out();
                }
                next = self.queue.pop(Instant::now());
            }
            self.write_out();
            if self.dirty && synced.elapsed() >= self.sync_interval {
                // After a failed sync the kernel may have dropped the dirty pages (marked clean),
                // so what follows could sit on a hole: logging stops until the next seal resets
                // the log, like after a failed write.
                if self.file.sync_data().is_err() {
                    self.set_broken(true);
                    self.stats.wal_failures.fetch_add(1, Relaxed);
                }
                self.dirty = false;
                synced = Instant::now();
            }
        }
    }

    /// Handles one message; `Some(remove)` for `Finish`.
    fn handle(&mut self, message: Message) -> Option<bool> {
        match message {
            Message::Record {
                kind,
                count,
                payload,
                batch,
            } => {
                if !self.broken {
                    append_record(&mut self.out, kind, count, &payload);
                    self.out_entries += u64::from(count);
                }
                if batch {
                    self.buffers.give(payload);
                }
            }
            Message::Gap => {
                self.write_out();
                self.set_broken(true);
            }
            Message::Reset => {
                // What was not written yet is sealed: as safe as logged.
                self.stats.entries_logged.fetch_add(self.out_entries, Relaxed);
                self.out.clear();
                self.out_entries = 0;
                let header = MAGIC.len() as u64;
                let emptied = self
                    .file
                    .set_len(header)
                    .and_then(|()| self.file.seek(SeekFrom::Start(header)).map(|_| ()));
                self.set_broken(emptied.is_err());
                if self.broken {
                    self.stats.wal_failures.fetch_add(1, Relaxed);
                }
            }
            Message::Barrier(reply) => {
                self.write_out();
                let _ = reply.send(if self.broken {
                    Err(IngestError::NotLogged)
                } else {
                    Ok(())
                });
            }
            Message::Finish { remove } => return Some(remove),
        }
        None
    }

    fn set_broken(&mut self, broken: bool) {
        self.broken = broken;
        self.logging.store(!broken, Relaxed);
    }

    fn write_out(&mut self) {
        if self.out.is_empty() || self.broken {
            return;
        }
        if self.file.write_all(&self.out).is_err() {
            // What was written is a consistent prefix (plus perhaps a torn record); stop there.
            self.set_broken(true);
            self.stats.wal_failures.fetch_add(1, Relaxed);
        } else {
            self.stats.entries_logged.fetch_add(self.out_entries, Relaxed);
            self.dirty = true;
        }
        self.out.clear();
        self.out_entries = 0;
    }

    fn finish(mut self, remove: bool) {
        if remove {
            if std::fs::remove_file(&self.path).is_err() {
                self.stats.wal_failures.fetch_add(1, Relaxed);
            }
            return;
        }
        self.write_out();
        if self.file.sync_data().is_err() {
            self.stats.wal_failures.fetch_add(1, Relaxed);
        }
    }
}

fn append_record(out: &mut Vec<u8>, kind: u32, count: u32, payload: &[u8]) {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let mut crc = crc32fast::Hasher::new();
    crc.update(&kind.to_le_bytes());
    crc.update(&count.to_le_bytes());
    crc.update(payload);
    for word in [len, crc.finalize(), kind, count] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    out.extend_from_slice(payload);
}

/// A log read back: its records, and the bytes discarded after the last complete one.
#[derive(Debug, Default)]
pub struct Contents<'a> {
    pub records: Vec<Record<'a>>,
    pub discarded_bytes: u64,
}

/// Reads the log file of `dir`, if there is one.
pub fn read_file(dir: &Path) -> Result<Option<Vec<u8>>> {
    let path = dir.join(WAL_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(IngestError::io(&path, "nothing (reading the write-ahead log)", e)),
    }
}

/// Parses a log. A file cut short before its magic is empty (a crash while creating it); any other
/// file without the magic is not a log of this engine (`Corrupt`).
pub fn parse<'a>(path: &Path, bytes: &'a [u8]) -> Result<Contents<'a>> {
    if bytes.len() < MAGIC.len() && MAGIC.starts_with(bytes) {
        return Ok(Contents::default());
    }
    let Some(mut rest) = bytes.strip_prefix(MAGIC.as_slice()) else {
        return Err(IngestError::corrupt(
            path,
            "not a write-ahead log of this version of dash-ingest",
        ));
    };
    let mut records = Vec::new();
    while let Some((record, tail)) = next_record(rest) {
        records.push(record);
        rest = tail;
    }
    Ok(Contents {
        records,
        discarded_bytes: rest.len() as u64,
    })
}

fn word(bytes: &[u8], at: usize) -> Option<u32> {
    let slice = bytes.get(at..at + 4)?;
    Some(u32::from_le_bytes(slice.try_into().ok()?))
}

/// The record at the start of `bytes` and what follows it; `None` if it is incomplete, fails its
/// CRC or does not decode.
fn next_record(bytes: &[u8]) -> Option<(Record<'_>, &[u8])> {
    let len = usize::try_from(word(bytes, 0)?).ok()?;
    let (crc, kind, count) = (word(bytes, 4)?, word(bytes, 8)?, word(bytes, 12)?);
    let payload = bytes.get(HEADER_BYTES..HEADER_BYTES.checked_add(len)?)?;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&kind.to_le_bytes());
    hasher.update(&count.to_le_bytes());
    hasher.update(payload);
    if hasher.finalize() != crc {
        return None;
    }
    let record = match kind {
        KIND_TOPIC => Record::Topic {
            id: word(payload, 0)?,
            topic: std::str::from_utf8(payload.get(4..)?).ok()?,
        },
        KIND_KEY => Record::Key(std::str::from_utf8(payload).ok()?),
        KIND_SHAPE if payload.len() % 5 == 0 => {
            let (keys, slots) = payload.split_at(payload.len() / 5 * 4);
            let keys: Vec<u32> = keys
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            Record::Shape(Shape::from_codes(&keys, slots).ok()?)
        }
        KIND_ENTRIES => Record::Entries {
            batch: payload,
            entries: count,
        },
        _ => return None,
    };
    Some((record, &bytes[HEADER_BYTES + len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dash-wal-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn create(dir: &Path) -> (Wal, Arc<Stats>) {
        let stats = Arc::new(Stats::default());
        let config = WalConfig {
            sync_interval: Duration::from_millis(10),
            max_queue_bytes: 1 << 20,
            queue_timeout: Duration::from_secs(10),
        };
        let wal = Wal::create(dir, &config, Arc::new(BufferPool::new(1 << 20)), stats.clone()).unwrap();
        (wal, stats)
    }

    fn write_sample(dir: &Path) -> Vec<u8> {
        let (mut wal, stats) = create(dir);
        wal.topic(0, "robot/pos");
        wal.key("x");
        wal.shape(&Shape::from_codes(&[0, 7], &[255, 7]).unwrap());
        wal.entries(vec![1, 2, 3, 4, 5, 6, 7, 8], 3);
        let len = wal.len();
        wal.finish(false);
        assert_eq!(stats.entries_logged.load(Relaxed), 3);
        let bytes = std::fs::read(dir.join(WAL_FILE)).unwrap();
        assert_eq!(len, bytes.len() as u64);
        bytes
    }

    #[test]
    fn records_read_back_in_order() {
        let dir = temp_dir("order");
        let bytes = write_sample(&dir);
        let contents = parse(&dir, &bytes).unwrap();
        assert_eq!(
            contents.records,
            vec![
                Record::Topic {
                    id: 0,
                    topic: "robot/pos"
                },
                Record::Key("x"),
                Record::Shape(Shape::from_codes(&[0, 7], &[255, 7]).unwrap()),
                Record::Entries {
                    batch: &[1, 2, 3, 4, 5, 6, 7, 8],
                    entries: 3
                },
            ]
        );
        assert_eq!(contents.discarded_bytes, 0);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn every_torn_or_corrupted_tail_keeps_the_records_before_it() {
        let dir = temp_dir("torn");
        let bytes = write_sample(&dir);
        let whole = parse(&dir, &bytes).unwrap().records.len();
        for cut in 0..bytes.len() {
            let contents = parse(&dir, &bytes[..cut]).unwrap();
            assert!(contents.records.len() < whole, "cut at {cut}");
            assert!(contents.discarded_bytes <= cut as u64);
        }
        for flip in MAGIC.len()..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[flip] ^= 0x40;
            let contents = parse(&dir, &damaged).unwrap();
            assert!(contents.records.len() < whole, "flip at {flip}");
            assert!(contents.discarded_bytes > 0);
        }
        assert_eq!(parse(&dir, b"PAR1 not a log").unwrap_err().code(), "ERR_DASH_CORRUPT");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn reset_empties_the_log_and_logging_resumes() {
        let dir = temp_dir("reset");
        let (mut wal, stats) = create(&dir);
        wal.key("a");
        wal.entries(vec![0; 16], 1);
        assert!(!wal.is_empty());
        wal.reset();
        assert!(wal.is_empty());
        wal.key("b");
        wal.finish(false);
        assert_eq!(stats.entries_logged.load(Relaxed), 1);
        let bytes = std::fs::read(dir.join(WAL_FILE)).unwrap();
        assert_eq!(parse(&dir, &bytes).unwrap().records, vec![Record::Key("b")]);
        let (wal, _) = create(&dir);
        wal.finish(true);
        assert!(!dir.join(WAL_FILE).exists());
        std::fs::remove_dir_all(dir).ok();
    }
}
