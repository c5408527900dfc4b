/**
 * Flush on exit: a script that ends (normally, by `process.exit()`, or by an uncaught error)
 * without `complete()` still gets every appended entry written. Only synchronous work can run in
 * an `exit` handler, so each live experiment closes its engine synchronously (bounded wait).
 */
interface Closable {
  closeOnExit(): void;
}

const live = new Set<Closable>();
let installed = false;

function closeAll(): void {
  for (const experiment of live) {
    try {
      experiment.closeOnExit();
    } catch (error) {
      // Nothing can be returned from an exit handler; say what happened instead of hiding it.
      process.stderr.write(`dash-ingest: flushing at exit failed: ${String(error)}\n`);
    }
  }
  live.clear();
}

export function registerForExit(experiment: Closable): void {
  if (!installed) {
    process.on("exit", closeAll);
    installed = true;
  }
  live.add(experiment);
}

let signalsInstalled = false;

/**
 * Opt-in (`flushOnSignals`): on SIGTERM or SIGINT, seal every live experiment, then end the
 * process by the same signal, as it would have ended without the handler.
 */
export function flushOnSignals(): void {
  if (signalsInstalled) return;
  signalsInstalled = true;
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    const handler = () => {
      closeAll();
      process.removeListener(signal, handler);
      process.kill(process.pid, signal);
    };
    process.on(signal, handler);
  }
}

export function unregisterForExit(experiment: Closable): void {
  live.delete(experiment);
}
