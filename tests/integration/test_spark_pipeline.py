"""The sales pipeline on Apache Spark through Beam's portable Spark runner:
Spark inside the job server (local[2]) and a real standalone master and
worker (runners/spark/cluster.sh). Expected rows come from the default
(local) runner's run of the same input, itself checked against
tests/reference.py by the end-to-end tests."""
from __future__ import annotations

import os
import subprocess
import sys
import urllib.request

import pytest

from tests.fixtures.spark import history, master_json, require_spark_setup, wait_until
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
    tmp_path, local_runner_output):
  require_spark_setup()
  out = tmp_path / 'spark'
  proc = run_on_spark('local', '--input', SAMPLE, '--output', str(out))
  assert_same_run(out, local_runner_output)
  assert 'records read      3000' in proc.stdout
  assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]


@pytest.fixture(scope='module')
def hdfs_sample(hdfs_service):
  """The sample in HDFS as /spark/in/orders.jsonl; returns its URL."""
  hdfs_service.client.makedirs('/spark/in', permission='750')
  hdfs_service.client.upload('/spark/in/orders.jsonl', SAMPLE, overwrite=True)
  return 'hdfs://spark/in/orders.jsonl'


def history_step_names(port: int, app_id: str) -> str:
  """Every stage's DAG as the history server's UI shows it: Spark's RDDs,
  named by Beam after the pipeline's steps."""
  stages = history(port, f'/api/v1/applications/{app_id}/stages')
  pages = []
  for stage in stages:
    url = (f'http://127.0.0.1:{port}/history/{app_id}/stages/stage/'
           f'?id={stage["stageId"]}&attempt={stage["attemptId"]}')
    with urllib.request.urlopen(url, timeout=10) as response:
      pages.append(response.read().decode('utf-8', 'replace'))
  return '\n'.join(pages)


@pytest.mark.hdfs
def test_cluster_reads_and_writes_hdfs_with_the_local_runner_rows(
    tmp_path, spark_cluster, hdfs_service, hdfs_sample,
    local_runner_output):
  """A standalone master and worker, input and output in HDFS: the local
  runner's rows, and Spark's own records list the finished application with
  the pipeline's step names. PROCESS environment: the SDK harnesses that
  the executors start get the run's options (--hdfs_*); a Beam worker
  pool's (EXTERNAL) get none, and Beam's HDFS filesystem refuses to work
  without them (docs/spark.md)."""
  env = dict(os.environ, SPARK_MASTER=spark_cluster['master'],
             SPARK_ENVIRONMENT='PROCESS',
             SPARK_EVENT_LOG_DIR=spark_cluster['events'])
  run_on_spark('cluster', '--input', hdfs_sample,
               '--output', 'hdfs://spark/out', '--job_name', 'sales-bounded',
               *hdfs_service.flags(), env=env)
  out = hdfs_service.fetch('/spark/out', tmp_path / 'out')
  assert_same_run(out, local_runner_output, source=hdfs_sample)
  # the master ran it to the end ...
  done = [a for a in master_json(spark_cluster['ui_port'])['completedapps']
          if a['name'].startswith('sales-bounded')]
  assert done and done[-1]['state'] == 'FINISHED', done
  # ... and the history server shows it with the pipeline's steps
  port = spark_cluster['history_port']
  assert wait_until(lambda: any(
      a['id'] == done[-1]['id'] and a['attempts'][-1]['completed']
      for a in history(port, '/api/v1/applications')), 60)
  names = history_step_names(port, done[-1]['id'])
  # (a fused stage is named after one of its steps: ParseOrders runs in a
  # stage named after ReadOrders' last step, so it has no name of its own)
  for step in ('ReadOrders', 'ConvertToUsd', 'Deduplicate', 'AggregateSales',
               'WriteOutputFiles'):
    assert step in names, step
