"""The sales pipeline on Apache Spark through Beam's portable Spark runner:
Spark inside the job server (local[2]) and a real standalone master and
worker (runners/spark/cluster.sh). Expected rows come from the default
(local) runner's run of the same input, itself checked against
tests/reference.py by the end-to-end tests."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.fixtures.spark import local_runner_output, require_spark_setup  # noqa: F401  pylint: disable=unused-import
from tests.integration.same_run import assert_same_run
from tests.integration.streaming import ROOT, SAMPLE

pytestmark = [pytest.mark.spark, pytest.mark.integration, pytest.mark.slow]


def run_on_spark(mode: str, *args: str, env=None) -> subprocess.CompletedProcess:
  """`python -m runners.spark.run MODE ...`, as a user runs it."""
  proc = subprocess.run(
      [sys.executable, '-m', 'runners.spark.run', mode, *args], cwd=ROOT,
      capture_output=True, text=True, timeout=600, env=env)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc


def test_bounded_sample_on_spark_local_equals_the_local_runner(
    tmp_path, local_runner_output):  # noqa: F811
  require_spark_setup()
  out = tmp_path / 'spark'
  proc = run_on_spark('local', '--input', SAMPLE, '--output', str(out))
  assert_same_run(out, local_runner_output)
  assert 'records read      3000' in proc.stdout
  assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
