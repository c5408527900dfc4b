//! The ml-dash SDK's other records, in its layout and formats: logs, metrics, parameters
//! (`records`), files and images (`files`), and `experiment.json` (`experiment`).

pub mod experiment;
pub mod files;
pub mod records;
