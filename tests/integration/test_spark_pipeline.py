"""The sales pipeline on Apache Spark through Beam's portable Spark runner:
Spark inside the job server (local[2]) and a real standalone master and
worker (runners/spark/cluster.sh). Expected rows come from the default
(local) runner's run of the same input, itself checked against
tests/reference.py by the end-to-end tests."""
from __future__ import annotations

import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from tests.fixtures.spark import require_spark_setup
from tests.integration.streaming import ROOT, SAMPLE, run_bounded

pytestmark = [pytest.mark.spark, pytest.mark.integration, pytest.mark.slow]

OUTPUTS = ('sales_by_category.parquet', 'top_products.parquet')


def parquet(path):
  """All rows of a Parquet output, every column, in a stable order."""
  return sorted(tuple(sorted(r.items()))
                for r in pq.read_table(path).to_pylist())


def counts(out) -> dict:
  """The run's summary without its wall-clock stamp."""
  summary = json.loads((out / 'summary.json').read_text())
  summary.pop('as_of', None)
  return summary


def assert_same_run(out, expected) -> None:
  for name in OUTPUTS:
    assert parquet(out / name) == parquet(expected / name), name
  assert sorted((out / 'dead_letters.jsonl').read_text().splitlines()) == (
      sorted((expected / 'dead_letters.jsonl').read_text().splitlines()))
  assert counts(out) == counts(expected)


def run_on_spark(mode: str, *args: str, env=None) -> subprocess.CompletedProcess:
  """`python -m runners.spark.run MODE ...`, as a user runs it."""
  proc = subprocess.run(
      [sys.executable, '-m', 'runners.spark.run', mode, *args], cwd=ROOT,
      capture_output=True, text=True, timeout=600, env=env)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc


@pytest.fixture(scope='module')
def local_runner_output(tmp_path_factory):
  out = tmp_path_factory.mktemp('local') / 'out'
  run_bounded('--input', SAMPLE, '--output', str(out))
  return out


def test_bounded_sample_on_spark_local_equals_the_local_runner(
    tmp_path, local_runner_output):
  require_spark_setup()
  out = tmp_path / 'spark'
  proc = run_on_spark('local', '--input', SAMPLE, '--output', str(out))
  assert_same_run(out, local_runner_output)
  assert 'records read      3000' in proc.stdout
  assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
