#!/usr/bin/env bash
# Runs the pinned golangci-lint (config: .golangci.yml), building it from
# the Go module proxy once per user, then checks formatting.
set -euo pipefail
cd "$(dirname "$0")/.."
version=v2.15.0
cache="${XDG_CACHE_HOME:-$HOME/.cache}/cellar/bin"
bin="$cache/golangci-lint-$version"
if ! [ -x "$bin" ]; then
  mkdir -p "$cache"
  echo "building golangci-lint $version (first time only: about 2 minutes)" >&2
  tmp=$(mktemp -d)
  (cd "$tmp" && GOBIN="$tmp" go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$version")
  mv "$tmp/golangci-lint" "$bin"
  rm -rf "$tmp"
fi
"$bin" run ./...
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
  echo "not gofmt-formatted:" >&2
  echo "$unformatted" >&2
  exit 1
fi
