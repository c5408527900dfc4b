//! Saved files in call order, with images encoded off the writer thread.
//!
//! Contracts:
//! - Order: files are written in the order their `SaveFile` commands arrived, whatever order
//!   their encodes finish in (a file waits for the images queued before it).
//! - Threads: images are encoded by one `dash-ingest-enc` thread per core (at most
//!   [`MAX_ENCODERS`]), started at the first image and joined when this is dropped, so frames use
//!   the cores the JS thread leaves idle. Each finished encode wakes the writer through its queue
//!   (a control item).
//! - Memory: at most two images per encoder thread are in flight; past that, a new image waits
//!   for the oldest (the writer stops taking commands, so the engine's queue bound applies).
//! - Completion: [`PendingFiles::wait_all`] returns once every file queued before is written
//!   (flushes, file listings and reads, shutdown call it).

use std::collections::VecDeque;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::engine::command::{Command, FileContent, SaveFile};
use crate::error::{IngestError, Result};
use crate::queue::ByteQueue;
use crate::sdk::files::{Files, Image, ImageFormat};

/// The most encoder threads, whatever the core count.
const MAX_ENCODERS: usize = 4;
/// Images in flight per encoder thread.
const IN_FLIGHT_PER_ENCODER: usize = 2;

/// A file waiting to be written, and its bytes: ready (or failed), or still being encoded.
struct Pending {
    file: SaveFile,
    bytes: Bytes,
}

enum Bytes {
    Ready(Result<Vec<u8>>),
    Encoding(mpsc::Receiver<Result<Vec<u8>>>),
}

struct Job {
    image: Image,
    format: ImageFormat,
    done: mpsc::SyncSender<Result<Vec<u8>>>,
}

struct Encoders {
    jobs: mpsc::Sender<Job>,
    threads: Vec<JoinHandle<()>>,
}

pub(super) struct PendingFiles {
    queue: Arc<ByteQueue<Command>>,
    pending: VecDeque<Pending>,
    encoders: Option<Encoders>,
    /// Encoder threads to start (one per core, at most MAX_ENCODERS).
    encoder_count: usize,
}

impl PendingFiles {
    pub(super) fn new(queue: Arc<ByteQueue<Command>>) -> PendingFiles {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        PendingFiles {
            queue,
            pending: VecDeque::new(),
            encoders: None,
            encoder_count: cores.clamp(1, MAX_ENCODERS),
        }
    }

    /// Queues `file` behind the files queued before; an image starts encoding at once (after
    /// waiting for the oldest images while too many are in flight). Then writes the files whose
    /// turn has come into `files`, their failures going to `fail`.
    pub(super) fn add(&mut self, mut file: SaveFile, files: &mut Files, failure: &mut Option<IngestError>) {
        let bytes = match std::mem::replace(&mut file.content, FileContent::Bytes(Vec::new())) {
            FileContent::Bytes(bytes) => Bytes::Ready(Ok(bytes)),
            FileContent::Image(image, format) => {
                while self.encoding() >= self.encoder_count * IN_FLIGHT_PER_ENCODER {
                    self.write_oldest(files, failure);
                }
                Bytes::Encoding(self.encode(image, format))
            }
        };
        self.pending.push_back(Pending { file, bytes });
        self.write_ready(files, failure);
    }

    /// Writes the files at the front whose bytes are ready (never waits).
    pub(super) fn write_ready(&mut self, files: &mut Files, failure: &mut Option<IngestError>) {
        while let Some(front) = self.pending.front_mut() {
            if let Bytes::Encoding(receiver) = &front.bytes {
                front.bytes = match receiver.try_recv() {
                    Ok(result) => Bytes::Ready(result),
                    Err(mpsc::TryRecvError::Empty) => return,
                    Err(mpsc::TryRecvError::Disconnected) => Bytes::Ready(Err(IngestError::WriterStopped)),
                };
            }
            self.write_front(files, failure);
        }
    }

    /// Writes every queued file, waiting for their encodes.
    pub(super) fn wait_all(&mut self, files: &mut Files, failure: &mut Option<IngestError>) {
        while !self.pending.is_empty() {
            self.write_oldest(files, failure);
        }
    }

    fn encoding(&self) -> usize {
        self.pending
            .iter()
            .filter(|p| matches!(p.bytes, Bytes::Encoding(_)))
            .count()
    }

    /// Waits for the oldest queued file's bytes and writes it.
    fn write_oldest(&mut self, files: &mut Files, failure: &mut Option<IngestError>) {
        if let Some(front) = self.pending.front_mut() {
            if let Bytes::Encoding(receiver) = &front.bytes {
                front.bytes = Bytes::Ready(receiver.recv().unwrap_or(Err(IngestError::WriterStopped)));
            }
            self.write_front(files, failure);
        }
    }

    /// Writes the front file, whose bytes are ready.
    fn write_front(&mut self, files: &mut Files, failure: &mut Option<IngestError>) {
        let Some(Pending { file, bytes }) = self.pending.pop_front() else {
            return;
        };
        let written = match bytes {
            Bytes::Ready(bytes) => {
                bytes.and_then(|b| files.save(&file.experiment_id, &file.prefix, &file.filename, &b, file.metadata))
            }
            Bytes::Encoding(_) => Err(IngestError::WriterStopped),
        };
        if let Err(error) = written {
            // The first failure is the one the next flush reports.
            failure.get_or_insert(error);
        }
    }

    fn encode(&mut self, image: Image, format: ImageFormat) -> mpsc::Receiver<Result<Vec<u8>>> {
        let (done, encoded) = mpsc::sync_channel(1);
        let encoders = self
            .encoders
            .get_or_insert_with(|| start(self.encoder_count, &self.queue));
        let job = Job { image, format, done };
        let job = match encoders.threads.is_empty() {
            true => job,
            false => match encoders.jobs.send(job) {
                Ok(()) => return encoded,
                Err(mpsc::SendError(job)) => job,
            },
        };
        // No encoder thread could start: encode here.
        let _ = job.done.send(job.image.encode(job.format));
        encoded
    }
}

impl Drop for PendingFiles {
    fn drop(&mut self) {
        if let Some(Encoders { jobs, threads }) = self.encoders.take() {
            drop(jobs);
            for thread in threads {
                let _ = thread.join();
            }
        }
    }
}

/// Starts `count` encoder threads taking jobs from one channel; each finished encode wakes the
/// writer with a control item on `queue`.
fn start(count: usize, queue: &Arc<ByteQueue<Command>>) -> Encoders {
    let (jobs, receiver) = mpsc::channel::<Job>();
    let receiver = Arc::new(Mutex::new(receiver));
    let threads = (0..count)
        .filter_map(|_| {
            let receiver = Arc::clone(&receiver);
            let queue = Arc::clone(queue);
            std::thread::Builder::new()
                .name("dash-ingest-enc".into())
                .spawn(move || loop {
                    let job = match receiver.lock() {
                        Ok(jobs) => jobs.recv(),
                        Err(_) => return,
                    };
                    // The writer dropped the sender: done.
                    let Ok(Job { image, format, done }) = job else {
                        return;
                    };
                    let _ = done.send(image.encode(format));
                    // A control item (never refused for room); a closed queue means the writer is
                    // shutting down and waits for its files itself.
                    let _ = queue.push(Command::FileEncoded, 0, Duration::ZERO);
                })
                .ok()
        })
        .collect();
    Encoders { jobs, threads }
}
