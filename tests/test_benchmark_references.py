"""The benchmark's DuckDB, polars and pandas references agree with
tests/reference.py (the independent plain-Python reading of
docs/semantics.md) on a small generated file: counts per dead-letter reason,
and per window and category orders, units, revenue (cents), customers."""
import pytest

from benchmarks.references import IMPLS, canonical
from pipelines.options import DEFAULT_CATALOG, DEFAULT_FX_RATES
from tests.reference import compute_expected
from tools.generate_orders import write_orders


@pytest.fixture(scope='module')
def generated(tmp_path_factory):
  path = tmp_path_factory.mktemp('bench') / 'orders.jsonl'
  # A high dirty rate so that every dirty variant (every reason) occurs.
  write_orders(path, 6000, seed=77, dirty_rate=0.05, duplicate_rate=0.03)
  expected = compute_expected([str(path)], DEFAULT_CATALOG, DEFAULT_FX_RATES,
                              top_n=5)
  rows = [(r['window_start_ms'], r['category'], r['orders'], r['units'],
           r['revenue_usd'], r['distinct_customers'])
          for r in expected.results]
  want = {'counts': dict(sorted(expected.counts.items())),
          'rows': sorted([w, c, o, u, str(rev), d]
                         for w, c, o, u, rev, d in rows)}
  return str(path), want


@pytest.mark.parametrize('impl', sorted(IMPLS))
def test_reference_agrees_with_tests_reference(generated, impl):
  path, want = generated
  got = IMPLS[impl](path, DEFAULT_CATALOG, DEFAULT_FX_RATES, 3600)
  assert got['counts'] == want['counts']
  assert got['rows'] == want['rows']
  assert len(want['counts']) > 15  # most dead-letter reasons are present


def test_canonical_rounds_half_up_only_at_the_end():
  # 0.005 USD exactly (scaled by 10**14) rounds up to 0.01.
  doc = canonical({'read': 1, 'valid': 1, 'duplicates': 0},
                  [(0, '__all__', 1, 1, 5 * 10 ** 11, 1)])
  assert doc['rows'] == [[0, '__all__', 1, 1, '0.01', 1]]
  assert doc['counts']['dead_letters'] == 0
