#!/usr/bin/env bash
# Quickstart 1: set up, then run the main job on the bundled sample.
# Extra arguments pass through to `python -m pipeline`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m pipeline "$@"
