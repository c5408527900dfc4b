/** The napi-rs addon, built from `crates/ingest_napi` by `npm run build:native`. Internal. */
export { clockSlot, commitBatch, describeExperiment, errorCodes, findExperiments, NativeEngine } from "../native/index.js";
export type { EngineOptions, EngineStats, ExperimentInventory, FileRecord, FileTarget, MetricPoints, TrackInfo } from "../native/index.js";
