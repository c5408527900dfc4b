//! dash-ingest engine core: everything but the N-API conversions.
//!
//! Data path: the binding hands wire-encoded batches ([`wire`]) to an [`engine::Engine`], whose
//! writer thread merges entries by timestamp ([`table`]) and seals them into Parquet segments
//! ([`segment`]) under each track's directory ([`track_store`]).

pub mod clock;
pub mod column;
pub mod command;
pub mod config;
pub mod engine;
pub mod error;
pub mod experiment;
pub mod files;
pub mod fsx;
pub mod jsonl;
pub mod paths;
pub mod queue;
pub mod records;
pub mod segment;
pub mod table;
pub mod tagged;
pub mod time;
pub mod track_store;
pub mod value;
pub mod wal;
pub mod wire;
mod writer;

pub use command::{FileContent, Pending, ReadFormat, ReadQuery, SaveFile};
pub use config::{EngineConfig, Overload};
pub use engine::{Committer, Engine, Stats};
pub use error::{IngestError, Result};
pub use track_store::TrackSummary;
