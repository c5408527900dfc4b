/**
 * The uploader's thread: a worker, so that uploads go on while the JS thread is busy appending
 * (and cost it nothing but a message). Messages in: `wake`, `finish {status, timeoutMs}`, `stop`.
 * Out: `started {refused?, unreachable?}` once the first attempt to open the experiment on the
 * server is answered, then `finished` or `failed {code, message}` after `finish`.
 */
import { parentPort, workerData } from "node:worker_threads";
import { Uploader, type UploadTarget } from "./uploader.js";

interface Data {
  target: UploadTarget;
  counters: SharedArrayBuffer;
}

function failure(error: unknown): { code: string; message: string; status?: number } {
  const { code, message, status } = error as { code?: unknown; message?: unknown; status?: unknown };
  return {
    code: typeof code === "string" ? code : "ERR_DASH_INTERNAL",
    message: typeof message === "string" ? message : String(error),
    ...(typeof status === "number" ? { status } : {}),
  };
}

async function main(port: NonNullable<typeof parentPort>, data: Data): Promise<void> {
  let uploader: Uploader;
  try {
    uploader = await Uploader.create(data.target, new Float64Array(data.counters));
    const first = await uploader.start();
    if (first?.retryable === false) {
      port.postMessage({ type: "started", refused: failure(first) });
      return;
    }
    port.postMessage({ type: "started", ...(first === undefined ? {} : { unreachable: first.message }) });
  } catch (error) {
    port.postMessage({ type: "started", refused: failure(error) });
    return;
  }
  port.on("message", (message: { type: string; status?: string; timeoutMs?: number }) => {
    if (message.type === "wake") uploader.wake();
    else if (message.type === "stop") uploader.stop();
    else if (message.type === "finish") {
      uploader.finish(message.status, message.timeoutMs ?? 0).then(
        () => port.postMessage({ type: "finished" }),
        (error: unknown) => port.postMessage({ type: "failed", error: failure(error) }),
      );
    }
  });
}

if (parentPort !== null) void main(parentPort, workerData as Data);
