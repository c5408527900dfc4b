#!/usr/bin/env bash
# Builds SeaweedFS's `weed` (an S3-compatible object store the object-store tests start on
# loopback) from the Go module proxy, once: the binary is kept in the cache directory and reused.
# Prints the binary's path. About 8 minutes on 2 cores the first time.
set -euo pipefail
version="v0.0.0-20261109003541-7506e5f91cd6"
cache="${DASH_INGEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dash-ingest}"
binary="$cache/weed-$version"
if [ ! -x "$binary" ]; then
  mkdir -p "$cache"
  work="$(mktemp -d)"
  trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
  export GOPATH="$work/gopath" GOFLAGS=-mod=mod
  dir="$(go mod download -json "github.com/seaweedfs/seaweedfs@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
  # `go install …@version` refuses the module's replace directives: build in a writable copy.
  cp -r "$dir" "$work/src"
  chmod -R u+w "$work/src"
  (cd "$work/src" && go build -o "$binary.partial" ./weed)
  mv "$binary.partial" "$binary"
fi
echo "$binary"
