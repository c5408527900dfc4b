/**
 * The uploader's thread: a worker, so that uploads go on while the JS thread is busy appending
 * (and cost it nothing but a message). Out first: `started {refused?, unreachable?}` once the
 * first attempt to open the experiment on the server is answered (id 0). Then requests, each
 * answered with its `id`: `wake` (after a flush: counts what is pending, and looks for it now)
 * answered `counted`; `finish {status, timeoutMs}` answered `finished` or `failed {error}`.
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
      port.postMessage({ id: 0, type: "started", refused: failure(first) });
      return;
    }
    port.postMessage({ id: 0, type: "started", ...(first === undefined ? {} : { unreachable: first.message }) });
  } catch (error) {
    port.postMessage({ id: 0, type: "started", refused: failure(error) });
    return;
  }
  port.on("message", (message: { id: number; type: string; status?: string; timeoutMs?: number }) => {
    const { id } = message;
    if (message.type === "wake") {
      try {
        uploader.count();
        port.postMessage({ id, type: "counted" });
      } catch (error) {
        port.postMessage({ id, type: "failed", error: failure(error) });
      }
      uploader.wake();
    } else if (message.type === "finish") {
      uploader.finish(message.status, message.timeoutMs ?? 0).then(
        () => port.postMessage({ id, type: "finished" }),
        (error: unknown) => port.postMessage({ id, type: "failed", error: failure(error) }),
      );
    }
  });
}

if (parentPort !== null) void main(parentPort, workerData as Data);
