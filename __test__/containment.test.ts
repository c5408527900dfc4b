/**
 * Nothing is written or read outside `dashRoot`: symbolic links planted inside an experiment are
 * never followed, and paths read back from metadata files are checked like user input. After each
 * refusal the engine keeps working.
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Experiment } from "../src/index.js";
import { startViewer } from "../src/viewer.js";
import { tempRoot } from "./helpers.js";

/** A root with a started experiment `p/x`, and a directory and a file outside the root. */
async function setup(): Promise<{ root: string; dir: string; outside: string; victim: string }> {
  const base = tempRoot();
  const root = join(base, "dash");
  const outside = join(base, "outside");
  mkdirSync(outside);
  const victim = join(base, "victim.txt");
  writeFileSync(victim, "precious");
  await new Experiment("p/x", { dashRoot: root }).run(() => {});
  return { root, dir: join(root, "p/x"), outside, victim };
}

/** The engine still records and reads a track after a refusal. */
async function stillWorks(experiment: Experiment): Promise<void> {
  experiment.track("ok").append({ v: 1 }, 1);
  await experiment.flush();
  expect((await experiment.track("ok").read()).count).toBe(1);
}

describe("symbolic links inside an experiment are never followed for writing", () => {
  it("tracks/ as a link: the seal is refused, nothing lands outside", async () => {
    const { root, dir, outside } = await setup();
    symlinkSync(outside, join(dir, "tracks"));
    const experiment = await new Experiment("p/x", { dashRoot: root }).start();
    experiment.track("t").append({ v: 1 }, 1);
    await expect(experiment.flush()).rejects.toMatchObject({ code: "ERR_DASH_UNSAFE_PATH" });
    expect(readdirSync(outside)).toEqual([]);
    await experiment.complete();
  });

  it("a track directory as a link: recovery and seals leave the target alone", async () => {
    const { root, dir, outside } = await setup();
    // Files that recovery would remove if it followed the link.
    writeFileSync(join(outside, "metadata.json"), JSON.stringify({ topic: "t", segments: [] }));
    writeFileSync(join(outside, "seg-00000001.parquet"), "not ours");
    writeFileSync(join(outside, "x.tmp"), "not ours");
    mkdirSync(join(dir, "tracks"));
    symlinkSync(outside, join(dir, "tracks", "t"));
    const experiment = await new Experiment("p/x", { dashRoot: root }).start();
    experiment.track("t").append({ v: 1 }, 1);
    await expect(experiment.flush()).rejects.toMatchObject({ code: "ERR_DASH_UNSAFE_PATH" });
    expect(readdirSync(outside).sort()).toEqual(["metadata.json", "seg-00000001.parquet", "x.tmp"]);
    await stillWorks(experiment);
    await experiment.complete();
  });

  it("files/ as a link: saved files and frames do not land outside", async () => {
    const { root, dir, outside } = await setup();
    rmSync(join(dir, "files"), { recursive: true }); // made at start, as the SDK does
    symlinkSync(outside, join(dir, "files"));
    const experiment = await new Experiment("p/x", { dashRoot: root }).start();
    experiment.files("robot").save("hello", { to: "a.txt" });
    experiment.files("robot").saveImage({ data: new Uint8Array(4 * 4 * 3), width: 4, height: 4 }, { to: "f.png" });
    await expect(experiment.flush()).rejects.toMatchObject({ code: "ERR_DASH_UNSAFE_PATH" });
    expect(readdirSync(outside)).toEqual([]);
    await stillWorks(experiment);
    await experiment.complete();
  });

  it("a new experiment whose logs/ is a planted link: start() is refused, nothing is made outside", async () => {
    const base = tempRoot();
    const root = join(base, "dash");
    const outside = join(base, "outside");
    mkdirSync(outside);
    mkdirSync(join(root, "p/new"), { recursive: true });
    symlinkSync(outside, join(root, "p/new/logs"));
    await expect(new Experiment("p/new", { dashRoot: root }).start()).rejects.toMatchObject({ code: "ERR_DASH_UNSAFE_PATH" });
    expect(readdirSync(outside)).toEqual([]);
    // The refused start released the experiment: once the link is gone, it starts.
    rmSync(join(root, "p/new/logs"));
    await new Experiment("p/new", { dashRoot: root }).run((experiment) => experiment.log("fine"));
  });

  it("logs/logs.jsonl and a metric's data.jsonl as links to a victim file: the victim is untouched", async () => {
    const { root, dir, victim } = await setup();
    mkdirSync(join(dir, "logs"), { recursive: true });
    symlinkSync(victim, join(dir, "logs", "logs.jsonl"));
    mkdirSync(join(dir, "metrics", "m"), { recursive: true });
    symlinkSync(victim, join(dir, "metrics", "m", "data.jsonl"));
    const experiment = await new Experiment("p/x", { dashRoot: root }).start();
    experiment.log("hello");
    await expect(experiment.flush()).rejects.toMatchObject({ code: "ERR_DASH_UNSAFE_PATH" });
    experiment.metrics("m").log({ v: 1 });
    await expect(experiment.flush()).rejects.toMatchObject({ code: "ERR_DASH_UNSAFE_PATH" });
    expect(readFileSync(victim, "utf8")).toBe("precious");
    await stillWorks(experiment);
    await experiment.complete();
  });

  it("a temporary file name as a link (experiment.json.tmp): the link is replaced, the victim untouched", async () => {
    const { root, dir, victim } = await setup();
    symlinkSync(victim, join(dir, "experiment.json.tmp"));
    const experiment = await new Experiment("p/x", { dashRoot: root }).start();
    await stillWorks(experiment);
    await experiment.complete();
    expect(readFileSync(victim, "utf8")).toBe("precious");
    expect(lstatSync(join(dir, "experiment.json")).isFile()).toBe(true);
    expect((JSON.parse(readFileSync(join(dir, "experiment.json"), "utf8")) as { status: string }).status).toBe("COMPLETED");
  });

  it("a prefix through a link inside dashRoot is refused at start", async () => {
    const { root, outside } = await setup();
    symlinkSync(outside, join(root, "linked"));
    await expect(new Experiment("linked/x", { dashRoot: root }).start()).rejects.toMatchObject({ code: "ERR_DASH_UNSAFE_PATH" });
    expect(readdirSync(outside)).toEqual([]);
  });
});

