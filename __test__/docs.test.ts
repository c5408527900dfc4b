/**
 * The documentation works as written: every relative link (and its #anchor) resolves, and the
 * README's example type-checks with the tsconfig the README states and runs.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { tempRoot } from "./helpers.js";

const repo = join(__dirname, "..");
const documents = [
  "README.md",
  ...readdirSync(join(repo, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, "")
    .replace(/ /g, "-");
}

function anchorsOf(markdown: string): Set<string> {
  const withoutCode = markdown.replace(/```[\s\S]*?```/g, "");
  return new Set([...withoutCode.matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchor(m[1] as string)));
}

/** The links of a markdown text outside code blocks: `[text](target)`. */
function linksOf(markdown: string): string[] {
  const withoutCode = markdown.replace(/```[\s\S]*?```/g, "").replace(/`[^`\n]*`/g, "");
  return [...withoutCode.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1] as string);
}

/** The first fenced block of `language` after `heading` in `markdown`. */
function blockAfter(markdown: string, heading: string, language: string): string {
  const rest = markdown.slice(markdown.indexOf(`\n${heading}\n`));
  const fence = "```";
  const match = new RegExp(`${fence}${language}\\n([\\s\\S]*?)${fence}`).exec(rest);
  if (match === null) throw new Error(`no ${language} block after ${heading}`);
  return match[1] as string;
}

describe("documentation", () => {
  it("every relative link and anchor in the README and docs/ resolves", () => {
    const broken: string[] = [];
    let checked = 0;
    for (const document of documents) {
      const text = readFileSync(join(repo, document), "utf8");
      for (const link of linksOf(text)) {
        if (/^[a-z]+:/.test(link)) continue; // https: and the like: not reachable from here
        checked++;
        const [path = "", hash] = link.split("#");
        const target = path === "" ? join(repo, document) : resolve(dirname(join(repo, document)), path);
        if (!existsSync(target)) {
          broken.push(`${document}: ${link} (no such file)`);
        } else if (hash !== undefined && target.endsWith(".md") && !anchorsOf(readFileSync(target, "utf8")).has(hash)) {
          broken.push(`${document}: ${link} (no such heading)`);
        }
      }
    }
    expect(checked).toBeGreaterThan(20);
    expect(broken).toEqual([]);
  });

  it("the README's example type-checks with the stated tsconfig, and runs", () => {
    const readme = readFileSync(join(repo, "README.md"), "utf8");
    const dir = tempRoot();
    mkdirSync(join(dir, "node_modules", "@types"), { recursive: true });
    symlinkSync(repo, join(dir, "node_modules", "dash-ingest"));
    symlinkSync(join(repo, "node_modules", "@types", "node"), join(dir, "node_modules", "@types", "node"));
    writeFileSync(join(dir, "example.mts"), blockAfter(readme, "## Example", "ts"));
    writeFileSync(join(dir, "tsconfig.json"), blockAfter(readme, "## Example", "json"));
    execFileSync(process.execPath, [join(repo, "node_modules", "typescript", "bin", "tsc"), "-p", dir], { encoding: "utf8" });
    const output = execFileSync(process.execPath, [join(dir, "example.mjs")], { cwd: dir, encoding: "utf8" });
    expect(output).toContain("1000 positions recorded");
    const record = JSON.parse(readFileSync(join(dir, ".dash", "robotics", "training", "experiment.json"), "utf8"));
    expect(record).toMatchObject({ status: "COMPLETED", tags: ["mujoco"] });
  });
});
