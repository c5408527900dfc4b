//! What is on disk for a track: Parquet segments, the track store (its metadata, group
//! commits, compaction, reader snapshots, the SDK's `data.jsonl`), and the file operations every
//! writer of the engine uses: durable, and confined to the experiment (no symbolic link followed;
//! names checked like user input).

pub mod arrow_ipc;
mod flatbuf;
pub mod fsx;
pub mod jsonl;
pub mod paths;
pub mod segment;
pub mod tagged;
pub mod track_store;
