/** Work shorter than this shows no progress (`DASH_INGEST_PROGRESS_DELAY_MS` overrides it). */
const DEFAULT_DELAY_MS = 300;

/**
 * A progress line on a terminal for work that takes a while (finishing an experiment with a large
 * backlog). Quiet when stderr is not a TTY, and for work that ends within the delay.
 */
export function showProgress(label: string, read: () => { done: number; total: number }): () => void {
  const configured = Number(process.env.DASH_INGEST_PROGRESS_DELAY_MS);
  const delayMs = Number.isFinite(configured) && configured >= 0 ? configured : DEFAULT_DELAY_MS;
  const stream = process.stderr;
  if (!stream.isTTY) return () => undefined;
  let shown = false;
  const draw = () => {
    const { done, total } = read();
    const fraction = total > 0 ? Math.min(1, done / total) : 1;
    const width = 30;
    const filled = Math.round(fraction * width);
    stream.write(
      `\r${label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done.toLocaleString("en-US")}/${total.toLocaleString("en-US")}`,
    );
    shown = true;
  };
  const timer = setInterval(draw, 200);
  const start = setTimeout(draw, delayMs);
  timer.unref();
  start.unref();
  return () => {
    clearInterval(timer);
    clearTimeout(start);
    if (shown) {
      draw();
      stream.write("\n");
    }
  };
}
