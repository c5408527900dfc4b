/**
 * The package as a user installs it: `npm pack`, then `npm install <tarball>` into an empty
 * project. It carries what it needs (the prebuilt engine, the compiled API with its types and
 * sources, the Rust sources to build from), works from there, and without an engine for the
 * platform it fails with an error that says so and what to do.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { tempRoot } from "./helpers.js";

const repo = join(__dirname, "..");
const npm = (args: string[], cwd: string) =>
  execFileSync("npm", args, { cwd, encoding: "utf8", env: { ...process.env, npm_config_loglevel: "error" } });

let tarball: string;
let project: string;

beforeAll(() => {
  const dir = tempRoot();
  npm(["pack", "--ignore-scripts", "--pack-destination", dir], repo);
  const [name] = readdirSync(dir).filter((f) => f.endsWith(".tgz"));
  tarball = join(dir, name as string);
  project = join(dir, "project");
  execFileSync("mkdir", [project]);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "user-project", private: true }));
  npm(["install", "--prefer-offline", "--no-audit", "--no-fund", tarball], project);
}, 120_000);

describe("the packed package", () => {
  it("carries the prebuilt engine, the API with its types and sources, and the Rust sources", () => {
    const files = new Set(
      execFileSync("tar", ["tzf", tarball], { encoding: "utf8" })
        .split("\n")
        .filter(Boolean)
        .map((f) => f.replace(/^package\//, "")),
    );
    for (const file of [
      "native/dash-ingest.linux-x64-gnu.node",
      "native/index.js",
      "native/index.d.ts",
      "dist/index.js",
      "dist/index.d.ts",
      "dist/cli.js",
      "src/viewer-page.html",
      "scripts/install-native.cjs",
      "Cargo.toml",
      "Cargo.lock",
      "crates/ingest_core/src/lib.rs",
      "crates/ingest_napi/src/lib.rs",
    ]) {
      expect(files, file).toContain(file);
    }
    // Every source map points at a source the package carries.
    const maps = [...files].filter((f) => f.endsWith(".js.map"));
    expect(maps.length).toBeGreaterThan(5);
    for (const map of maps) {
      const { sources } = JSON.parse(execFileSync("tar", ["xzf", tarball, "-O", `package/${map}`], { encoding: "utf8" }));
      for (const source of sources as string[]) expect(files, `${map} → ${source}`).toContain(join(dirname(map), source));
    }
    expect([...files].some((f) => f.startsWith("__test__/"))).toBe(false);
  });

  it("records and reads back once installed in a project", () => {
    const script = join(project, "use.mjs");
    writeFileSync(
      script,
      `import { Experiment } from "dash-ingest";
const e = await new Experiment("installed/run", { dashRoot: ".dash" }).start();
for (let step = 0; step < 100; step++) e.track("robot/position").append({ step, x: step / 2 });
const { count } = await e.track("robot/position").read();
await e.complete();
console.log(count);
`,
    );
    expect(execFileSync(process.execPath, [script], { cwd: project, encoding: "utf8" }).trim()).toBe("100");
  });

  it("without an engine for the platform: the install says what to do, the import throws ERR_DASH_NATIVE_MISSING", () => {
    const installed = join(project, "node_modules", "dash-ingest");
    rmSync(join(installed, "native", "dash-ingest.linux-x64-gnu.node"));
    // No cargo on PATH: only the directory of node itself.
    const env = { ...process.env, PATH: dirname(process.execPath) };
    const install = spawnSync(process.execPath, [join(installed, "scripts", "install-native.cjs")], { env, encoding: "utf8" });
    expect(install.status).toBe(0);
    expect(install.stderr).toContain("no prebuilt engine for linux-x64-gnu, and no cargo to build one");
    const load = spawnSync(
      process.execPath,
      ["-e", `try { require("dash-ingest") } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }`],
      { cwd: project, encoding: "utf8" },
    );
    const error = JSON.parse(load.stdout);
    expect(error.code).toBe("ERR_DASH_NATIVE_MISSING");
    expect(error.message).toContain("linux-x64-gnu");
    expect(error.message).toContain("npm rebuild dash-ingest");
  });
});
