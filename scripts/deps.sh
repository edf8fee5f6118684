#!/usr/bin/env bash
# Installs what Cellar needs to run (and with the argument "test", to test)
# on Debian, and nothing twice:
# missing apt packages, and a Vault binary built from the Go module proxy
# (Debian does not package Vault). Safe to run again at any time.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1mdeps:\033[0m %s\n' "$*"; }

# --- apt packages -----------------------------------------------------------
need=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql-15)
command -v psql        >/dev/null || need+=(postgresql-client-15)
[ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
command -v mariadb     >/dev/null || need+=(mariadb-client)
command -v mariadb-install-db >/dev/null || need+=(mariadb-server)
command -v ufw         >/dev/null || need+=(ufw)
command -v ip          >/dev/null || need+=(iproute2)
command -v python3     >/dev/null || need+=(python3)
# Only the tests need a browser (the dashboard's browser tests).
if [ "${1:-}" = "test" ]; then
  [ -x /usr/bin/chromium ] || need+=(chromium)
fi
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  log "installing ${need[*]} with apt (about 90 s)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# --- Vault ------------------------------------------------------------------
# Order: CELLAR_VAULT_BIN, vault on PATH, then a build cached per user (so a
# fresh clone on the same machine does not rebuild for 15 minutes).
vault_version=v1.21.0
cache="${XDG_CACHE_HOME:-$HOME/.cache}/cellar/bin"
mkdir -p .cache/bin "$cache"
if [ -n "${CELLAR_VAULT_BIN:-}" ]; then
  log "using vault from CELLAR_VAULT_BIN=$CELLAR_VAULT_BIN"
elif command -v vault >/dev/null; then
  log "using $(command -v vault)"
else
  if ! "$cache/vault-$vault_version" version >/dev/null 2>&1; then
    log "building Vault $vault_version from the Go module proxy (first time only: 10-20 min, ~4 GB module cache)"
    (cd tools/vault && CGO_ENABLED=1 go build -trimpath -ldflags "-s -w" -o "$cache/vault-$vault_version.tmp" .)
    mv "$cache/vault-$vault_version.tmp" "$cache/vault-$vault_version"
  fi
  ln -sf "$cache/vault-$vault_version" .cache/bin/vault
fi
log "ready"
