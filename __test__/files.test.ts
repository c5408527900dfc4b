/** Files and camera frames: saveImage decoded by independent decoders, records as the SDK writes them. */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { globPattern } from "../src/files.js";
import { Experiment, type FileRecord } from "../src/index.js";
import { python, readJson, runsWithPython, tempRoot } from "./helpers.js";

/** A deterministic test picture: gradients plus a block, `channels` per pixel. */
function picture(width: number, height: number, channels: number): Uint8Array {
  const data = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        const block = x > width / 4 && x < width / 2 && y > height / 4 ? 200 : 0;
        data[(y * width + x) * channels + c] = c === 3 ? 255 - ((x * 3) % 256) : (x * 2 + y * (c + 1) + block) % 256;
      }
    }
  }
  return data;
}

/** A smooth picture (what a camera sees more than a test pattern does): gradients only. */
function smoothPicture(width: number, height: number, channels: number): Uint8Array {
  const data = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        data[(y * width + x) * channels + c] = Math.round((x / width) * 180 + (y / height) * 50 + c * 8);
      }
    }
  }
  return data;
}

/** A Uint8Array whose buffer was transferred away (detached). */
function detachedBytes(): Uint8Array {
  const buffer = new ArrayBuffer(12);
  const view = new Uint8Array(buffer);
  structuredClone(buffer, { transfer: [buffer] });
  return view;
}

function stored(root: string, prefix: string, record: FileRecord): Buffer {
  return readFileSync(join(root, prefix, "files", record.path, record.id, record.filename));
}

