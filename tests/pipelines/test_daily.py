"""`--window daily --timezone TZ` on a bounded run, both engines, against
an independent computation (tests/daily_reference.py: DuckDB's time zones,
plain-Python sums).

The generated file crosses New York's 23-hour (8 March 2026) and 25-hour
(1 November 2026) days and Kathmandu's UTC+05:45 midnights, with orders
1 ms either side of each of those midnights.
"""
import os
import sqlite3

import pyarrow.parquet as pq
import pytest

from pipelines.cli import main
from pipelines.run import build_and_run
from tests.daily_reference import expected_daily, write_dst_orders
from tests.reference import compute_expected

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
SAMPLE = os.path.join(ROOT, 'data', 'sample', 'orders.jsonl')
CATALOG = os.path.join(ROOT, 'data', 'catalog.csv')
FX = os.path.join(ROOT, 'data', 'fx_rates.csv')

RESULT_KEYS = ('window_start_ms', 'window_end_ms', 'day', 'category', 'rank',
               'orders', 'units', 'revenue_usd', 'distinct_customers',
               'avg_order_value_usd')
TOP_KEYS = ('window_start_ms', 'window_end_ms', 'day', 'rank', 'product_id',
            'category', 'orders', 'units', 'revenue_usd')


def run_daily(tmp_path, inputs, tz, engine, *flags):
  out = tmp_path / 'out'
  build_and_run([arg for path in inputs for arg in ('--input', path)] + [
      '--output', str(out), '--window', 'daily', '--timezone', tz,
      f'--engine={engine}', *flags])
  return out


def parquet_rows(path, keys):
  rows = []
  for row in pq.read_table(path).to_pylist():
    assert row['customer_id'] == '' and row['is_final'], row
    row['window_start_ms'] = int(row.pop('window_start').timestamp() * 1000)
    row['window_end_ms'] = int(row.pop('window_end').timestamp() * 1000)
    rows.append(tuple(row[k] for k in keys))
  return sorted(rows, key=repr)


def expected_rows(rows, keys):
  return sorted((tuple(r[k] for k in keys) for r in rows), key=repr)


@pytest.mark.parametrize('tz, engine, with_sample', [
    ('America/New_York', 'arrow', True),
    ('America/New_York', 'records', False),
    ('Asia/Kathmandu', 'arrow', False),
], ids=['new_york-sample-arrow', 'new_york-records', 'kathmandu-arrow'])
def test_days_across_dst_changes_equal_an_independent_computation(
    tmp_path, tz, engine, with_sample):
  """with_sample: the bundled sample (dirty lines, duplicates, New York's
  25-hour 1 November 2026) is read too, in the same run."""
  path = tmp_path / 'dst.jsonl'
  write_dst_orders(str(path), CATALOG)
  inputs = [str(path)] + ([SAMPLE] if with_sample else [])
  db = tmp_path / 'daily.db'
  out = run_daily(tmp_path, inputs, tz, engine, '--sink', f'sqlite:///{db}')
  results, top = expected_daily(
      compute_expected(inputs, CATALOG, FX).orders, tz, CATALOG, FX)

  assert parquet_rows(out / 'sales_by_category.parquet',
                      RESULT_KEYS) == expected_rows(results, RESULT_KEYS)
  assert parquet_rows(out / 'top_products.parquet',
                      TOP_KEYS) == expected_rows(top, TOP_KEYS)
  hours = {r['day']: (r['window_end_ms'] - r['window_start_ms']) / 3_600_000
           for r in results}
  if tz == 'America/New_York':  # the DST days are really in the data
    assert hours['2026-03-08'] == 23 and hours['2026-11-01'] == 25
  else:
    assert set(hours.values()) == {24}
  # The store carries the same day and rank as the files.
  with sqlite3.connect(db) as con:
    stored = sorted(con.execute(
        'SELECT day, category, rank, revenue_usd FROM sales_by_category'
    ).fetchall(), key=repr)
  assert stored == sorted(((r['day'], r['category'], r['rank'],
                            str(r['revenue_usd'])) for r in results), key=repr)


def test_an_unknown_time_zone_is_one_line_and_a_non_zero_exit(capsys):
  code = main(['--window', 'daily', '--timezone', 'Mars/Olympus_Mons'])
  err = capsys.readouterr().err
  assert code != 0
  assert err.strip().splitlines() == [
      "error: unknown time zone 'Mars/Olympus_Mons': use an IANA name such "
      'as UTC, Europe/Berlin or America/New_York']
