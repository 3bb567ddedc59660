"""Batch = stream (DESIGN.md, Semantics 8), through a real Kafka broker.

The sample (out-of-order events, duplicates, every kind of dirty record) is
replayed into a 3-partition topic in shuffled order, within the allowed
lateness. `python -m pipeline --source kafka --streaming` on Prism, writing
to SQLite, must converge to exactly the rows that the bounded run over the
same file writes; Ctrl-C then stops it cleanly.
"""
import pytest

from tests.fixtures.kafka import kafka_broker, kafka_topic_factory  # noqa: F401  pylint: disable=unused-import
from tests.integration.streaming import (SAMPLE, bounded_db,
                                         dead_letter_reasons,
                                         kafka_stream_args, results,
                                         run_bounded, streaming_pipeline,
                                         top_products, wait_for)
from tools.replay_to_kafka import replay

pytestmark = [pytest.mark.kafka, pytest.mark.prism, pytest.mark.integration]

def test_streaming_from_kafka_converges_to_the_bounded_run(
    tmp_path, kafka_broker, kafka_topic_factory):  # noqa: F811
  batch_db = bounded_db(tmp_path)
  expected = results(batch_db)
  assert expected

  topic = kafka_topic_factory(partitions=3)
  sent = replay(SAMPLE, topic, kafka_broker.bootstrap, rate=0.0,
                shuffle_seconds=3600, seed=11, partitions=3)
  assert sent['lines'] == 3000

  stream_db = str(tmp_path / 'stream.db')
  with streaming_pipeline(
      *kafka_stream_args(kafka_broker.bootstrap, topic, 'parity'),
      '--sink', f'sqlite:///{stream_db}') as proc:
    converged = wait_for(lambda: results(stream_db) == expected, 300, proc)
    got = results(stream_db)
    assert converged, (f'{len(set(got) ^ set(expected))} rows differ; '
                       f'streamed {len(got)} rows, batch {len(expected)}')
    assert top_products(stream_db) == top_products(batch_db)
    # Same dead letters by reason (positions differ: offsets vs lines).
    assert wait_for(lambda: dead_letter_reasons(stream_db) ==
                    dead_letter_reasons(batch_db), 60, proc)


def test_bounded_kafka_backfill_equals_the_file_run(
    tmp_path, kafka_broker, kafka_topic_factory):  # noqa: F811
  batch_db = bounded_db(tmp_path)
  topic = kafka_topic_factory(partitions=3)
  replay(SAMPLE, topic, kafka_broker.bootstrap, rate=0.0, shuffle_seconds=0,
         seed=3, partitions=3)
  backfill_db = str(tmp_path / 'backfill.db')
  proc = run_bounded(
      '--source', 'kafka', '--kafka_bounded', '--kafka_bootstrap_servers',
      kafka_broker.bootstrap, '--kafka_topic', topic, '--kafka_group_id',
      'backfill', '--output', '', '--sink', f'sqlite:///{backfill_db}')
  assert results(backfill_db) == results(batch_db)
  assert dead_letter_reasons(backfill_db) == dead_letter_reasons(batch_db)
  assert 'records read      3000' in proc.stdout
