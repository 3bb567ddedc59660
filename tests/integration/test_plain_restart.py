"""A plain restart is correct by default (pipelines/restart.py): a
streaming run on Prism stopped mid-stream, by Ctrl-C or by SIGKILL, and
started again with the very same command (no --recover) ends with the
bounded run's tables: every window whole, nothing counted twice, the dead
letters once."""
import os
import signal
import subprocess

import pytest

from tests.integration.streaming import (ROOT, bounded_db, cli,
                                         dead_letter_reasons,
                                         kafka_stream_args, results,
                                         streaming_pipeline, top_products,
                                         wait_for)
from tests.integration.test_postgres_streaming import split_sample
from tools.replay_to_kafka import replay
from transforms.sources.kafka.partitions import committed_partitions

pytestmark = [pytest.mark.kafka, pytest.mark.prism, pytest.mark.integration]


def tables(db: str):
  return results(db), top_products(db), dead_letter_reasons(db)


@pytest.fixture(scope='module')
def expected(tmp_path_factory, live_sample):
  return tables(bounded_db(tmp_path_factory.mktemp('bounded'), live_sample))


@pytest.mark.parametrize('stop', ['ctrl-c', 'sigkill'])
def test_the_same_command_after_a_stop_converges_to_the_bounded_run(
    stop, expected, kafka_broker, kafka_topic_factory,
    live_sample, tmp_path):
  first_half, second_half = split_sample(tmp_path, live_sample, every=2)
  topic = kafka_topic_factory(partitions=3)
  db = str(tmp_path / 'live.db')
  args = [*kafka_stream_args(kafka_broker.bootstrap, topic, 'restart'),
          '--sink', f'sqlite:///{db}']
  replay(first_half, topic, kafka_broker.bootstrap, shuffle_seconds=3600,
         seed=31, partitions=3)

  def read_and_committed():
    # Mid-stream by construction: only half the sample is in the topic.
    # Rows written and offsets committed: a resume from those offsets
    # alone would leave the windows partial.
    return len(results(db)) > 20 and committed_partitions(
        kafka_broker.bootstrap, topic, 'restart')

  if stop == 'ctrl-c':
    with streaming_pipeline(*args) as first:  # leaving it is a Ctrl-C
      assert wait_for(read_and_committed, 120, first)
  else:
    first = subprocess.Popen(cli(*args), cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    try:
      assert wait_for(read_and_committed, 120, first)
    finally:
      os.killpg(first.pid, signal.SIGKILL)  # the pipeline and its Prism
      first.wait(30)
  assert tables(db) != expected, 'the stop came too late to test anything'
  # The other half arrives while the pipeline is down.
  replay(second_half, topic, kafka_broker.bootstrap, shuffle_seconds=3600,
         seed=32, partitions=3)

  with streaming_pipeline(*args) as again:  # the same command
    converged = wait_for(lambda: tables(db) == expected, 150, again)
    got = tables(db)
    assert converged, (
        f'{len(set(got[0]) ^ set(expected[0]))} result rows differ; '
        f'dead letters {got[2]} != {expected[2]}')
  assert 'restart: consumer group' in again.stderr_text