describe("saveImage", () => {
  it("PNG frames decode exactly, for 1, 3 and 4 channels and float pixels", async () => {
    const root = tempRoot();
    const experiment = await new Experiment("img/png", { dashRoot: root }).start();
    const frames = experiment.files("robot/frames");
    const [width, height] = [64, 48];
    for (const channels of [1, 3, 4])
      frames.saveImage({ data: picture(width, height, channels), width, height, channels }, { to: `c${channels}.png` });
    const floats = Float32Array.from(picture(width, height, 3), (v) => v / 255);
    frames.saveImage({ data: floats, width, height }, { to: "float.png" });
    await experiment.flush();
    const records = await frames.list("*.png");
    expect(records.map((r) => r.filename).sort()).toEqual(["c1.png", "c3.png", "c4.png", "float.png"]);
    for (const record of records) {
      const decoded = PNG.sync.read(stored(root, "img/png", record));
      expect([decoded.width, decoded.height]).toEqual([width, height]);
      const channels = record.filename === "float.png" ? 3 : Number(record.filename[1]);
      const source = picture(width, height, channels);
      // pngjs always returns RGBA; compare each pixel's channels.
      for (let i = 0; i < width * height; i++) {
        for (let c = 0; c < channels; c++) {
          const expected = channels === 1 ? source[i] : source[i * channels + c];
          const actual = channels === 1 ? decoded.data[i * 4] : decoded.data[i * 4 + c];
          if (actual !== expected) throw new Error(`${record.filename}: pixel ${i} channel ${c}: ${actual} != ${expected}`);
        }
      }
    }
    await experiment.complete();
  });

  it("JPEG frames decode to the right size and content (small mean error), quality applies", async () => {
    const root = tempRoot();
    const experiment = await new Experiment("img/jpeg", { dashRoot: root }).start();
    const [width, height] = [640, 480];
    const rgb = smoothPicture(width, height, 3);
    experiment.files("frames").saveImage({ data: rgb, width, height, channels: 3 }, { to: "frame_00000.jpg", quality: 85 });
    experiment.files("frames").saveImage({ data: rgb, width, height, channels: 3 }, { to: "low.jpeg", quality: 10 });
    const rgba = new Uint8ClampedArray(smoothPicture(width, height, 4)); // a canvas ImageData works as is
    experiment.files("frames").saveImage({ data: rgba, width, height }, { to: "canvas.jpg" });
    await experiment.flush();
    const [high, low, canvas] = await Promise.all(
      ["frame_00000.jpg", "low.jpeg", "canvas.jpg"].map((n) => experiment.files("frames").read(n)),
    );
    const meanError = (bytes: Buffer, source: ArrayLike<number>, channels: number) => {
      const decoded = jpeg.decode(bytes, { useTArray: true });
      expect([decoded.width, decoded.height]).toEqual([width, height]);
      let sum = 0;
      for (let i = 0; i < width * height; i++)
        for (let c = 0; c < 3; c++) sum += Math.abs(Number(decoded.data[i * 4 + c]) - Number(source[i * channels + c]));
      return sum / (width * height * 3);
    };
    expect(meanError(high as Buffer, rgb, 3)).toBeLessThan(2);
    // JPEG has no alpha: as the SDK (PIL), RGBA is laid on a white background.
    const onWhite = new Uint8Array(width * height * 3);
    for (let i = 0; i < width * height; i++) {
      const alpha = rgba[i * 4 + 3] as number;
      for (let c = 0; c < 3; c++) onWhite[i * 3 + c] = Math.round(((rgba[i * 4 + c] as number) * alpha + 255 * (255 - alpha)) / 255);
    }
    expect(meanError(canvas as Buffer, onWhite, 3)).toBeLessThan(2);
    expect((low as Buffer).length).toBeLessThan((high as Buffer).length);
    await experiment.complete();
  });

  it("every documented error is a TypeError/RangeError with a code, and nothing is saved", async () => {
    const experiment = await new Experiment("img/errors", { dashRoot: tempRoot() }).start();
    const frames = experiment.files("frames");
    const ok = { data: new Uint8Array(12), width: 2, height: 2, channels: 3 };
    const cases: [() => unknown, string][] = [
      [() => frames.saveImage({ ...ok, width: 3 }, { to: "a.png" }), "ERR_DASH_INVALID_IMAGE"], // size vs data
      [() => frames.saveImage({ ...ok, channels: 4 }, { to: "a.png" }), "ERR_DASH_INVALID_IMAGE"],
      [() => frames.saveImage({ data: new Uint8Array(8), width: 2, height: 2 }, { to: "a.png" }), "ERR_DASH_INVALID_IMAGE"], // 2 channels
      [() => frames.saveImage(ok, { to: "a.gif" }), "ERR_DASH_INVALID_IMAGE"], // unknown extension
      [
        () => frames.saveImage({ data: new Uint8Array(70_000), width: 70_000, height: 1, channels: 1 }, { to: "wide.jpg" }),
        "ERR_DASH_INVALID_IMAGE",
      ],
      [() => frames.saveImage({ ...ok, width: 0 }, { to: "a.png" }), "ERR_DASH_INVALID_IMAGE"],
      [() => frames.saveImage({ ...ok, data: [1, 2, 3] as unknown as Uint8Array }, { to: "a.png" }), "ERR_DASH_INVALID_IMAGE"],
      [() => frames.saveImage(ok, { to: "a.jpg", quality: 0 }), "ERR_DASH_INVALID_ARGUMENT"],
      [() => frames.saveImage(ok, { to: "a.jpg", quality: 101 }), "ERR_DASH_INVALID_ARGUMENT"],
      [() => frames.saveImage(ok, {} as { to: string }), "ERR_DASH_INVALID_ARGUMENT"],
      [() => frames.saveImage(ok, { to: "../../escape.png" }), "ERR_DASH_INVALID_NAME"],
      [() => experiment.files("../up").saveImage(ok, { to: "a.png" }), "ERR_DASH_INVALID_NAME"],
      [() => frames.saveImage({ ...ok, data: detachedBytes() }, { to: "a.png" }), "ERR_DASH_INVALID_IMAGE"],
    ];
    for (const [call, code] of cases) {
      let caught: unknown;
      try {
        call();
      } catch (error) {
        caught = error;
      }
      expect(caught, code).toBeDefined();
      expect((caught as { code: string }).code, String(caught)).toBe(code);
      expect(caught instanceof TypeError || caught instanceof RangeError, String(caught)).toBe(true);
    }
    frames.saveImage(ok, { to: "fine.png" });
    await experiment.flush();
    expect((await frames.list()).map((r) => r.filename)).toEqual(["fine.png"]);
    await experiment.complete();
  });
});

