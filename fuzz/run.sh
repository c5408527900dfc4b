#!/usr/bin/env bash
# Runs fuzz targets for SECONDS each (default 15): the ones named after SECONDS, or all of them,
# starting from the seeds in fuzz/seeds/ (a real segment, write-ahead log, batch and SDK JSON lines
# file; `npx tsx fuzz/make-seeds.ts` regenerates the log and batch seeds) plus the corpus of
# earlier runs. An input that runs longer than 5 s counts as a hang.
# Needs cargo-fuzz (`cargo install cargo-fuzz`); builds on stable without a sanitizer. Without it
# the run is skipped with a message, except under CI=true, where that is a failure.
# A crash leaves its input in fuzz/artifacts/<target>/ and fails the run.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-15}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  targets=(wal wire segment jsonl json_batch)
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  if [ "${CI:-}" = "true" ]; then
    echo "fuzz: cargo-fuzz is not installed (cargo install cargo-fuzz --locked)" >&2
    exit 1
  fi
  echo "fuzz: skipped, cargo-fuzz is not installed (cargo install cargo-fuzz --locked)"
  exit 0
fi
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  echo "== fuzz $target for ${seconds}s"
  # -s none: no sanitizer, so a stable toolchain builds it (the code has no unsafe).
  log="$(mktemp)"
  status=0
  cargo fuzz run -s none "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 >"$log" 2>&1 || status=$?
  if [ "$status" -ne 0 ]; then
    tail -n 60 "$log"
    echo "fuzz: target $target failed (exit $status); the input is in fuzz/artifacts/$target/" >&2
    exit "$status"
  fi
  grep -E "^(Done|stat::peak_rss_mb)" "$log"
  rm -f "$log"
done
