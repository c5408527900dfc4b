//! What survives a crash: the experiment's lock (one writer) and the write-ahead log of accepted
//! batches (written by its own thread, replayed by the next writer; see
//! `engine::writer::Writer::recover`).

pub mod lock;
pub mod wal;
