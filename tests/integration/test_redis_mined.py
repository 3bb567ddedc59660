"""The mined tables in a real Redis (services/redis/redis.sh): every row of
every mined table as the SQLite sink writes it, the newer pane wins, a
NULL column is an absent field, a rerun changes nothing."""
import os
import sqlite3

import apache_beam as beam
import pytest
from apache_beam.testing import test_pipeline

from pipelines.cli import main
from tests.fixtures.mined_rows import T0, anomaly, pair, segment
from transforms.sinks.redis_sink import WriteToRedis

pytestmark = [pytest.mark.redis, pytest.mark.integration,
              pytest.mark.mining]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
SAMPLE = os.path.join(ROOT, 'data', 'sample', 'orders.jsonl')
MINED = ('anomalies', 'product_pairs', 'customer_segments', 'segment_summary')


def write(url, password, **kinds):
  with test_pipeline.TestPipeline(runner='FnApiRunner') as p:
    pcolls = {k: p | f'Create{k}' >> beam.Create(rows)
              for k, rows in kinds.items()}
    _ = pcolls | WriteToRedis(url, password=password)


def redis_table(client, table):
  """The table's rows from its index and hashes, updated_at left out."""
  ids = client.zrange(f'sales:{table}', 0, -1)
  rows = [client.hgetall(f'sales:{table}:{i}') for i in ids]
  return sorted(tuple(sorted((k, v) for k, v in r.items()
                             if k != 'updated_at')) for r in rows)


def sqlite_table(db, table):
  """The same, from SQLite: NULL columns left out, values as text."""
  with sqlite3.connect(db) as conn:
    cur = conn.execute(f'SELECT * FROM {table}')
    names = [d[0] for d in cur.description]
    return sorted(tuple(sorted((n, str(v)) for n, v in zip(names, row)
                               if v is not None and n != 'updated_at'))
                  for row in cur)


def test_a_mining_run_writes_every_mined_table_as_sqlite_does(
    redis_server, redis_db, tmp_path):
  url, client = redis_db
  db = tmp_path / 'sales.db'
  assert main(['--anomalies', '--product_pairs', '--min_pair_support',
               '0.001', '--segments', '4', '--input', SAMPLE, '--output', '',
               '--sink', f'sqlite:///{db}', '--sink', url,
               '--redis_password', redis_server.password_ref]) == 0
  for table in MINED:
    expected = sqlite_table(db, table)
    assert expected, table
    assert redis_table(client, table) == expected, table
  # Windowed tables expire with the retention; the segments do not.
  some_alert = client.zrange('sales:anomalies', 0, 0)[0]
  assert 0 < client.ttl(f'sales:anomalies:{some_alert}') <= 7 * 24 * 3600
  some_customer = client.zrange('sales:customer_segments', 0, 0)[0]
  assert client.ttl(f'sales:customer_segments:{some_customer}') == -1


def test_redis_mined_rows_keep_the_newest_pane_and_skip_unchanged_rows(
    redis_server, redis_db):
  url, client = redis_db
  ref = redis_server.password_ref
  pair_key = f'sales:product_pairs:{T0}|{T0 + 86_400_000}|P1|P2'
  alert_key = f'sales:anomalies:{T0}|{T0 + 3_600_000}|__all__|orders'
  write(url, ref, product_pairs=[pair(1, 2.5)], anomalies=[anomaly()],
        customer_segments=[segment('loyal')])
  write(url, ref, product_pairs=[pair(0, 9.9, 'EARLY')])  # older: ignored
  assert client.hget(pair_key, 'lift') == '2.5'
  assert 'score' not in client.hgetall(alert_key)  # NULL: no field
  first = client.hgetall('sales:customer_segments:c1')
  assert first['monetary_usd'] == '10.01' and first['label'] == 'loyal'
  write(url, ref, customer_segments=[segment('loyal')])
  assert client.hgetall('sales:customer_segments:c1') == first  # updated_at
  write(url, ref, customer_segments=[segment('new')],
        anomalies=[anomaly(7.5)])
  assert client.hget('sales:customer_segments:c1', 'label') == 'new'
  # the same pane again (a replay) does not replace the row
  assert 'score' not in client.hgetall(alert_key)
  assert client.zrange('sales:product_pairs', 0, -1, withscores=True) == [
      (f'{T0}|{T0 + 86_400_000}|P1|P2', float(T0))]
