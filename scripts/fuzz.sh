#!/bin/sh
# Runs every fuzz target for FUZZTIME (default 45s) each, one after the
# other, with one worker so that it shares a small machine. `make test`
# runs only their seed corpora. Packages that start servers in TestMain are
# fuzzed with -short, which skips the servers.
set -eu
t="${FUZZTIME:-45s}"
run() { echo "== $2 ($1)"; go test $3 -run='^$' -fuzz="^$2\$" -fuzztime="$t" -parallel=1 "$1"; }
run ./internal/api FuzzDecode -short
run ./internal/cellar FuzzNames ""
run ./internal/cellar FuzzParseSource ""
run ./internal/provision/postgres FuzzAccessSource -short
run ./internal/provision/mariadb FuzzAccessSource -short
run ./internal/backup FuzzMariaDBSnapshotVerify -short
run ./internal/backup FuzzDefinerRewriter -short
run ./internal/snapstore FuzzLocalStore ""