describe("files", () => {
  it("a burst of images (encoded on several threads) and other files is written in call order: the last save of a name wins, records keep call order, list and read wait for encodes", async () => {
    const root = tempRoot();
    const experiment = await new Experiment("img/burst", { dashRoot: root }).start();
    const frames = experiment.files("frames");
    const [width, height] = [320, 240];
    // Frame i is a flat gray of level 10 * i: its stored level tells which save wrote it.
    const gray = (i: number) => new Uint8Array(width * height * 3).fill(10 * i);
    // Large images first and a small one last, so a later encode would finish before an earlier one.
    const sizes = [4, 4, 1];
    for (let i = 0; i < 24; i++) {
      const scale = sizes[i % 3] as number;
      const big = {
        data: new Uint8Array(width * scale * height * scale * 3).fill(10 * i),
        width: width * scale,
        height: height * scale,
        channels: 3,
      };
      frames.saveImage(scale === 1 ? { data: gray(i), width, height, channels: 3 } : big, {
        to: `frame_${i % 6}.${i % 2 ? "png" : "jpg"}`,
      });
      frames.save(`note ${i}`, { to: `note_${i % 4}.txt` });
    }
    const records = await frames.list(); // no flush: the listing waits for every encode before it
    expect(records).toHaveLength(10);
    for (let k = 0; k < 6; k++) {
      const last = 18 + k; // the last i with i % 6 === k
      const bytes = await frames.read(`frame_${k}.${k % 2 ? "png" : "jpg"}`);
      const pixels = k % 2 ? PNG.sync.read(bytes as Buffer).data : jpeg.decode(bytes, { useTArray: true }).data;
      expect(Math.abs((pixels[0] as number) - 10 * last), `frame_${k}`).toBeLessThanOrEqual(2);
    }
    for (let j = 0; j < 4; j++) expect((await frames.read(`note_${j}.txt`)).toString()).toBe(`note ${20 + j}`);
    await experiment.complete();
    // The files' records in the order of their first save, as the SDK appends them.
    const all = readJson(join(root, "img/burst/files/.files_metadata.json")).files as FileRecord[];
    expect(all.map((r) => r.filename)).toEqual([
      "frame_0.jpg",
      "note_0.txt",
      "frame_1.png",
      "note_1.txt",
      "frame_2.jpg",
      "note_2.txt",
      "frame_3.png",
      "note_3.txt",
      "frame_4.jpg",
      "frame_5.png",
    ]);
  });

  it("save/list/read bytes, strings and objects; records carry the SDK's fields; same name replaces", async () => {
    const root = tempRoot();
    const experiment = await new Experiment("files/x", { dashRoot: root }).start();
    const docs = experiment.files("docs");
    docs.save("hello", { to: "notes.txt", metadata: { author: "me" } });
    docs.save({ lr: 0.1, layers: [1, 2] }, { to: "config.json" });
    docs.save(Uint8Array.of(1, 2, 3), { to: "blob.bin" });
    docs.save("hello again", { to: "notes.txt" });
    await experiment.flush();
    const records = await docs.list();
    expect(records.map((r) => r.filename).sort()).toEqual(["blob.bin", "config.json", "notes.txt"]);
    const notes = records.find((r) => r.filename === "notes.txt") as FileRecord;
    expect(notes).toMatchObject({
      experimentId: "x/files/x", // the SDK's "<project>/<prefix>": "files/x" is owner "files", project "x"
      path: "/docs",
      contentType: "text/plain",
      sizeBytes: 11,
      checksum: createHash("sha256").update("hello again").digest("hex"),
      metadata: null,
      deletedAt: null,
      tags: [],
    });
    expect((await docs.read("notes.txt")).toString()).toBe("hello again");
    expect(JSON.parse((await docs.download("config.json")).toString())).toEqual({ lr: 0.1, layers: [1, 2] });
    expect([...(await docs.read("blob.bin"))]).toEqual([1, 2, 3]);
    expect(await docs.list("*.json")).toHaveLength(1);
    await expect(docs.read("missing.txt")).rejects.toMatchObject({ code: "ERR_DASH_NOT_FOUND" });
    // As the SDK's save_json (json.dump, indent=2): NaN as Python writes it.
    docs.save({ v: Number.NaN, w: [] }, { to: "nan.json" });
    expect((await docs.read("nan.json")).toString()).toBe('{\n  "v": NaN,\n  "w": []\n}');
    expect(() => docs.save({ v: () => 1 }, { to: "fn.json" })).toThrow(expect.objectContaining({ code: "ERR_DASH_UNSUPPORTED_VALUE" }));
    await experiment.complete();
    const all = readJson(join(root, "files/x/files/.files_metadata.json")).files as FileRecord[];
    expect(all).toHaveLength(4);
  });
});

