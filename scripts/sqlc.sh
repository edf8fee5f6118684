#!/usr/bin/env bash
# Runs the pinned sqlc (tools/sqlc/go.mod), building it once per user.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(grep -oE "github.com/sqlc-dev/sqlc v[0-9.]+" tools/sqlc/go.mod | head -1 | cut -d" " -f2)
cache="${XDG_CACHE_HOME:-$HOME/.cache}/cellar/bin"
bin="$cache/sqlc-$version"
if ! [ -x "$bin" ]; then
  mkdir -p "$cache"
  echo "building sqlc $version (first time only: a few minutes)" >&2
  (cd tools/sqlc && go build -o "$bin.tmp" github.com/sqlc-dev/sqlc/cmd/sqlc)
  mv "$bin.tmp" "$bin"
fi
exec "$bin" "$@"
