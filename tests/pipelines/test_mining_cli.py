"""The CLI (in-process): `--anomalies --product_pairs --segments 5 --sink
sqlite:///...` on the sample fills the mined tables and files."""
import datetime
import os
import sqlite3
from decimal import Decimal

import pyarrow.parquet as pq
import pytest

from pipelines.cli import main
from tests.reference import compute_expected

pytestmark = pytest.mark.mining

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
SAMPLE = os.path.join(ROOT, 'data', 'sample', 'orders.jsonl')
MINED = ('anomalies', 'product_pairs', 'customer_segments', 'segment_summary')


def test_sample_run_fills_every_mined_table_and_file(tmp_path):
  db, out = tmp_path / 'sales.db', tmp_path / 'out'
  assert main(['--anomalies', '--product_pairs', '--min_pair_support',
               '0.001', '--segments', '5', '--input', SAMPLE, '--output',
               str(out), '--sink', f'sqlite:///{db}']) == 0
  with sqlite3.connect(db) as conn:
    counts = {t: conn.execute(f'SELECT count(*) FROM {t}').fetchone()[0]
              for t in MINED}
    segments = conn.execute(
        'SELECT count(DISTINCT segment), sum(customers) FROM segment_summary'
    ).fetchone()
    windows = conn.execute(
        "SELECT count(*) FROM sales_by_category WHERE customer_id = ''"
    ).fetchone()[0]
  assert all(counts.values()), counts
  expected = compute_expected([SAMPLE], os.path.join(ROOT, 'data',
                                                     'catalog.csv'),
                              os.path.join(ROOT, 'data', 'fx_rates.csv'))
  customers = len({o.customer_id for o in expected.orders})
  assert counts['customer_segments'] == customers
  assert segments == (5, customers)
  assert counts['anomalies'] == 2 * windows  # revenue and orders per row
  # The mining steps leave the existing tables as the reference has them.
  with sqlite3.connect(db) as conn:
    rows = conn.execute(
        'SELECT window_start, category, orders, units, revenue_usd, '
        'distinct_customers FROM sales_by_category').fetchall()
    dead = conn.execute('SELECT count(*) FROM dead_letters').fetchone()[0]
  assert sorted((s[:19], c, o, u, Decimal(r), d)
                for s, c, o, u, r, d in rows) == sorted(
      (datetime.datetime.fromtimestamp(
          r['window_start_ms'] / 1000, datetime.timezone.utc).strftime(
              '%Y-%m-%dT%H:%M:%S'), r['category'],
       r['orders'], r['units'], r['revenue_usd'], r['distinct_customers'])
      for r in expected.results)
  assert dead == len(expected.dead_letters)
  for table in MINED:
    assert pq.read_table(out / f'{table}.parquet').num_rows == counts[table]


@pytest.mark.parametrize('flags, message', [
    (('--segments', '5', '--streaming'), '--segments clusters a whole'),
    (('--segments', '1'), '--segments must be between 2 and 50'),
    (('--product_pairs', '--min_pair_support', '0'), '--min_pair_support'),
    (('--anomalies', '--anomaly_detector', 'magic'), '--anomaly_detector'),
])
def test_bad_mining_flags_are_one_clear_line(flags, message, capsys):
  assert main(list(flags)) != 0
  err = capsys.readouterr().err
  assert message in err and len(err.strip().splitlines()) == 1, err
