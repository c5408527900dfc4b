/**
 * The napi-rs addon, built from `crates/ingest_napi` (`npm run build:native` in a clone; from the
 * tarball's sources by `scripts/install-native.cjs` where no prebuilt engine exists). Internal.
 */
import type * as Addon from "../native/index.js";
import { dashError } from "./errors.js";

/** The platform name napi-rs gives binaries (`linux-x64-gnu`, …), as the install script names it. */
const { napiTarget } = require("../scripts/install-native.cjs") as { napiTarget(): string };

const PREBUILT = "linux-x64-gnu";

function load(): typeof Addon {
  try {
    return require("../native/index.js") as typeof Addon;
  } catch (error) {
    const platform = napiTarget();
    const what =
      platform === PREBUILT
        ? `its engine for ${platform} (native/dash-ingest.${platform}.node) is missing or does not load`
        : `it has no engine for ${platform} (the package carries a prebuilt one for ${PREBUILT} only)`;
    const failure = dashError(
      "ERR_DASH_NATIVE_MISSING",
      `dash-ingest cannot start: ${what}. To build it from the package's sources, install Rust (https://rustup.rs) and run ` +
        "`npm rebuild dash-ingest` (npm 11 first needs `npm install-scripts approve dash-ingest`); in a clone of the " +
        "repository, `npm run build:native`.",
    );
    throw Object.assign(failure, { cause: error });
  }
}

export const {
  clockSlot,
  commitBatch,
  describeExperiment,
  errorCodes,
  findExperiments,
  NativeEngine,
  remoteFileBytes,
  remoteFiles,
  remoteMetricNames,
  remoteParametersBody,
  remoteRecordBatch,
  remoteTrackBodies,
  remoteTracks,
  segmentRowGroups,
} = load();
export type {
  EngineOptions,
  EngineStats,
  ExperimentInventory,
  FileRecord,
  FileTarget,
  MetricPoints,
  ReadRequest,
  RemoteTrack,
  TrackInfo,
} from "../native/index.js";
export type NativeEngine = Addon.NativeEngine;
