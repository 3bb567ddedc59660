"""Ctrl-C of a streaming run on Prism: a clean stop, whatever reaches the
signal first.

A terminal's Ctrl-C goes to the whole process group, so the local job
service (Prism) and the CLI get it together. On a loaded machine Prism may
be gone, and the SDK worker's threads may already be reporting its closed
channels, before the CLI's own SIGINT handler has run. This test makes that
order certain: Prism first, the CLI half a second later.
"""
import os
import signal
import subprocess
import time

import pytest

from pipelines.run import SNAPSHOT_SECONDS
from tests.integration.streaming import (ROOT, cli, kafka_stream_args,
                                         prism_children, results, wait_for)
from tools.replay_to_kafka import replay

pytestmark = [pytest.mark.kafka, pytest.mark.prism, pytest.mark.integration]


def test_ctrl_c_reaching_prism_before_the_cli_still_stops_cleanly(
    kafka_broker, kafka_topic_factory, live_sample, tmp_path):
  topic = kafka_topic_factory(partitions=3)
  replay(live_sample, topic, kafka_broker.bootstrap, seed=3)
  db = tmp_path / 'live.db'
  proc = subprocess.Popen(
      cli(*kafka_stream_args(kafka_broker.bootstrap, topic, 'ctrl-c'),
          '--sink', f'sqlite:///{db}'),
      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
      start_new_session=True)
  try:
    # Rows in the sink: the job runs and its workers hold open channels;
    # then time for the CLI to have read the job's counters.
    assert wait_for(lambda: results(str(db)), 120, proc)
    time.sleep(3 * SNAPSHOT_SECONDS)
    prism = prism_children(proc.pid)
    assert prism, 'no Prism child process found'
    for pid in prism:
      os.kill(pid, signal.SIGINT)
    try:
      proc.wait(0.5)
    except subprocess.TimeoutExpired:
      os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=90)
  finally:
    if proc.poll() is None:
      os.killpg(proc.pid, signal.SIGKILL)
  assert proc.returncode == 0, err[-3000:]
  assert 'Traceback' not in err and 'Exception in thread' not in err, \
      err[-3000:]
  assert 'stopping: cancelling the pipeline' in err
  assert 'records read' in out