describe("paths read back from metadata are validated like user input", () => {
  it("a crafted file record cannot read outside the experiment", async () => {
    const { root, dir, victim } = await setup();
    await new Experiment("p/x", { dashRoot: root }).run((e) => {
      e.files("").save("real", { to: "real.txt" });
    });
    const metadataPath = join(dir, "files", ".files_metadata.json");
    const doc = JSON.parse(readFileSync(metadataPath, "utf8")) as { files: Record<string, unknown>[] };
    const record = doc.files[0] as Record<string, unknown>;
    // From files/<id>/ up to the directory holding dashRoot, where the victim is.
    const outside = "../../../../../victim.txt";
    doc.files.push({ ...record, filename: outside }); // the real file's directory, so the path resolves
    doc.files.push({ ...record, id: "../..", filename: "victim.txt" });
    doc.files.push({ ...record, id: "2", path: "/../../..", filename: "victim.txt" });
    writeFileSync(metadataPath, JSON.stringify(doc));
    // Whoever opens the experiment next reads the crafted records: a writer or a reader.
    const experiment = await new Experiment("p/x", { dashRoot: root }).start();
    await expect(experiment.files("").read(outside)).rejects.toMatchObject({ code: "ERR_DASH_INVALID_NAME" });
    await expect(experiment.files("").read("victim.txt")).rejects.toMatchObject({ code: "ERR_DASH_CORRUPT" });
    await expect(experiment.files("../../..").read("victim.txt")).rejects.toMatchObject({ code: "ERR_DASH_INVALID_NAME" });
    expect((await experiment.files("").read("real.txt")).toString()).toBe("real");
    await experiment.complete();

    // The viewer's file endpoint goes through the same checks.
    const viewer = await startViewer("p/x", root);
    try {
      for (const [query, status] of [
        [`prefix=&name=${encodeURIComponent(outside)}`, 400],
        ["prefix=&name=victim.txt", 500],
        [`prefix=${encodeURIComponent("../../..")}&name=victim.txt`, 400],
      ] as const) {
        const response = await fetch(`${viewer.url}file?${query}`);
        const body = await response.text();
        expect(response.status, query).toBe(status);
        expect(body).not.toContain("precious");
      }
      expect(await (await fetch(`${viewer.url}file?prefix=&name=real.txt`)).text()).toBe("real");
    } finally {
      await viewer.close();
    }

    // A file's directory replaced by a link: reading through it is refused too.
    const reader = await Experiment.open("p/x", { dashRoot: root });
    const stored = join(dir, "files", String(record.id));
    const { renameSync } = await import("node:fs");
    renameSync(stored, `${stored}.moved`);
    symlinkSync(join(victim, ".."), stored);
    await expect(reader.files("").read("real.txt")).rejects.toMatchObject({ code: "ERR_DASH_UNSAFE_PATH" });
    await reader.close();
    expect(existsSync(victim)).toBe(true);
  });

  it("a crafted segment name in a track's metadata is corrupt, not a path", async () => {
    const { root, dir } = await setup();
    await new Experiment("p/x", { dashRoot: root }).run((e) => {
      e.track("t").append({ v: 1 }, 1);
    });
    const metaPath = join(dir, "tracks", "t", "metadata.json");
    const meta = JSON.parse(readFileSync(metaPath, "utf8")) as { segments: { file: string }[] };
    (meta.segments[0] as { file: string }).file = "../../../../victim.parquet";
    writeFileSync(metaPath, JSON.stringify(meta));
    const reader = await Experiment.open("p/x", { dashRoot: root });
    await expect(reader.track("t").read()).rejects.toMatchObject({ code: "ERR_DASH_CORRUPT" });
    await reader.close();
  });
});
