//! Replies from the writer thread, awaited on the libuv thread pool and converted to JS values.

use std::time::Duration;

use ingest_core::{IngestError, Pending, TrackSummary};
use napi::bindgen_prelude::Buffer;
use napi::{Env, Task};
use napi_derive::napi;

use crate::error::check;

/// One track as `tracks.list()` reports it.
#[napi(object)]
pub struct TrackInfo {
    pub topic: String,
    pub total_entries: f64,
    pub columns: Vec<String>,
    pub first_timestamp: Option<f64>,
    pub last_timestamp: Option<f64>,
}

impl From<TrackSummary> for TrackInfo {
    fn from(s: TrackSummary) -> Self {
        TrackInfo {
            topic: s.topic,
            // Row counts stay far below 2^53, where f64 is exact.
            #[allow(clippy::cast_precision_loss)]
            total_entries: s.total_entries as f64,
            columns: s.columns,
            first_timestamp: s.first_timestamp,
            last_timestamp: s.last_timestamp,
        }
    }
}

/// Raw JSON lines of metric points and the metric's total.
#[napi(object)]
pub struct MetricPoints {
    pub points: Vec<String>,
    pub total: f64,
}

/// A reply from the writer thread, awaited on the libuv thread pool.
pub struct Wait<T: Send + 'static> {
    pub(crate) pending: Option<Pending<T>>,
    pub(crate) timeout: Duration,
}

impl<T: Send + 'static> Wait<T> {
    fn take(&mut self) -> ingest_core::Result<T> {
        match self.pending.take() {
            Some(pending) => pending.wait(self.timeout),
            None => Err(IngestError::Writer("reply already taken".into())),
        }
    }
}

/// Resolves with nothing once the writer answered.
pub type WaitDone = Wait<()>;

impl Task for Wait<()> {
    type Output = ingest_core::Result<()>;
    type JsValue = ();

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(self.take())
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<()> {
        check(&env, output)
    }
}

impl Task for Wait<Vec<u8>> {
    type Output = ingest_core::Result<Vec<u8>>;
    type JsValue = Buffer;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(self.take())
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<Buffer> {
        check(&env, output).map(Buffer::from)
    }
}

impl Task for Wait<Vec<TrackSummary>> {
    type Output = ingest_core::Result<Vec<TrackSummary>>;
    type JsValue = Vec<TrackInfo>;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(self.take())
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<Vec<TrackInfo>> {
        check(&env, output).map(|tracks| tracks.into_iter().map(TrackInfo::from).collect())
    }
}

/// Resolves with metric points.
pub type WaitPoints = Wait<(Vec<String>, u64)>;

impl Task for WaitPoints {
    type Output = ingest_core::Result<(Vec<String>, u64)>;
    type JsValue = MetricPoints;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(self.take())
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<MetricPoints> {
        // Point counts stay far below 2^53, where f64 is exact.
        #[allow(clippy::cast_precision_loss)]
        check(&env, output).map(|(points, total)| MetricPoints {
            points,
            total: total as f64,
        })
    }
}

/// Resolves with file records as JSON text.
pub type WaitRecords = Wait<Vec<serde_json::Value>>;

impl Task for WaitRecords {
    type Output = ingest_core::Result<Vec<serde_json::Value>>;
    type JsValue = String;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(self.take())
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<String> {
        check(&env, output).map(|records| serde_json::Value::Array(records).to_string())
    }
}
