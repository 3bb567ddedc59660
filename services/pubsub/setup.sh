#!/usr/bin/env bash
# Builds the local Pub/Sub emulator (services/pubsub/main.go on top of Google's
# fake, cloud.google.com/go/pubsub/pstest) from the Go module proxy into
# ${SALES_CACHE:-~/.cache/sales-pipeline}/pubsub/. Idempotent: rebuilds only
# when main.go, go.mod or go.sum change. Prints the binary's path.
#
# Only the sources are in the repository (main.go, go.mod, go.sum); go.sum
# pins every module, so the build is reproducible and offline once Go's
# module cache is warm.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${SALES_CACHE:-$HOME/.cache/sales-pipeline}"
BIN_DIR="$CACHE/pubsub"
BIN="$BIN_DIR/pubsub-emulator"
STAMP="$BIN_DIR/pubsub-emulator.sha256"

command -v go >/dev/null || { echo "pubsub setup: go is not installed" >&2; exit 1; }
want="$(cd "$HERE" && cat main.go go.mod go.sum | sha256sum | cut -d' ' -f1)"
if [[ -x "$BIN" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
  echo "$BIN"
  exit 0
fi
mkdir -p "$BIN_DIR"
echo "pubsub setup: building the emulator (cloud.google.com/go/pubsub/pstest) into $BIN_DIR" >&2
# -mod=readonly: go.sum must already list every module (no silent upgrades);
# the build writes nothing into the repository.
(cd "$HERE" && GOFLAGS="${GOFLAGS:-} -mod=readonly" CGO_ENABLED=0 \
  go build -trimpath -o "$BIN.tmp" .) >&2
mv -f "$BIN.tmp" "$BIN"
echo "$want" >"$STAMP"
echo "$BIN"
