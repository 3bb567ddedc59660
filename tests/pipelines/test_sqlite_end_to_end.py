"""`python -m pipeline --sink sqlite:///...` on the sample: the table holds
exactly the reference rows, and a second run leaves it byte-identical."""
import os
import sqlite3
import subprocess
import sys
from decimal import Decimal

from tests.reference import compute_expected

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
SAMPLE = os.path.join(ROOT, 'data', 'sample', 'orders.jsonl')


def run(db, out):
  proc = subprocess.run(
      [sys.executable, '-m', 'pipeline', '--input', SAMPLE, '--output',
       str(out), '--sink', f'sqlite:///{db}'], cwd=ROOT, capture_output=True,
      text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr


def dump(db, table):
  with sqlite3.connect(db) as conn:
    return conn.execute(f'SELECT * FROM {table} ORDER BY 1, 2, 3, 4').fetchall()


def test_sqlite_rows_match_reference_and_rerun_is_identical(tmp_path):
  db = tmp_path / 'sales.db'
  run(db, tmp_path / 'o1')
  first = {t: dump(db, t) for t in ('sales_by_category', 'top_products',
                                    'dead_letters')}
  run(db, tmp_path / 'o2')
  second = {t: dump(db, t) for t in first}
  assert first == second

  expected = compute_expected([SAMPLE], os.path.join(ROOT, 'data',
                                                     'catalog.csv'),
                              os.path.join(ROOT, 'data', 'fx_rates.csv'))
  with sqlite3.connect(db) as conn:
    rows = conn.execute(
        'SELECT category, orders, units, revenue_usd, distinct_customers '
        'FROM sales_by_category').fetchall()
  assert sorted((c, o, u, Decimal(r), d) for c, o, u, r, d in rows) == sorted(
      (r['category'], r['orders'], r['units'], r['revenue_usd'],
       r['distinct_customers']) for r in expected.results)
  assert len(first['dead_letters']) == len(expected.dead_letters)
