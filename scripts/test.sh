#!/usr/bin/env bash
# Quickstart 2: set up everything the tests need from the package
# registries (Python packages, Prism, Kafka, Flink, PostgreSQL), then run the
# whole suite. Extra arguments pass through to pytest (e.g. -m "not flink").
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/setup_services.sh
# The services are set up above: a test that cannot reach one fails, never skips.
export FLINK_REQUIRED=1 SALES_REQUIRE_POSTGRES=1 SALES_REQUIRE_BROWSER=1 SPARK_REQUIRED=1
# SALES_CLOCK_OFFSET_DAYS=365 scripts/test.sh: every Python the suite starts
# lives a year ahead (tests/clock/sitecustomize.py; docs/testing.md).
if [[ -n "${SALES_CLOCK_OFFSET_DAYS:-}" ]]; then
  export PYTHONPATH="$PWD/tests/clock${PYTHONPATH:+:$PYTHONPATH}"
fi
set +e
# Two workers, one a core (tests/conftest.py says who runs what; three were
# no faster, docs/testing.md); `-n 0` after it runs the suite in one process.
.venv/bin/python -m pytest -n "${SALES_TEST_WORKERS:-2}" --dist loadgroup "$@"
status=$?
set -e
if [[ $status -eq 5 ]]; then
  echo "pytest collected no tests" >&2
  exit 1
fi
exit $status
