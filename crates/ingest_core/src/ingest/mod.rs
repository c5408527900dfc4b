//! What crosses from JS: the batch format (entries of numbers, typed arrays and tagged
//! values, numeric shapes) and its decoding into entries; and, for a server, track entries as an
//! ML-Dash client sends them, encoded into that format. Knows nothing of tables or files.

pub mod json_batch;
pub mod wire;
