//! dash-ingest engine core: everything but the N-API conversions, by stage of the pipeline:
//!
//! - [`ingest`]: the batch format that crosses from JS, decoded into entries;
//! - [`merge`]: entries merged by timestamp into tables of packed columns;
//! - [`storage`]: tables sealed into Parquet segments under each track's metadata (group commits,
//!   compaction, reader snapshots), with durable file operations confined to the experiment;
//! - [`durability`]: the experiment's lock and the write-ahead log;
//! - [`sdk`]: the ml-dash SDK's logs, metrics, parameters, files and `experiment.json`;
//! - [`remote`]: the request bodies an ML-Dash server is sent for what the experiment holds;
//! - [`engine`]: the handle the binding holds and the writer thread that runs the stages, in
//!   command order.
//!
//! Shared by all: errors, configuration, values, counters, the bounded queue, time.

pub mod config;
pub mod durability;
pub mod engine;
pub mod error;
pub mod ingest;
pub mod merge;
pub mod queue;
pub mod remote;
pub mod sdk;
pub mod stats;
pub mod storage;
pub mod time;
pub mod value;

pub use config::{EngineConfig, Overload};
pub use engine::command::{FileContent, Pending, ReadFormat, ReadQuery, SaveFile};
pub use engine::{Committer, Engine};
pub use error::{IngestError, Result};
pub use stats::Stats;
pub use storage::track_store::TrackSummary;