describe("file paths as the SDK's", () => {
  it("a directory in `to` joins the path; the root is `/`; list covers subdirectories and matches path and name", async () => {
    const root = tempRoot();
    const experiment = await new Experiment("paths/x", { dashRoot: root }).start();
    experiment.files().save({ lr: 0.1 }, { to: "configs/settings.json" });
    experiment.files().save("top", { to: "top.txt" });
    experiment.files("robot").save("a", { to: "frames/a.txt" });
    experiment.files("robot").save("b", { to: "b.txt" });
    experiment.files("robotics").save("c", { to: "c.txt" });
    await experiment.flush();
    const where = (records: FileRecord[]) => records.map((r) => `${r.path} ${r.filename}`).sort();
    expect(where(await experiment.files().list())).toEqual([
      "/ top.txt",
      "/configs settings.json",
      "/robot b.txt",
      "/robot/frames a.txt",
      "/robotics c.txt",
    ]);
    expect(where(await experiment.files("robot").list())).toEqual(["/robot b.txt", "/robot/frames a.txt"]);
    expect(where(await experiment.files().list("robot/*"))).toEqual(["/robot b.txt", "/robot/frames a.txt"]);
    expect(where(await experiment.files().list("[st]*.???*"))).toEqual(["/ top.txt", "/configs settings.json"]);
    expect((await experiment.files().read("robot/frames/a.txt")).toString()).toBe("a");
    expect((await experiment.files("robot").read("frames/a.txt")).toString()).toBe("a");
    expect(
      readFileSync(join(root, "paths/x/files/configs", (await experiment.files("configs").list())[0]?.id ?? "", "settings.json"), "utf8"),
    ).toBe('{\n  "lr": 0.1\n}');
    for (const to of ["../x.txt", "a/../../x.txt", "a//b.txt", "dir/", "/"]) {
      expect(() => experiment.files().save("x", { to }), to).toThrow(expect.objectContaining({ code: "ERR_DASH_INVALID_NAME" }));
    }
    await experiment.complete();
  });

  it.runIf(runsWithPython("json"))("globs match as Python's fnmatch matches them (seeded random patterns and names)", () => {
    const alphabet = ["a", "b", "/", ".", "*", "?", "[", "]", "!", "-", "^", "\\", "é"];
    const text = (max: number) => fc.array(fc.constantFrom(...alphabet), { maxLength: max }).map((cs) => cs.join(""));
    const cases = fc.sample(fc.tuple(text(6), text(5)), { seed: 20261201, numRuns: 3000 });
    const script = "import fnmatch, json, sys\nprint(json.dumps([fnmatch.fnmatchcase(n, p) for p, n in json.load(sys.stdin)]))";
    const expected = JSON.parse(execFileSync(python, ["-c", script], { input: JSON.stringify(cases) }).toString()) as boolean[];
    const mismatches = cases.filter(([pattern, name], i) => globPattern(pattern).test(name) !== expected[i]);
    expect(mismatches.slice(0, 5)).toEqual([]);
  });
});

