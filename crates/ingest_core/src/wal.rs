//! The write-ahead log: everything the writer thread accepted into unsealed tables, so a crash
//! (SIGKILL, power loss) loses at most the last few hundred milliseconds instead of everything
//! since the last seal.
//!
//! File `<experiment>/.dash-ingest.wal`: the magic `DASHWAL1`, then records
//! `len u32 | crc32 u32 | kind u32 | count u32 | payload[len]` (little endian; the CRC covers
//! kind, count and payload). Kinds: a topic definition (`id u32` + UTF-8 name), a key (UTF-8
//! name), a shape (`u32` key ids), and a batch of `count` wire entries ([`crate::wire`]).
//!
//! Contracts:
//! - Order: records are logged in the order the writer handles its commands, definitions before
//!   the batches that use them.
//! - Write-out: records are buffered and written to the file at least every
//!   [`WRITE_OUT_INTERVAL`] (and whenever a buffer's worth accumulates), so they survive the
//!   process; a helper thread `fdatasync`s the file every `sync_interval` when it changed, so they
//!   survive the machine. The writer thread never waits for the disk.
//! - Reset: once every track is sealed the log is emptied and the definitions still in use are
//!   logged again. Replaying a log whose rows are already (partly) sealed is harmless, because
//!   rows merge by timestamp: the same row sealed twice is the same row.
//! - Failure: a write that fails (a full disk) stops logging until the next reset, so the file
//!   always holds a consistent prefix; the rows are still sealed as usual.
//! - Torn tails: reading stops at the first incomplete or corrupt record and reports how many
//!   bytes it discarded.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::{IngestError, Result};

pub const WAL_FILE: &str = ".dash-ingest.wal";
/// How often buffered records are handed to the operating system (at the latest).
pub const WRITE_OUT_INTERVAL: Duration = Duration::from_millis(100);

const MAGIC: &[u8; 8] = b"DASHWAL1";
const HEADER_BYTES: usize = 16;
/// Buffered bytes that trigger a write-out before the interval.
const BUFFER_BYTES: usize = 1 << 20;

const KIND_TOPIC: u32 = 1;
const KIND_KEY: u32 = 2;
const KIND_SHAPE: u32 = 3;
const KIND_ENTRIES: u32 = 4;

