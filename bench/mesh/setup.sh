#!/usr/bin/env bash
# Installs what bench/mesh needs, and returns at once when it is already there:
#   - nginx (Debian's package) for the nginx-pair baseline; the bench runs it in the
#     foreground with its own prefix and config, never as the system service;
#   - fortio (load generator and echo server) built from the Go module proxy into .tools/
#     (git-ignored), with a version marker beside it, as scripts/ensure-tools.sh does.
#   - openssl (for the nginx hop's certificates) is checked, not installed.
#   bash bench/mesh/setup.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS="${BOWLINE_TOOLS_DIR:-$ROOT/.tools}"
# v1.69 and newer depend on grol.io/grol, which the Go module proxy reachable here refused
# (tried with v1.75.3); v1.68.2 (go 1.23.8) does not, and builds with the machine's Go.
FORTIO_VERSION="v1.68.2"

say() { echo "bench/mesh setup: $*" >&2; }

ensure_nginx() {
  if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    say "nginx is not installed and this is not root: run 'sudo apt-get install -y nginx-light' (or nginx)"
    exit 69
  fi
  say "installing nginx from Debian (apt-get)"
  # Debian's postinst would start the system service; keep it from doing so (policy-rc.d
  # answers 101 = "action forbidden"), the bench starts its own nginx processes.
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    created_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y --no-install-recommends nginx >/dev/null 2>&1; then
    apt-get update >/dev/null
    apt-get install -y --no-install-recommends nginx >/dev/null
  fi
  if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi
  say "nginx $(/usr/sbin/nginx -v 2>&1 | sed 's/.*nginx\///') ready"
}

ensure_fortio() {
  if [ -x "$TOOLS/fortio" ] && [ "$(cat "$TOOLS/.fortio.version" 2>/dev/null || true)" = "$FORTIO_VERSION" ]; then
    return 0
  fi
  if ! command -v go >/dev/null 2>&1; then
    say "Go is not installed, so fortio cannot be built."
    say "  Install Go 1.23 or newer, or put a fortio $FORTIO_VERSION binary at $TOOLS/fortio."
    exit 69
  fi
  mkdir -p "$TOOLS"
  say "building fortio $FORTIO_VERSION into $TOOLS (first time only; under a minute)"
  GOBIN="$TOOLS" GOFLAGS="${GOFLAGS:-} -trimpath" go install "fortio.org/fortio@${FORTIO_VERSION}"
  echo "$FORTIO_VERSION" > "$TOOLS/.fortio.version"
  say "fortio $FORTIO_VERSION ready"
}

if ! command -v openssl >/dev/null 2>&1; then
  say "openssl is missing (apt-get install -y openssl)"
  exit 69
fi
ensure_nginx
ensure_fortio
