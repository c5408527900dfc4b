/** The uploader's thread (see `background.ts` for the protocol). */
import { parentPort, workerData } from "node:worker_threads";
import { serveJob } from "../background.js";
import { Uploader, type UploadTarget } from "./uploader.js";

const data = workerData as { target: UploadTarget; counters: SharedArrayBuffer };
if (parentPort !== null) void serveJob(parentPort, () => Uploader.create(data.target, new Float64Array(data.counters)));
