//! The uploader's reads of an experiment directory (`ingest_core::remote`): what to send an
//! ML-Dash server, as request bodies built off the JS thread (the bodies on the libuv pool).

use std::path::{Path, PathBuf};

use ingest_core::remote::{self, Records};
use ingest_core::sdk::files::Files;
use napi::bindgen_prelude::{AsyncTask, Buffer};
use napi::{Env, Task};
use napi_derive::napi;

use crate::error::check;
use crate::tasks::FileRecord;

#[napi(object)]
pub struct RemoteSegment {
    pub file: String,
    pub rows: f64,
    /// The segments compaction merged into this one, if it made it.
    pub compacted_from: Vec<String>,
}

/// A track and its sealed segments (each immutable under its name).
#[napi(object)]
pub struct RemoteTrack {
    pub topic: String,
    pub dir_name: String,
    pub segments: Vec<RemoteSegment>,
}

/// Every track of the experiment directory `dir` with its segments (blocking; reads metadata).
#[napi(catch_unwind)]
pub fn remote_tracks(env: Env, dir: String) -> napi::Result<Vec<RemoteTrack>> {
    let tracks = check(&env, remote::track_segments(Path::new(&dir)))?;
    // Row counts stay far below 2^53, where f64 is exact.
    #[allow(clippy::cast_precision_loss)]
    Ok(tracks
        .into_iter()
        .map(|t| RemoteTrack {
            topic: t.topic,
            dir_name: t.dir_name,
            segments: t
                .segments
                .into_iter()
                .map(|s| RemoteSegment {
                    file: s.file,
                    rows: s.rows as f64,
                    compacted_from: s.compacted_from,
                })
                .collect(),
        })
        .collect())
}

/// The metrics of the experiment directory `dir` (blocking; lists directories).
#[napi(catch_unwind)]
pub fn remote_metric_names(env: Env, dir: String) -> napi::Result<Vec<String>> {
    check(&env, remote::metric_names(Path::new(&dir)))
}

/// The live files' records of the experiment directory `dir` (blocking; reads one file).
#[napi(catch_unwind)]
pub fn remote_files(env: Env, dir: String) -> napi::Result<Vec<FileRecord>> {
    let records = check(&env, Files::new(Path::new(&dir)).list())?;
    Ok(records.iter().map(FileRecord::from).collect())
}

/// The parameters request's body, `null` when none were set (blocking; reads one file).
#[napi(catch_unwind)]
pub fn remote_parameters_body(env: Env, dir: String) -> napi::Result<Option<Buffer>> {
    let body = check(&env, remote::parameters_body(Path::new(&dir)))?;
    Ok(body.map(|text| Buffer::from(text.into_bytes())))
}

/// Runs `work` on the libuv thread pool.
pub struct Blocking<T: Send + 'static> {
    work: Option<Box<dyn FnOnce() -> ingest_core::Result<T> + Send>>,
}

impl<T: Send + 'static> Blocking<T>
where
    Blocking<T>: Task,
{
    fn new(work: impl FnOnce() -> ingest_core::Result<T> + Send + 'static) -> AsyncTask<Self> {
        AsyncTask::new(Blocking {
            work: Some(Box::new(work)),
        })
    }
}

impl<T: Send + 'static> Blocking<T> {
    fn run(&mut self) -> ingest_core::Result<T> {
        match self.work.take() {
            Some(work) => work(),
            None => Err(ingest_core::IngestError::Internal {
                what: "a blocking task",
                reason: "it ran twice".into(),
            }),
        }
    }
}

/// One `append_batch` body and the entries in it.
#[napi(object)]
pub struct TrackBody {
    pub body: Buffer,
    pub entries: u32,
}

impl Task for Blocking<Vec<(String, usize)>> {
    type Output = ingest_core::Result<Vec<(String, usize)>>;
    type JsValue = Vec<TrackBody>;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(self.run())
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<Vec<TrackBody>> {
        Ok(check(&env, output)?
            .into_iter()
            .map(|(body, entries)| TrackBody {
                body: Buffer::from(body.into_bytes()),
                entries: u32::try_from(entries).unwrap_or(u32::MAX),
            })
            .collect())
    }
}

/// The rows of one segment as `append_batch` bodies of at most `maxRows` entries; rejects with
/// `ERR_DASH_NOT_FOUND` when the segment was replaced since it was listed.
#[napi(ts_return_type = "Promise<TrackBody[]>")]
pub fn remote_track_bodies(
    dir: String,
    dir_name: String,
    file: String,
    max_rows: u32,
) -> AsyncTask<Blocking<Vec<(String, usize)>>> {
    Blocking::new(move || remote::track_bodies(Path::new(&dir), &dir_name, &file, max_rows as usize))
}

/// The next lines of a records file as one request body (see `ingest_core::remote::RecordBatch`).
#[napi(object)]
pub struct RecordBatch {
    pub body: Option<Buffer>,
    pub next_offset: f64,
    pub lines: u32,
    pub unreadable: u32,
}

impl Task for Blocking<remote::RecordBatch> {
    type Output = ingest_core::Result<remote::RecordBatch>;
    type JsValue = RecordBatch;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(self.run())
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<RecordBatch> {
        let batch = check(&env, output)?;
        // Offsets stay far below 2^53, where f64 is exact.
        #[allow(clippy::cast_precision_loss)]
        Ok(RecordBatch {
            body: batch.body.map(|body| Buffer::from(body.into_bytes())),
            next_offset: batch.next_offset as f64,
            lines: batch.lines,
            unreadable: batch.unreadable,
        })
    }
}

/// Up to `maxLines` log lines (`metric` absent) or points of `metric`, from byte `offset`.
#[napi(ts_return_type = "Promise<RecordBatch>")]
pub fn remote_record_batch(
    dir: String,
    metric: Option<String>,
    offset: f64,
    max_lines: u32,
) -> AsyncTask<Blocking<remote::RecordBatch>> {
    let records = metric.map_or(Records::Logs, Records::Metric);
    // Offsets are non-negative integers the previous batch returned.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let offset = offset.max(0.0) as u64;
    Blocking::new(move || remote::record_batch(Path::new(&dir), &records, offset, max_lines))
}

impl Task for Blocking<Vec<u8>> {
    type Output = ingest_core::Result<Vec<u8>>;
    type JsValue = Buffer;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(self.run())
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<Buffer> {
        check(&env, output).map(Buffer::from)
    }
}

/// The bytes of the file recorded under `id` in the experiment directory `dir`.
#[napi(ts_return_type = "Promise<Buffer>")]
pub fn remote_file_bytes(dir: String, id: String) -> AsyncTask<Blocking<Vec<u8>>> {
    Blocking::new(move || Files::new(&PathBuf::from(dir)).read_by_id(&id))
}
