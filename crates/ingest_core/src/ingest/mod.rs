//! What crosses from JS: the batch format (entries of numbers, typed arrays and tagged
//! values, numeric shapes) and its decoding into entries. Knows nothing of tables or files.

pub mod wire;
