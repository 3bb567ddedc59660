#!/usr/bin/env bash
# Builds Beam's Prism runner from Beam's Go SDK at Beam's version, offline
# thereafter: `go install` through the Go module proxy, cached in Go's module
# and build caches. Prints the binary's path.
set -euo pipefail
BEAM_VERSION="${BEAM_VERSION:-2.77.0}"
CACHE="${SALES_CACHE:-$HOME/.cache/sales-pipeline}"
BIN_DIR="$CACHE/prism/v$BEAM_VERSION"
if [[ -x "$BIN_DIR/prism" ]]; then
  echo "$BIN_DIR/prism"
  exit 0
fi
command -v go >/dev/null || { echo "prism setup: go is not installed" >&2; exit 1; }
mkdir -p "$BIN_DIR"
echo "prism setup: building github.com/apache/beam/sdks/v2/go/cmd/prism@v$BEAM_VERSION" >&2
GOBIN="$BIN_DIR" GOFLAGS="${GOFLAGS:-} -mod=mod" \
  go install "github.com/apache/beam/sdks/v2/go/cmd/prism@v$BEAM_VERSION" >&2
echo "$BIN_DIR/prism"
