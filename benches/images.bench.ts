/**
 * Camera frames: `files(prefix).saveImage` of 640×480 RGB at JPEG quality 85, frames per second
 * (first call → durable) and time spent on the JS thread per call, beside sharp (libvips) encoding
 * the same frames and writing them, in the same run.
 *
 *   npm run bench:images             # 300 frames
 *   npm run bench:images -- --quick  # 40 frames
 *
 * Results go to benches/results/images.json.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { Experiment } from "../src/index.js";

const quick = process.argv.includes("--quick");
const FRAMES = quick ? 40 : 300;
const [WIDTH, HEIGHT] = [640, 480];

/** Frames with smooth gradients, a moving block and mild noise, like a rendered scene. */
function frames(): Uint8Array[] {
  let seed = 1;
  const noise = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return (seed % 7) - 3;
  };
  return Array.from({ length: 8 }, (_, f) => {
    const data = new Uint8Array(WIDTH * HEIGHT * 3);
    for (let y = 0; y < HEIGHT; y++) {
      for (let x = 0; x < WIDTH; x++) {
        const block = Math.abs(x - 100 - f * 50) < 40 && Math.abs(y - 240) < 40 ? 120 : 0;
        for (let c = 0; c < 3; c++)
          data[(y * WIDTH + x) * 3 + c] = Math.max(0, Math.min(255, (x >> 2) + (y >> 3) + c * 20 + block + noise()));
      }
    }
    return data;
  });
}

interface Result {
  writer: string;
  framesPerSecond: number;
  jsThreadMsPerFrame: number;
}

/**
 * `saveImage` for every frame. Flat out, the writer thread's encoding is the bound and a call waits
 * for queue room (backpressure); paced at `fps`, a call only copies the pixels.
 */
async function dashIngest(pictures: Uint8Array[], fps?: number): Promise<Result> {
  const root = mkdtempSync(join(tmpdir(), "dash-images-"));
  const count = fps === undefined ? FRAMES : Math.min(FRAMES, 60);
  try {
    const experiment = await new Experiment("bench/images", { dashRoot: root }).start();
    const files = experiment.files("frames");
    let onThread = 0;
    const start = performance.now();
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      files.saveImage(
        { data: pictures[i % pictures.length] as Uint8Array, width: WIDTH, height: HEIGHT },
        { to: `frame_${i}.jpg`, quality: 85 },
      );
      onThread += performance.now() - t0;
      if (fps !== undefined) await new Promise((resolve) => setTimeout(resolve, 1000 / fps));
    }
    await experiment.complete();
    const seconds = (performance.now() - start) / 1000;
    const writer = fps === undefined ? "dash-ingest saveImage, flat out" : `dash-ingest saveImage, paced at ${fps} fps`;
    return { writer, framesPerSecond: count / seconds, jsThreadMsPerFrame: onThread / count };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

async function sharpFrames(pictures: Uint8Array[]): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), "sharp-images-"));
  try {
    let onThread = 0;
    const pending: Promise<void>[] = [];
    const start = performance.now();
    for (let i = 0; i < FRAMES; i++) {
      const t0 = performance.now();
      const work = sharp(pictures[i % pictures.length] as Uint8Array, { raw: { width: WIDTH, height: HEIGHT, channels: 3 } })
        .jpeg({ quality: 85 })
        .toBuffer()
        .then((jpeg) => writeFile(join(dir, `frame_${i}.jpg`), jpeg, { flush: true }));
      onThread += performance.now() - t0;
      pending.push(work);
    }
    await Promise.all(pending);
    const seconds = (performance.now() - start) / 1000;
    return {
      writer: "sharp (libvips) + fs, all frames in flight",
      framesPerSecond: FRAMES / seconds,
      jsThreadMsPerFrame: onThread / FRAMES,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const machine = `${cpus().length} x ${cpus()[0]?.model ?? "cpu"}, Node ${process.version}, sharp ${sharp.versions.sharp}`;
  const pictures = frames();
  await dashIngest(pictures.slice(0, 2)); // warm up both
  await sharpFrames(pictures.slice(0, 2));
  const results = [await dashIngest(pictures), await dashIngest(pictures, 100), await sharpFrames(pictures)];
  console.log(`${FRAMES} frames of ${WIDTH}x${HEIGHT} RGB, JPEG quality 85 (${machine}):`);
  console.log("| writer | frames/s (first call → durable) | JS-thread ms per frame |");
  console.log("|---|---:|---:|");
  for (const r of results) console.log(`| ${r.writer} | ${r.framesPerSecond.toFixed(1)} | ${r.jsThreadMsPerFrame.toFixed(3)} |`);
  writeFileSync(
    join(__dirname, "results", `images${quick ? "-quick" : ""}.json`),
    `${JSON.stringify({ date: new Date().toISOString(), machine, frames: FRAMES, results }, null, 2)}\n`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
