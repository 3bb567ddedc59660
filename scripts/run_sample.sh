#!/usr/bin/env bash
# Quickstart 1: set up, then run the main job on the bundled sample.
# Extra arguments pass through to `python -m pipeline`. Set-up prints one
# line per step (scripts/setup.sh); the run prints its summary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "run: python -m pipeline${*:+ $*}" >&2
exec .venv/bin/python -m pipeline "$@"
