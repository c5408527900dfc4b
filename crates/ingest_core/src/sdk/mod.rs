//! The ml-dash SDK's other records, in its layout and formats: logs, metrics, parameters
//! (`records`), files and images (`files`), and `experiment.json` (`experiment`); and what an
//! experiment directory holds, for the command line (`inventory`).

pub mod experiment;
pub mod files;
pub mod inventory;
pub mod records;
