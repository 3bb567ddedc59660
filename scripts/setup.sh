#!/usr/bin/env bash
# Creates .venv and installs the project with its test and integration
# extras from PyPI (pip's cache makes repeat runs fast). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed
if [[ ! -f "$stamp" || setup.py -nt "$stamp" ]]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[test,bench,kafka,postgres,pubsub]'
  touch "$stamp"
fi
