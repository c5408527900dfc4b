/**
 * dash-ingest: the ml-dash Track API over a Rust engine that writes Parquet segments.
 *
 * ```ts
 * import { Experiment } from "dash-ingest";
 * await new Experiment("robotics/training").run(async (experiment) => {
 *   experiment.track("robot/position").append({ step: 0, x: 0.1, y: 0.2, z: 0.3 });
 * });
 * ```
 */
export { Experiment } from "./experiment.js";
export type { ExperimentOptions, ExperimentStats, ExperimentStatus, Tracks, TrackSummary, Stats, UploadStats } from "./experiment.js";
export { TrackBuilder } from "./track.js";
export type { AppendOptions, MocapResult, ReadFormat, ReadOptions, ReadOutput, ReadResult, TrackData } from "./track.js";
export { TrackSlice } from "./slice.js";
export { MetricBuilder } from "./records.js";
export { FilesBuilder } from "./files.js";
export type { FileRecord, ImageInput, SaveImageOptions, SaveOptions } from "./files.js";
export type { LogLevel, LogOptions, Logs, MetricReadResult, Params } from "./records.js";
export type { TypedArray } from "./wire.js";
export type { ColumnValues, Entry, FieldValue, TrackColumns } from "./rows.js";
export type { EngineTuning } from "./config.js";
export { ERROR_CODES } from "./errors.js";
export type { DashError, DashErrorCode } from "./errors.js";