/// One record read back from a log.
#[derive(Debug, PartialEq)]
pub enum Record<'a> {
    Topic { id: u32, topic: &'a str },
    Key(&'a str),
    Shape(Vec<u32>),
    Entries { batch: &'a [u8], entries: u32 },
}

/// The log being written (owned by the writer thread).
pub struct Wal {
    path: PathBuf,
    file: File,
    buffer: Vec<u8>,
    /// Entries in `buffer`, counted as logged once written out.
    buffered_entries: u64,
    /// File length plus buffered bytes.
    len: u64,
    /// Whether the log holds entries since the last reset.
    has_entries: bool,
    broken: bool,
    dirty: Arc<AtomicBool>,
    syncer: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
}

impl Wal {
    /// Creates (or empties) the log of the experiment directory `dir` and starts its sync thread.
    pub fn create(dir: &Path, sync_interval: Duration) -> Result<Wal> {
        let path = dir.join(WAL_FILE);
        let io = |e| IngestError::io(&path, "nothing (creating the write-ahead log)", e);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .map_err(io)?;
        file.write_all(MAGIC).map_err(io)?;
        let dirty = Arc::new(AtomicBool::new(true));
        let sync_file = file.try_clone().map_err(io)?;
        let syncer = spawn_syncer(sync_file, dirty.clone(), sync_interval)?;
        Ok(Wal {
            path,
            file,
            buffer: Vec::with_capacity(BUFFER_BYTES),
            buffered_entries: 0,
            len: MAGIC.len() as u64,
            has_entries: false,
            broken: false,
            dirty,
            syncer: Some(syncer),
        })
    }

    /// Bytes in the log, written or buffered.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        !self.has_entries
    }

    pub fn topic(&mut self, id: u32, topic: &str) -> Result<u64> {
        let mut payload = Vec::with_capacity(4 + topic.len());
        payload.extend_from_slice(&id.to_le_bytes());
        payload.extend_from_slice(topic.as_bytes());
        self.record(KIND_TOPIC, 0, &payload)
    }

    pub fn key(&mut self, name: &str) -> Result<u64> {
        self.record(KIND_KEY, 0, name.as_bytes())
    }

    pub fn shape(&mut self, keys: &[u32]) -> Result<u64> {
        let payload: Vec<u8> = keys.iter().flat_map(|k| k.to_le_bytes()).collect();
        self.record(KIND_SHAPE, 0, &payload)
    }

    /// Logs a batch; returns how many entries were written out to the file by this call.
    pub fn entries(&mut self, batch: &[u8], entries: u32) -> Result<u64> {
        self.has_entries = true;
        self.buffered_entries += u64::from(entries);
        self.record(KIND_ENTRIES, entries, batch)
    }

    fn record(&mut self, kind: u32, count: u32, payload: &[u8]) -> Result<u64> {
        if self.broken {
            return Ok(0);
        }
        let len = u32::try_from(payload.len()).map_err(|_| IngestError::Malformed {
            offset: 0,
            reason: format!(
                "a record of {} bytes is too large for the write-ahead log",
                payload.len()
            ),
        })?;
        let mut crc = crc32fast::Hasher::new();
        crc.update(&kind.to_le_bytes());
        crc.update(&count.to_le_bytes());
        crc.update(payload);
        for word in [len, crc.finalize(), kind, count] {
            self.buffer.extend_from_slice(&word.to_le_bytes());
        }
        self.buffer.extend_from_slice(payload);
        self.len += (HEADER_BYTES + payload.len()) as u64;
        if self.buffer.len() >= BUFFER_BYTES {
            return self.write_out();
        }
        Ok(0)
    }

    /// Hands buffered records to the operating system; returns how many entries that wrote.
    pub fn write_out(&mut self) -> Result<u64> {
        if self.buffer.is_empty() || self.broken {
            return Ok(0);
        }
        if let Err(e) = self.file.write_all(&self.buffer) {
            // What was written is a consistent prefix (plus perhaps a torn record); stop there.
            self.broken = true;
            self.buffer.clear();
            self.buffered_entries = 0;
            return Err(IngestError::io(
                &self.path,
                "nothing (the write-ahead log stops until everything is sealed)",
                e,
            ));
        }
        self.buffer.clear();
        self.dirty.store(true, Relaxed);
        Ok(std::mem::take(&mut self.buffered_entries))
    }

    /// Empties the log (everything it held is sealed). The caller logs the definitions again.
    pub fn reset(&mut self) -> Result<()> {
        self.buffer.clear();
        self.buffered_entries = 0;
        self.has_entries = false;
        let header = MAGIC.len() as u64;
        let result = self
            .file
            .set_len(header)
            .and_then(|()| self.file.seek(SeekFrom::Start(header)).map(|_| ()));
        self.len = header;
        self.broken = result.is_err();
        result.map_err(|e| IngestError::io(&self.path, "nothing (emptying the write-ahead log)", e))
    }

    /// Stops the sync thread and deletes the log (everything it held is sealed).
    pub fn remove(mut self) -> Result<()> {
        self.stop_syncer();
        std::fs::remove_file(&self.path).map_err(|e| IngestError::io(&self.path, "nothing (cleanup)", e))
    }

    /// Writes out and syncs what is buffered, and stops the sync thread (the log stays, for the
    /// next engine to replay).
    pub fn close(mut self) -> Result<u64> {
        let written = self.write_out()?;
        self.stop_syncer();
        self.file
            .sync_data()
            .map_err(|e| IngestError::io(&self.path, "nothing (syncing the write-ahead log)", e))?;
        Ok(written)
    }

    fn stop_syncer(&mut self) {
        if let Some((stop, thread)) = self.syncer.take() {
            drop(stop);
            let _ = thread.join();
        }
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        self.stop_syncer();
    }
}

/// The thread that `fdatasync`s the log every `interval` when it changed, so the writer thread
/// never waits for the disk. It ends when the sender is dropped.
fn spawn_syncer(file: File, dirty: Arc<AtomicBool>, interval: Duration) -> Result<(mpsc::Sender<()>, JoinHandle<()>)> {
    let (stop, stopped) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("dash-ingest-sync".into())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                if dirty.swap(false, Relaxed) {
                    // A failure here surfaces as a failed write or seal soon after; nothing to add.
                    let _ = file.sync_data();
                }
            }
        })
        .map_err(|e| IngestError::Writer(format!("could not start the log sync thread: {e}")))?;
    Ok((stop, thread))
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
        return Err(IngestError::corrupt(path, "not a dash-ingest write-ahead log"));
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
        KIND_SHAPE if payload.len() % 4 == 0 => Record::Shape(
            payload
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
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

    fn write_sample(dir: &Path) -> Vec<u8> {
        let mut wal = Wal::create(dir, Duration::from_millis(10)).unwrap();
        wal.topic(0, "robot/pos").unwrap();
        wal.key("x").unwrap();
        wal.shape(&[0, 7]).unwrap();
        wal.entries(&[1, 2, 3, 4, 5, 6, 7, 8], 3).unwrap();
        assert_eq!(wal.write_out().unwrap(), 3);
        assert_eq!(wal.len(), std::fs::metadata(dir.join(WAL_FILE)).unwrap().len());
        drop(wal);
        std::fs::read(dir.join(WAL_FILE)).unwrap()
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
                Record::Shape(vec![0, 7]),
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
        let mut wal = Wal::create(&dir, Duration::from_millis(10)).unwrap();
        wal.key("a").unwrap();
        wal.entries(&[0; 16], 1).unwrap();
        wal.write_out().unwrap();
        assert!(!wal.is_empty());
        wal.reset().unwrap();
        assert!(wal.is_empty());
        wal.key("b").unwrap();
        wal.close().unwrap();
        let bytes = std::fs::read(dir.join(WAL_FILE)).unwrap();
        assert_eq!(parse(&dir, &bytes).unwrap().records, vec![Record::Key("b")]);
        std::fs::remove_dir_all(dir).ok();
    }
}
