"""Fault test: SIGKILL a streaming run mid-way, restart it with the same
consumer group and --recover, and the PostgreSQL tables end up equal to the
bounded run's: nothing lost, nothing counted twice."""
import os
import signal
import subprocess

import pytest

from tests.integration.streaming import (ROOT, cli, drop_sink_tables,
                                         kafka_stream_args, run_bounded,
                                         streaming_pipeline, wait_for)
from tests.integration.test_postgres_streaming import (describe_difference,
                                                       query, snapshot,
                                                       split_sample)
from tools.replay_to_kafka import replay

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.prism,
              pytest.mark.integration]


def test_sigkill_then_recover_converges_to_the_bounded_tables(
    postgres_database, kafka_broker, kafka_topic_factory,
    live_sample, tmp_path):
  url = postgres_database
  # Half the lines (every other one) now, the rest after the kill.
  first_half, second_half = split_sample(tmp_path, live_sample, every=2)
  run_bounded('--input', live_sample, '--output', '', '--sink', url)
  expected = snapshot(url)
  drop_sink_tables(url)

  topic = kafka_topic_factory(partitions=3)
  args = [*kafka_stream_args(kafka_broker.bootstrap, topic, 'fault'),
          '--sink', url]
  first = subprocess.Popen(cli(*args), cwd=ROOT, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
  try:
    # Only half the sample is in the topic when the kill lands, so the kill
    # is mid-stream however fast the pipeline keeps up.
    replay(first_half, topic, kafka_broker.bootstrap, rate=250.0,
           shuffle_seconds=3600, seed=21, partitions=3)
    assert wait_for(lambda: query(
        url, 'SELECT count(*) FROM sales_by_category') > [(50,)], 180, first)
  finally:
    os.killpg(first.pid, signal.SIGKILL)  # the pipeline and its Prism
    first.wait(30)
  killed_at = snapshot(url)
  assert killed_at != expected, 'the kill came too late to test anything'
  # The other half arrives while the pipeline is down.
  replay(second_half, topic, kafka_broker.bootstrap, shuffle_seconds=3600,
         seed=22, partitions=3)

  with streaming_pipeline(*args, '--recover') as proc:
    converged = wait_for(lambda: snapshot(url) == expected, 300, proc)
    assert converged, describe_difference(snapshot(url), expected)
  statuses = sorted(s for (s,) in query(url, 'SELECT status FROM '
                                        'pipeline_runs'))
  # the killed run never finished; the recovery run was stopped by Ctrl-C
  assert statuses == ['cancelled', 'running'], statuses
