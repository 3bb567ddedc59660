#!/usr/bin/env bash
# Creates .venv and installs the project with its test and integration
# extras from PyPI (pip's cache makes repeat runs fast). Idempotent.
#
# One short line per step on stderr. The tools' own output (pip's progress,
# setuptools' deprecation and "!!" banners from the editable build) goes to a
# log that is shown only when its step fails: a first-time user should see
# what is happening, not the build backend's advice to its maintainers.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

say() { echo "setup: $*" >&2; }

# step DESCRIPTION COMMAND...: runs COMMAND quietly; on failure prints its
# whole output and exits with its status.
step() {
  local what="$1" log status
  shift
  log="$(mktemp "${TMPDIR:-/tmp}/sales-setup.XXXXXX")"
  if "$@" >"$log" 2>&1; then
    rm -f "$log"
    return 0
  else
    status=$?
  fi
  say "$what failed (exit $status); its output:"
  cat "$log" >&2
  rm -f "$log"
  exit "$status"
}

if [[ ! -x .venv/bin/python ]]; then
  say "creating the environment (.venv)"
  step "creating .venv" "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed
# setup.py also compiles transforms/vectorized/shape_scan.c in place.
if [[ ! -f "$stamp" || setup.py -nt "$stamp" ||
      transforms/vectorized/shape_scan.c -nt "$stamp" ]]; then
  say "installing the project and its dependencies into .venv (the first time takes a few minutes)"
  step "upgrading pip" .venv/bin/pip install -q --upgrade pip
  step "installing the project" \
    .venv/bin/pip install -q -e '.[test,bench,kafka,postgres,pubsub,report,dashboard,redis,zeromq,mining,hdfs]'
  touch "$stamp"
else
  say "environment .venv is up to date"
fi
