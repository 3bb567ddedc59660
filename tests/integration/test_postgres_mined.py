"""The mined tables in a real PostgreSQL (tests/fixtures/postgres.py):
created on first write, newer pane wins, NULL scores, reruns change
nothing."""
from decimal import Decimal

import apache_beam as beam
import psycopg
import pytest
from apache_beam.testing import test_pipeline

from tests.fixtures.mined_rows import anomaly, pair, segment
from transforms.sinks.postgres_sink import WriteToPostgres

pytestmark = [pytest.mark.postgres, pytest.mark.integration,
              pytest.mark.mining]


def write(url, **kinds):
  with test_pipeline.TestPipeline(runner='FnApiRunner') as p:
    pcolls = {k: p | f'Create{k}' >> beam.Create(rows)
              for k, rows in kinds.items()}
    _ = pcolls | WriteToPostgres(url, track_run=False)


def rows(url, table):
  with psycopg.connect(url) as conn:
    cur = conn.cursor(row_factory=psycopg.rows.dict_row)
    return cur.execute(f'SELECT * FROM {table}').fetchall()


def test_postgres_mined_tables_upsert_by_their_declared_keys(
    postgres_database):
  url = postgres_database
  write(url, product_pairs=[pair(1, 2.5)], anomalies=[anomaly()],
        customer_segments=[segment('loyal')])
  write(url, product_pairs=[pair(0, 9.9, 'EARLY')])  # older: ignored
  assert rows(url, 'product_pairs')[0]['lift'] == 2.5
  assert rows(url, 'anomalies')[0]['score'] is None
  first = rows(url, 'customer_segments')
  assert first[0]['monetary_usd'] == Decimal('10.01')
  write(url, customer_segments=[segment('loyal')])
  assert rows(url, 'customer_segments') == first  # updated_at included
  write(url, customer_segments=[segment('new')], anomalies=[anomaly(7.5)])
  assert rows(url, 'customer_segments')[0]['label'] == 'new'
  # the same pane again (a replay) does not replace the row
  assert rows(url, 'anomalies')[0]['score'] is None
