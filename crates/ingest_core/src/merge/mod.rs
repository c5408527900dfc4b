//! Merging: entries become rows of a table, merged by timestamp (union of fields, last
//! write wins), in columns that keep numbers and typed arrays packed; and tables become the rows a
//! JS reader decodes.

pub mod column;
pub mod downsample;
pub mod parts;
pub mod rows;
pub mod table;
