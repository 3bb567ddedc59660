#!/usr/bin/env bash
# Builds Beam's Prism runner from Beam's Go SDK at Beam's version, offline
# thereafter: `go install` through the Go module proxy, cached in Go's module
# and build caches. Prints the binary's path.
#
# Four changes to Beam's source, made in a copy at build time (the module
# cache stays as downloaded), files in runners/prism/patches/:
# - Prism's job service binds 127.0.0.1 instead of every interface (Beam 2.77
#   has no flag for it); PRISM_BIND_HOST at run time names another address
#   (docs/security.md, "Loopback only").
# - A split bundle keeps a key in progress while its primary part still has
#   elements of that key: Beam 2.77 released it, so the key's residual
#   elements could run in a second bundle beside the first, both reading the
#   key's state before either committed, and the streaming dedupe lost the
#   ids of one of them (docs/running.md, "Prism").
# - An ordinary stage with side inputs and nothing pending is not ready: Beam
#   2.77 took it as ready while parked read residuals held its watermark
#   back, built an empty bundle and rescheduled it, and the scheduler spun
#   at most of a core, idle or busy (docs/running.md, "Prism").
# - A stateful stage whose side inputs are all complete runs on its data as
#   one without side inputs does: Beam 2.77 made it wait for a watermark
#   change, so the dedupe (it prices with the FX rates) ran nothing while
#   the read was busy (docs/running.md, "Prism").
# A Beam version whose sources no longer take a patch fails here, loudly.
#
#   runners/prism/setup.sh         build (once) and print the binary's path
#   runners/prism/setup.sh test    run the patches' own Go tests
#                                  (patches/sales_patches_test.go) in the
#                                  patched copy of the engine package
set -euo pipefail
MODE="${1:-build}"
[[ "$MODE" == build || "$MODE" == test ]] \
  || { echo "usage: runners/prism/setup.sh [test]" >&2; exit 2; }
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BEAM_VERSION="${BEAM_VERSION:-2.77.0}"
CACHE="${SALES_CACHE:-$HOME/.cache/sales-pipeline}"
# "-patched-4": never a binary earlier versions of this script built (the
# unpatched one, "-loopback" with the first patch only, "-patched-2" and
# "-patched-3" without the scheduling ones).
BIN_DIR="$CACHE/prism/v$BEAM_VERSION-patched-4"
if [[ "$MODE" == build && -x "$BIN_DIR/prism" ]]; then
  echo "$BIN_DIR/prism"
  exit 0
fi
command -v go >/dev/null || { echo "prism setup: go is not installed" >&2; exit 1; }
command -v patch >/dev/null || { echo "prism setup: patch is not installed" >&2; exit 1; }
MODULE="github.com/apache/beam/sdks/v2@v$BEAM_VERSION"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
# Where the module's sources are (downloaded through the proxy if needed).
MOD_DIR="$(cd "$WORK" && GOFLAGS=-mod=mod go mod download -json "$MODULE" \
  | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')"
[[ -f "$MOD_DIR/go.mod" ]] || { echo "prism setup: cannot find $MODULE in the module cache" >&2; exit 1; }
# A copy of the module's Go sources (12 MB), patched, built as its own
# main module: same go.mod and go.sum, so the same dependencies.
SRC="$WORK/sdks"
mkdir -p "$SRC"
cp -R "$MOD_DIR/go" "$MOD_DIR/go.mod" "$MOD_DIR/go.sum" "$SRC/"
chmod -R u+w "$SRC"
JS="$SRC/go/pkg/beam/runners/prism/internal/jobservices"
patch --quiet --forward --no-backup-if-mismatch "$JS/server.go" \
  "$HERE/patches/server.go.patch" >&2 \
  || { echo "prism setup: Beam $BEAM_VERSION's jobservices/server.go does not take runners/prism/patches/server.go.patch; update it" >&2; exit 1; }
cp "$HERE/patches/listen_address.go" "$JS/"
ENGINE="$SRC/go/pkg/beam/runners/prism/internal/engine"
patch --quiet --forward --no-backup-if-mismatch "$ENGINE/elementmanager.go" \
  "$HERE/patches/elementmanager.go.patch" >&2 \
  || { echo "prism setup: Beam $BEAM_VERSION's engine/elementmanager.go does not take runners/prism/patches/elementmanager.go.patch; update it" >&2; exit 1; }
if [[ "$MODE" == test ]]; then
  cp "$HERE/patches/sales_patches_test.go" "$ENGINE/"
  (cd "$SRC" && GOFLAGS="${GOFLAGS:-} -mod=mod" go test -count=1 -trimpath \
    -run 'TestSalesPatch' ./go/pkg/beam/runners/prism/internal/engine)
  exit
fi
echo "prism setup: building $MODULE go/cmd/prism (patched: runners/prism/patches)" >&2
mkdir -p "$BIN_DIR.tmp"
(cd "$SRC" && GOFLAGS="${GOFLAGS:-} -mod=mod" go build -trimpath -o "$BIN_DIR.tmp/prism" ./go/cmd/prism) >&2
# Into place only once built: a half-built directory is never taken for done.
rm -rf "$BIN_DIR"
mv "$BIN_DIR.tmp" "$BIN_DIR"
echo "$BIN_DIR/prism"
