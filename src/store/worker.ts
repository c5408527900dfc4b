/** The publisher's thread (see `background.ts` for the protocol, `job.ts` for the work). */
import { parentPort, workerData } from "node:worker_threads";
import { serveJob } from "../background.js";
import { StoreJob, type StoreTarget } from "./job.js";

const data = workerData as { target: StoreTarget; counters: SharedArrayBuffer };
if (parentPort !== null) void serveJob(parentPort, async () => new StoreJob(data.target, new Float64Array(data.counters)));