describe.runIf(runsWithPython("ml_dash"))("file records match the Python SDK's", () => {
  it("float images become the SDK's pixels: values up to 1 times 255, others min-max scaled, truncated", async () => {
    const [width, height, channels] = [7, 5, 3];
    const count = width * height * channels;
    const images: [string, number[], "float32" | "float64"][] = [
      ["unit32.png", Array.from({ length: count }, (_, i) => ((i * 37) % 101) / 100), "float32"],
      ["unit64.png", Array.from({ length: count }, (_, i) => ((i * 53) % 97) / 96), "float64"],
      ["wide32.png", Array.from({ length: count }, (_, i) => ((i * 29) % 89) / 7 - 3), "float32"],
      ["wide64.png", Array.from({ length: count }, (_, i) => ((i * 31) % 83) * 1.7 + 0.3), "float64"],
    ];
    const root = tempRoot();
    const spec = images.map(([name, values, dtype]) => [name, width, height, channels, dtype, values]);
    execFileSync(python, [join(__dirname, "python", "sdk_images.py"), root, "img/sdk", JSON.stringify(spec)], { timeout: 120_000 });
    await new Experiment("img/ours", { dashRoot: root }).run((experiment) => {
      for (const [name, values, dtype] of images) {
        const data = dtype === "float32" ? Float32Array.from(values) : Float64Array.from(values);
        experiment.files("frames").saveImage({ data, width, height, channels }, { to: name });
      }
    });
    const pixels = async (prefix: string, name: string) => {
      const experiment = await Experiment.open(prefix, { dashRoot: root });
      const png = PNG.sync.read(await experiment.files("frames").read(name));
      await experiment.close();
      return [...png.data];
    };
    for (const [name] of images) expect(await pixels("img/ours", name), name).toEqual(await pixels("img/sdk", name));
  });

  // (Not `.h5`: Python's own table has it, Debian's /etc/mime.types, which both read, does not.)
  it("content types are what Python's mimetypes gives, as the SDK records them", async () => {
    const names = [
      "a.mp4",
      "a.gif",
      "a.pdf",
      "a.zip",
      "a.svg",
      "a.svgz",
      "a.wav",
      "a.mp3",
      "a.py",
      "a.tar.gz",
      "a.tgz",
      "a.json.gz",
      "a.txt",
      "a.jpg",
      "A.JPG",
      "a.png",
      "a.csv",
      "a.npy",
      "a.pt",
      "a.pkl",
      "a.yaml",
      "a.md",
      "a.html",
      "a.webp",
      "a.parquet",
      "a.webm",
      "a.tif",
      "Makefile",
      ".bashrc",
      "a.b.c",
      "a.gz",
      "a.tar.bz2",
      "notes.TXT",
    ];
    const script =
      "import json, mimetypes, sys\nprint(json.dumps([mimetypes.guess_type(n)[0] or 'application/octet-stream' for n in json.load(sys.stdin)]))";
    const expected = JSON.parse(execFileSync(python, ["-c", script], { input: JSON.stringify(names), encoding: "utf8" })) as string[];
    const experiment = await new Experiment("files/types", { dashRoot: tempRoot() }).start();
    for (const name of names) experiment.files("t").save("x", { to: name });
    await experiment.flush();
    const records = await experiment.files("t").list();
    const byName = new Map(records.map((r) => [r.filename, r.contentType]));
    expect(names.map((n) => byName.get(n))).toEqual(expected);
    await experiment.complete();
  });

  it("same fields, path, experimentId shape, content types and checksums", async () => {
    const root = tempRoot();
    // The same value for both: JSON text (with Python's NaN) for the SDK, the object for us.
    const configText =
      '{"model": "r\u00e9snet", "lr": 0.001, "layers": [64, 128, {"k": []}], "empty": {}, "nested": {"a": [1.5, NaN], "b": null, "t": true}}';
    const config = {
      model: "résnet",
      lr: 0.001,
      layers: [64, 128, { k: [] }],
      empty: {},
      nested: { a: [1.5, Number.NaN], b: null, t: true },
    };
    execFileSync(python, [join(__dirname, "python", "sdk_files.py"), root, "alice/proj/sdk", configText], { timeout: 120_000 });
    await new Experiment("alice/proj/ours", { dashRoot: root }).run((e) => {
      e.files("docs").save("hello", { to: "notes.txt" });
      e.files("docs").save(Buffer.from("\x89PNG\r\n\x1a\n", "latin1"), { to: "frame.png" });
      e.files("docs").save(config, { to: "config.json" });
    });
    // The SDK saves files from background threads, so its record order varies: compare by name.
    const byName = (a: Record<string, unknown>, b: Record<string, unknown>) => String(a.filename).localeCompare(String(b.filename));
    const sdk = (readJson(join(root, "alice/proj/sdk/files/.files_metadata.json")).files as Record<string, unknown>[]).sort(byName);
    const ours = (readJson(join(root, "alice/proj/ours/files/.files_metadata.json")).files as Record<string, unknown>[]).sort(byName);
    const comparable = (r: Record<string, unknown>) => {
      const { id, uploadedAt, updatedAt, experimentId, ...rest } = r;
      return { ...rest, idIsDigits: /^\d+$/.test(String(id)), experimentId: String(experimentId).replace(/sdk|ours/, "run") };
    };
    expect(ours.map((r) => Object.keys(r).sort())).toEqual(sdk.map((r) => Object.keys(r).sort()));
    expect(ours.map(comparable)).toEqual(sdk.map(comparable));
    // save(object) writes the bytes save_json writes (json.dump, indent=2): same size and checksum.
    const stored = (prefix: string) => {
      const record = (readJson(join(root, prefix, "files/.files_metadata.json")).files as Record<string, unknown>[]).find(
        (r) => r.filename === "config.json",
      ) as Record<string, unknown>;
      return readFileSync(join(root, prefix, "files/docs", String(record.id), "config.json"), "utf8");
    };
    expect(stored("alice/proj/ours")).toBe(stored("alice/proj/sdk"));
  });
});
