"""`python -m pipeline` on the sample vs an independent computation.

The expected rows come from tests/reference.py, which re-implements
docs/semantics.md in plain Python without importing the pipeline's code.
Every row must match exactly, revenue to the cent.
"""
import json
import os
import subprocess
import sys
from decimal import Decimal

import pyarrow.parquet as pq
import pytest

from tests.reference import compute_expected

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
SAMPLE = os.path.join(ROOT, 'data', 'sample', 'orders.jsonl')
CATALOG = os.path.join(ROOT, 'data', 'catalog.csv')
FX = os.path.join(ROOT, 'data', 'fx_rates.csv')

RESULT_KEYS = ('window_start_ms', 'window_end_ms', 'customer_id', 'category',
               'orders', 'units', 'revenue_usd', 'distinct_customers',
               'avg_order_value_usd')
TOP_KEYS = ('window_start_ms', 'window_end_ms', 'customer_id', 'rank',
            'product_id', 'product_name', 'category', 'orders', 'units',
            'revenue_usd')


def run_pipeline(output, *flags):
  proc = subprocess.run(
      [sys.executable, '-m', 'pipeline', '--input', SAMPLE, '--output',
       str(output), *flags], cwd=ROOT, capture_output=True, text=True,
      timeout=600)
  assert proc.returncode == 0, proc.stderr
  return proc


def parquet_rows(path, keys):
  rows = []
  for row in pq.read_table(path).to_pylist():
    row['window_start_ms'] = int(row.pop('window_start').timestamp() * 1000)
    row['window_end_ms'] = int(row.pop('window_end').timestamp() * 1000)
    assert row['pane_timing'] == 'ON_TIME' and row['is_final'], row
    assert row['pane_index'] == 0
    rows.append(tuple(row[k] for k in keys))
  return sorted(rows)


def expected_rows(rows, keys):
  return sorted(tuple(r[k] for k in keys) for r in rows)


@pytest.mark.parametrize('flags, window', [
    ((), dict(window='fixed', size_s=3600)),
    (('--window=sliding', '--window_size_seconds=7200',
      '--window_period_seconds=1800'),
     dict(window='sliding', size_s=7200, period_s=1800)),
    (('--window=sessions', '--session_gap_seconds=1800'),
     dict(window='sessions', gap_s=1800)),
], ids=['fixed', 'sliding', 'sessions'])
def test_sample_output_matches_independent_computation(tmp_path, flags,
                                                       window):
  out = tmp_path / 'out'
  proc = run_pipeline(out, *flags)
  expected = compute_expected([SAMPLE], CATALOG, FX, top_n=5, **window)

  assert parquet_rows(out / 'sales_by_category.parquet',
                      RESULT_KEYS) == expected_rows(expected.results,
                                                    RESULT_KEYS)
  assert parquet_rows(out / 'top_products.parquet',
                      TOP_KEYS) == expected_rows(expected.top_products,
                                                 TOP_KEYS)

  with open(out / 'dead_letters.jsonl') as f:
    dead = sorted((d['reason'], d['source'], d['position'])
                  for d in map(json.loads, f))
  assert dead == sorted(expected.dead_letters)

  summary = json.loads((out / 'summary.json').read_text())
  assert summary['records_read'] == expected.counts['read']
  assert summary['valid'] == expected.counts['valid']
  assert summary['duplicates'] == expected.counts['duplicates']
  assert summary['dead_letters'] == expected.reasons
  assert summary['reconciles'] is True
  assert f"records read      {expected.counts['read']}" in proc.stdout
  # Top categories: the window rows summed, sliding windows only where
  # they tile the timeline (starts on a multiple of the size).
  sliding = window['window'] == 'sliding'
  tile_ms = int(window['size_s'] * 1000) if sliding else 0
  totals = {}
  for r in expected.results:
    if r['category'] != '__all__' and not (
        tile_ms and r['window_start_ms'] % tile_ms):
      totals[r['category']] = totals.get(r['category'], Decimal(0)) + Decimal(
          r['revenue_usd'])
  top = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
  assert 'top categories    ' + ', '.join(
      f'{name} ${value:,.2f}' for name, value in top) in proc.stdout


def test_every_dirty_kind_of_the_sample_is_a_dead_letter_with_position(
    tmp_path):
  out = tmp_path / 'out'
  run_pipeline(out)
  with open(out / 'dead_letters.jsonl') as f:
    letters = [json.loads(line) for line in f]
  reasons = {d['reason'] for d in letters}
  for field in ('order_id', 'customer_id', 'product_id', 'quantity',
                'unit_price', 'currency', 'event_time'):
    assert f'missing_field:{field}' in reasons
  for reason in ('malformed', 'bad_type:quantity', 'bad_type:unit_price',
                 'out_of_range:quantity', 'out_of_range:unit_price',
                 'unknown_currency', 'bad_time'):
    assert reason in reasons
  with open(SAMPLE, 'rb') as f:
    lines = f.read().split(b'\n')
  for letter in letters:
    # the payload is the raw line at the reported position
    assert letter['source'] == SAMPLE
    assert lines[letter['position'] - 1].decode('utf-8', 'replace') == (
        letter['payload'])


def test_revenue_is_exact_to_the_cent(tmp_path):
  out = tmp_path / 'out'
  run_pipeline(out)
  table = pq.read_table(out / 'sales_by_category.parquet').to_pylist()
  totals = [r for r in table if r['category'] == '__all__']
  expected = compute_expected([SAMPLE], CATALOG, FX)
  exact_total = sum(
      (o.quantity * o.unit_price * _rates()[o.currency]
       for o in expected.orders), Decimal(0))
  # per-window cents may round either way, but never drift by more than
  # half a cent per window from the exact grand total
  got = sum(r['revenue_usd'] for r in totals)
  assert abs(got - exact_total) <= Decimal('0.005') * len(totals)


def _rates():
  import csv
  with open(FX) as f:
    return {r['currency']: Decimal(r['usd_per_unit'])
            for r in csv.DictReader(f)}
