#!/usr/bin/env node
/**
 * The `dash-ingest` command line.
 *
 *   dash-ingest export <experiment> --format ml-dash [--dash-root .dash]
 */
import { parseArgs } from "node:util";
import { Experiment } from "./experiment.js";

const HELP = `Usage: dash-ingest <command> [options]

Commands:
  export <experiment> --format ml-dash   write every track's ml-dash data.jsonl (a snapshot the
                                         Python ml-dash SDK reads), e.g.
                                         dash-ingest export robotics/complete-tracking --format ml-dash

Options:
  --dash-root <dir>   root of the experiments (default: $ML_DASH_ROOT or .dash)
  -h, --help          show this help
`;

class UsageError extends Error {}

async function exportCommand(positionals: string[], format: string | undefined, dashRoot: string | undefined): Promise<void> {
  const [prefix, ...extra] = positionals;
  if (prefix === undefined || extra.length > 0) throw new UsageError("export takes exactly one experiment prefix");
  if (format !== "ml-dash") throw new UsageError(`export: unsupported --format ${JSON.stringify(format ?? "")}; supported: ml-dash`);
  const experiment = await Experiment.open(prefix, dashRoot === undefined ? {} : { dashRoot });
  try {
    await experiment.exportMlDash();
    const tracks = await experiment.tracks.list();
    for (const track of tracks) {
      console.log(`${track.topic}: ${track.totalEntries} entries → ${experiment.dir}/tracks/${track.topic.replaceAll("/", "_")}/data.jsonl`);
    }
    console.log(`exported ${tracks.length} track(s) of ${prefix}`);
  } finally {
    await experiment.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      format: { type: "string" },
      "dash-root": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || command === undefined) {
    process.stdout.write(HELP);
    return command === undefined && !values.help ? 2 : 0;
  }
  switch (command) {
    case "export":
      await exportCommand(rest, values.format, values["dash-root"]);
      return 0;
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const usage = error instanceof UsageError || (error as { code?: string }).code === "ERR_PARSE_ARGS_UNKNOWN_OPTION";
    const code = (error as { code?: string }).code;
    process.stderr.write(`dash-ingest: ${(error as Error).message}${code && !usage ? ` (${code})` : ""}\n`);
    if (usage) process.stderr.write("Run dash-ingest --help for usage.\n");
    process.exitCode = usage ? 2 : 1;
  },
);
