#!/usr/bin/env node
// Runs when dash-ingest is installed from its packed tarball (`npm install dash-ingest-*.tgz`).
// The tarball carries one prebuilt engine (linux-x64-gnu). On any other platform this builds the
// engine from the Rust sources in the tarball when cargo is on PATH; without cargo it says what
// to do and leaves the install in place, and importing the package then fails with an error that
// names the platform (src/native.ts). In a clone of the repository `prepare` builds everything
// instead, so this does nothing there.
"use strict";
const { execFileSync, spawnSync } = require("node:child_process");
const { copyFileSync, existsSync, rmSync } = require("node:fs");
const { join } = require("node:path");

const root = join(__dirname, "..");

/** The platform suffix napi-rs names binaries by (`linux-x64-gnu`, `darwin-arm64`, …). */
function napiTarget() {
  const { platform, arch } = process;
  if (platform === "linux") {
    const glibc = process.report?.getReport?.()?.header?.glibcVersionRuntime !== undefined;
    return `linux-${arch}-${glibc ? "gnu" : "musl"}`;
  }
  if (platform === "win32") return `win32-${arch}-msvc`;
  return `${platform}-${arch}`;
}

/** The file cargo builds for a cdylib named `ingest_napi` on this platform. */
function cargoLibrary() {
  if (process.platform === "win32") return "ingest_napi.dll";
  return process.platform === "darwin" ? "libingest_napi.dylib" : "libingest_napi.so";
}

function main() {
  if (existsSync(join(root, ".git")) || existsSync(join(root, "__test__"))) return; // a clone
  const target = napiTarget();
  const binary = join(root, "native", `dash-ingest.${target}.node`);
  if (existsSync(binary)) return;
  const cargo = spawnSync("cargo", ["--version"], { encoding: "utf8" });
  if (cargo.status !== 0) {
    console.warn(
      `dash-ingest: no prebuilt engine for ${target}, and no cargo to build one. Install Rust ` +
        "(https://rustup.rs), then run `npm rebuild dash-ingest`.",
    );
    return;
  }
  console.log(`dash-ingest: no prebuilt engine for ${target}; building it from source (a few minutes)…`);
  const targetDir = join(root, "target");
  execFileSync(
    "cargo",
    ["build", "--release", "--locked", "--manifest-path", join(root, "crates", "ingest_napi", "Cargo.toml"), "--target-dir", targetDir],
    { stdio: "inherit" },
  );
  copyFileSync(join(targetDir, "release", cargoLibrary()), binary);
  rmSync(targetDir, { recursive: true, force: true }); // hundreds of MiB of intermediate files
  console.log(`dash-ingest: built ${binary}`);
}

if (require.main === module) main();

module.exports = { napiTarget };
