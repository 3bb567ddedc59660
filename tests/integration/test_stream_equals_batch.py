"""Batch = stream (DESIGN.md, Semantics 8), through a real Kafka broker.

The sample (out-of-order events, duplicates, every kind of dirty record) is
replayed into a 3-partition topic in shuffled order, within the allowed
lateness. `python -m pipeline --source kafka --streaming` on Prism, writing
to SQLite, must converge to exactly the rows that the bounded run over the
same file writes; Ctrl-C then stops it cleanly.
"""
import sqlite3
import threading

import pytest

from tests.fixtures.samples import RECENT_T0
from tests.integration.streaming import (WINDOW_FLAGS, bounded_db,
                                         dead_letter_reasons,
                                         kafka_stream_args, results,
                                         run_bounded, sqlite_table,
                                         streaming_pipeline, top_products,
                                         wait_for)
from tools.replay_to_kafka import replay

pytestmark = [pytest.mark.kafka, pytest.mark.prism, pytest.mark.integration]



def test_streaming_from_kafka_converges_to_the_bounded_run(
    tmp_path, kafka_broker, kafka_topic_factory, live_sample):
  batch_db = bounded_db(tmp_path, live_sample)
  topic = kafka_topic_factory(partitions=3)
  sent = replay(live_sample, topic, kafka_broker.bootstrap, rate=0.0,
                shuffle_seconds=3600, seed=11, partitions=3)
  assert sent['lines'] == 3000

  stream_db = str(tmp_path / 'stream.db')
  with streaming_pipeline(
      *kafka_stream_args(kafka_broker.bootstrap, topic, 'parity'),
      '--sink', f'sqlite:///{stream_db}') as proc:
    assert_converges(proc, stream_db, batch_db)


def test_a_live_replay_in_file_order_converges_to_the_bounded_run(
    tmp_path, kafka_broker, kafka_topic_factory, live_sample):
  """Orders arrive while the pipeline runs, in the file's own order: up to
  47 hours out of order, with re-sends and dirty lines (all within the
  three days of allowed lateness and dedupe memory). The default
  (columnar) steps."""
  batch_db = bounded_db(tmp_path, live_sample)
  topic = kafka_topic_factory(partitions=3)
  stream_db = str(tmp_path / 'live.db')
  sent = {}
  with streaming_pipeline(
      *kafka_stream_args(kafka_broker.bootstrap, topic, 'live'),
      '--sink', f'sqlite:///{stream_db}') as proc:
    producer = threading.Thread(target=lambda: sent.update(replay(
        live_sample, topic, kafka_broker.bootstrap, rate=500.0,
        shuffle_seconds=0, partitions=3)))
    producer.start()
    assert_converges(proc, stream_db, batch_db)
    producer.join(60)
  assert sent['lines'] == 3000


def assert_converges(proc, stream_db, batch_db):
  """The streamed SQLite tables reach the bounded run's: every result row,
  every top product, the same dead letters by reason (positions differ:
  offsets vs lines)."""
  expected = results(batch_db)
  assert expected
  converged = wait_for(lambda: results(stream_db) == expected, 300, proc)
  got = results(stream_db)
  assert converged, (
      f'{len(set(got) ^ set(expected))} rows differ; streamed {len(got)} '
      f'rows, batch {len(expected)}; only streamed: '
      f'{sorted(set(got) - set(expected))[:4]}; only batch: '
      f'{sorted(set(expected) - set(got))[:4]}; dead letters streamed '
      f'{dict(dead_letter_reasons(stream_db))}, batch '
      f'{dict(dead_letter_reasons(batch_db))}')
  assert top_products(stream_db) == top_products(batch_db)
  assert wait_for(lambda: dead_letter_reasons(stream_db) ==
                  dead_letter_reasons(batch_db), 60, proc)


def test_bounded_kafka_backfill_equals_the_file_run(
    tmp_path, kafka_broker, kafka_topic_factory, live_sample):
  batch_db = bounded_db(tmp_path, live_sample)
  topic = kafka_topic_factory(partitions=3)
  replay(live_sample, topic, kafka_broker.bootstrap, rate=0.0, shuffle_seconds=0,
         seed=3, partitions=3)
  backfill_db = str(tmp_path / 'backfill.db')
  proc = run_bounded(
      '--source', 'kafka', '--kafka_bounded', '--kafka_bootstrap_servers',
      kafka_broker.bootstrap, '--kafka_topic', topic, '--kafka_group_id',
      'backfill', '--output', '', '--sink', f'sqlite:///{backfill_db}')
  assert results(backfill_db) == results(batch_db)
  assert dead_letter_reasons(backfill_db) == dead_letter_reasons(batch_db)
  assert 'records read      3000' in proc.stdout


def test_orders_beyond_the_allowed_lateness_are_counted_not_lost(
    tmp_path, kafka_broker, kafka_topic_factory):
  """With the default lateness (1 h), orders sent after their windows have
  closed become `late` dead letters in the store, with their Kafka
  position, and change no window."""
  topic = kafka_topic_factory(partitions=2)
  on_time = tmp_path / 'on_time.jsonl'
  late = tmp_path / 'late.jsonl'
  # 10:00 UTC two days back: long closed by the clock, whatever the date.
  order = ('{{"order_id":"{}","customer_id":"c","product_id":"P0001",'
           '"quantity":1,"unit_price":"1","currency":"USD",'
           '"event_time":{}}}\n')
  ten_am = RECENT_T0 + 10 * 3600 * 1000
  on_time.write_text(''.join(order.format(f'on-{i}', ten_am)
                             for i in range(20)))
  late.write_text(''.join(order.format(f'late-{i}', ten_am)
                          for i in range(5)))
  db = str(tmp_path / 'late.db')
  runner = [a for a in kafka_stream_args(kafka_broker.bootstrap, topic,
                                         'late') if a not in WINDOW_FLAGS]
  runner = [a for i, a in enumerate(runner)
            if not (i and runner[i - 1] in WINDOW_FLAGS)]
  with streaming_pipeline(*runner, '--kafka_idle_timeout_seconds', '2',
                          '--sink', f'sqlite:///{db}') as proc:
    replay(str(on_time), topic, kafka_broker.bootstrap, partitions=2)
    # Idle partitions follow the clock, so the 10:00 window closes: a
    # pane past EARLY. It fires on the lowest partition watermark (the
    # source holds every partition at it), and only the idle rule moves a
    # partition past 10:00 here, so once it fires each partition's own
    # watermark is at the clock, past the window's expiry, and judges the
    # orders below late, whichever partition reads them.
    assert wait_for(lambda: sqlite_table(
        db, "SELECT orders, pane_timing FROM sales_by_category "
        "WHERE category = '__all__'") in ([(20, 'ON_TIME')], [(20, 'LATE')]),
                    120, proc)
    replay(str(late), topic, kafka_broker.bootstrap, partitions=2)
    assert wait_for(lambda: dead_letter_reasons(db) == {'late': 5}, 120, proc)
    with sqlite3.connect(db) as conn:
      positions = conn.execute(
          "SELECT source, partition, position FROM dead_letters").fetchall()
    assert {p[0] for p in positions} == {topic}
    assert len(set(positions)) == 5
    assert results(db)[0][4] == 20  # the late orders changed no window
