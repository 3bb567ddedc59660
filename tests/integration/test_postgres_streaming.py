"""The live dashboard's store: a streaming run from Kafka into PostgreSQL,
with early and late panes, converges to the bounded run's table."""
from collections import Counter

import psycopg
import pytest

from tests.integration.streaming import (drop_sink_tables,
                                         kafka_stream_args, run_bounded,
                                         streaming_pipeline, wait_for)
from tools.replay_to_kafka import replay

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.prism,
              pytest.mark.integration]

VALUES = ('window_start, window_end, customer_id, category, orders, units, '
          'revenue_usd, distinct_customers, avg_order_value_usd')


def query(url, sql):
  try:
    with psycopg.connect(url, connect_timeout=10) as conn:
      return sorted(conn.execute(sql).fetchall())
  except psycopg.errors.UndefinedTable:
    return []


def snapshot(url):
  return {
      'results': query(url, f'SELECT {VALUES} FROM sales_by_category'),
      'top': query(url, 'SELECT window_start, window_end, rank, product_id, '
                   'revenue_usd FROM top_products'),
      'dead': Counter(r for (r,) in query(url,
                                          'SELECT reason FROM dead_letters')),
  }


def describe_difference(got, expected):
  lines = ['the streamed tables did not converge to the bounded ones:']
  for name in ('results', 'top'):
    extra = sorted(set(got[name]) - set(expected[name]))
    missing = sorted(set(expected[name]) - set(got[name]))
    lines.append(f'{name}: {len(extra)} unexpected, e.g. {extra[:3]}; '
                 f'{len(missing)} missing, e.g. {missing[:3]}')
  lines.append(f'dead letters: got {dict(got["dead"])}, '
               f'expected {dict(expected["dead"])}')
  return '\n'.join(lines)


def split_sample(tmp_path, sample, every=25):
  """A sample in two files: most lines, and every 25th line held out."""
  with open(sample, encoding='utf-8') as f:
    lines = [line for line in f if line.strip()]
  first, held_out = tmp_path / 'first.jsonl', tmp_path / 'late.jsonl'
  first.write_text(''.join(l for i, l in enumerate(lines) if i % every))
  held_out.write_text(''.join(l for i, l in enumerate(lines) if not i % every))
  return str(first), str(held_out)


def test_streaming_into_postgres_converges_to_the_bounded_table(
    tmp_path, postgres_database, kafka_broker,
    kafka_topic_factory, live_sample):
  url = postgres_database
  run_bounded('--input', live_sample, '--output', '', '--sink', url)
  expected = snapshot(url)
  assert expected['results']
  drop_sink_tables(url)

  topic = kafka_topic_factory(partitions=3)
  first, held_out = split_sample(tmp_path, live_sample)
  # kafka_stream_args allows three days of lateness: the held-out events (of
  # the last two days), sent after their windows fired on time, are late but
  # still allowed, so they must update their windows.
  with streaming_pipeline(
      *kafka_stream_args(kafka_broker.bootstrap, topic, 'pg-parity'),
      '--kafka_idle_timeout_seconds', '3', '--sink', url) as proc:
    replay(first, topic, kafka_broker.bootstrap, rate=0.0,
           shuffle_seconds=3600, seed=5, partitions=3)
    # Once idle, the watermark follows the clock: every window fires ON_TIME.
    assert wait_for(lambda: query(
        url, "SELECT count(*) FROM sales_by_category WHERE pane_timing = "
        "'ON_TIME'") > [(500,)], 180, proc)
    on_time_panes = dict(query(
        url, 'SELECT window_start, pane_index FROM sales_by_category '
        "WHERE category = '__all__'"))
    replay(held_out, topic, kafka_broker.bootstrap, rate=0.0,
           shuffle_seconds=0, seed=6, partitions=3)
    converged = wait_for(lambda: snapshot(url) == expected, 240, proc)
    assert converged, describe_difference(snapshot(url), expected)
    # The held-out events came after their windows' on-time panes: later
    # panes (late firings) replaced those rows. (Prism 2.77 labels these
    # panes ON_TIME, not LATE; the TestStream tests check the labels.)
    final_panes = dict(query(
        url, 'SELECT window_start, pane_index FROM sales_by_category '
        "WHERE category = '__all__'"))
    updated = [w for w, index in final_panes.items()
               if index > on_time_panes.get(w, index)]
    assert len(updated) > len(final_panes) // 2, (on_time_panes, final_panes)
  runs = query(url, 'SELECT status FROM pipeline_runs')
  assert ('cancelled',) in runs
