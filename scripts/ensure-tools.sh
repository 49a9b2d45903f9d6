#!/usr/bin/env bash
# Puts the Go-built tools Bowline needs into .tools/ (git-ignored), built from the Go module
# proxy. Returns at once when a tool is already there at the right version.
#   scripts/ensure-tools.sh            # opa (what the policy service needs)
#   scripts/ensure-tools.sh opa grpcurl
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${BOWLINE_TOOLS_DIR:-$ROOT/.tools}"
OPA_VERSION="v1.22.3"
GRPCURL_VERSION="v1.9.4"

module_for() {
  case "$1" in
    opa) echo "github.com/open-policy-agent/opa@${OPA_VERSION}" ;;
    grpcurl) echo "github.com/fullstorydev/grpcurl/cmd/grpcurl@${GRPCURL_VERSION}" ;;
    *) echo "ensure-tools: unknown tool '$1' (known: opa, grpcurl)" >&2; exit 64 ;;
  esac
}

# go install records no version in the binary itself, so a marker beside it says which it is.
installed_version() {
  cat "$TOOLS/.$1.version" 2>/dev/null || true
}

wanted_version() {
  case "$1" in
    opa) echo "$OPA_VERSION" ;;
    grpcurl) echo "$GRPCURL_VERSION" ;;
  esac
}

ensure() {
  local tool="$1" module
  module="$(module_for "$tool")"
  if [ -x "$TOOLS/$tool" ] && [ "$(installed_version "$tool")" = "$(wanted_version "$tool")" ]; then
    return 0
  fi
  if ! command -v go >/dev/null 2>&1; then
    echo "ensure-tools: Go is not installed, so $tool cannot be built." >&2
    echo "  Install Go 1.22 or newer (https://go.dev/doc/install), or put a $tool $(wanted_version "$tool") binary at $TOOLS/$tool." >&2
    exit 69
  fi
  mkdir -p "$TOOLS"
  echo "ensure-tools: building $tool $(wanted_version "$tool") into $TOOLS (first time only; takes a few minutes)" >&2
  GOBIN="$TOOLS" GOFLAGS="${GOFLAGS:-} -trimpath" go install "$module"
  wanted_version "$tool" > "$TOOLS/.$tool.version"
  echo "ensure-tools: $tool $(installed_version "$tool") ready" >&2
}

if [ "$#" -eq 0 ]; then set -- opa; fi
for tool in "$@"; do ensure "$tool"; done
