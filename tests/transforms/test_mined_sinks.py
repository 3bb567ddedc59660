"""The mined kinds in every sink: one declaration (transforms/sinks/mined.py)
gives each sink its table, columns, key and topic.

SQLite is real (a file, the sink's own DoFn); the message sinks' encodings
and the BigQuery and Parquet schemas are checked as pure logic.
"""
import json
import sqlite3

import apache_beam as beam
import pytest
from apache_beam.testing import test_pipeline

from tests.fixtures.mined_rows import T0, anomaly, pair, segment
from transforms.sinks.bigquery_sink import mined_fields
from transforms.sinks.files import mined_schema
from transforms.sinks.kafka_sink import WriteToKafka, encode_row
from transforms.sinks.mined import (ANOMALIES, CUSTOMER_SEGMENTS, MINED_TABLES,
                                    PRODUCT_PAIRS)
from transforms.sinks.pubsub_sink import WriteToPubSubTopics, encode_message
from transforms.sinks.sqlite_sink import WriteToSQLite

pytestmark = pytest.mark.mining


def write(db, **kinds):
  with test_pipeline.TestPipeline(runner='FnApiRunner') as p:
    pcolls = {k: p | f'Create{k}' >> beam.Create(rows)
              for k, rows in kinds.items()}
    _ = pcolls | WriteToSQLite(str(db), track_run=False)


def rows_of(db, table):
  with sqlite3.connect(db) as conn:
    conn.row_factory = sqlite3.Row
    return [dict(r) for r in conn.execute(f'SELECT * FROM {table}')]


def test_sqlite_newer_pane_wins_and_a_rerun_changes_nothing(tmp_path):
  db = tmp_path / 'sales.db'
  write(db, product_pairs=[pair(1, 2.5)],
        customer_segments=[segment('loyal')], anomalies=[anomaly()])
  write(db, product_pairs=[pair(0, 9.9, 'EARLY')])  # older: ignored
  first = {t: rows_of(db, t) for t in MINED_TABLES
           if t != 'segment_summary'}
  assert first['product_pairs'][0]['lift'] == 2.5
  assert first['customer_segments'][0]['monetary_usd'] == '10.01'  # cents
  assert first['anomalies'][0]['score'] is None  # warming up: NULL
  write(db, customer_segments=[segment('loyal')])  # the same answer again
  assert rows_of(db, 'customer_segments') == first['customer_segments']
  write(db, customer_segments=[segment('champions')], product_pairs=[
      pair(2, 3.0)])
  assert rows_of(db, 'customer_segments')[0]['label'] == 'champions'
  assert rows_of(db, 'product_pairs')[0]['lift'] == 3.0


def test_without_mined_kinds_no_mined_table_is_created(tmp_path):
  db = tmp_path / 'sales.db'
  write(db, results=[], top_products=[], dead_letters=[])
  with sqlite3.connect(db) as conn:
    tables = {r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
  assert not tables & set(MINED_TABLES)
  assert 'sales_by_category' in tables


def test_kafka_and_pubsub_topics_keys_and_values():
  kafka = WriteToKafka('127.0.0.1:9092', 'sales')
  assert kafka.topic_for(ANOMALIES) == 'sales.alerts'
  assert kafka.topic_for(PRODUCT_PAIRS) == 'sales.product_pairs'
  key, value = encode_row(anomaly(4.5), ANOMALIES)
  assert key == f'{T0}|{T0 + 3_600_000}|__all__|orders'.encode()
  body = json.loads(value)
  assert body['window_start'] == '2026-11-02T00:00:00Z'
  assert body['score'] == 4.5
  pubsub = WriteToPubSubTopics.from_url('pubsub://projects/p/topics/sales')
  assert pubsub.mined_topic(ANOMALIES) == 'projects/p/topics/sales.alerts'
  message = encode_message(CUSTOMER_SEGMENTS, segment('new'))
  assert message['attributes'] == {'kind': CUSTOMER_SEGMENTS, 'key': 'c1'}
  assert json.loads(message['data'])['monetary_usd'] == '10.01'
  assert encode_message(PRODUCT_PAIRS, pair(3, 1.0))['attributes'][
      'pane_index'] == '3'


def test_bigquery_and_parquet_schemas_follow_the_declaration():
  for kind, spec in MINED_TABLES.items():
    assert [f[0] for f in mined_fields(kind)] == list(spec.names)
    assert mined_schema(kind).names == list(spec.names)
  assert dict((n, t) for n, t, _ in mined_fields(ANOMALIES))[
      'score'] == 'FLOAT64'
