"""PaneMerger (transforms/vectorized/pane_merge.py): each pane's summary is
the one of all its partials, whatever merges were kept before; expected
figures are summed in plain Python from the orders themselves."""
from collections import defaultdict
from decimal import Decimal
from typing import Dict, List, Tuple

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.vectorized import pane_merge
from transforms.vectorized.pane_merge import PaneMerger
from transforms.vectorized.partials import partial_tables
from transforms.windowing import WindowPolicy

CATALOG = {'P1': ('toys', 'Kite'), 'P2': ('toys', 'Ball'),
           'P3': ('books', 'Atlas')}  # P4: not in the catalog ('unknown')
AMOUNT = pa.decimal128(20, 4)
HOUR_MS = 3_600_000

Order = Tuple[str, str, int, Decimal]  # customer, product, quantity, amount

orders_st = st.lists(
    st.tuples(st.sampled_from(['a', 'b', 'c', 'd', 'e']),
              st.sampled_from(['P1', 'P2', 'P3', 'P4']),
              st.integers(1, 5),
              st.decimals(Decimal('0.01'), Decimal('999.99'), places=2)),
    min_size=1, max_size=6)


def partials_of(orders: List[Order], window: int = 0) -> list:
  """The Partials of one batch of orders, all in the window's hour."""
  policy = WindowPolicy(bounded=False)
  table = pa.table({
      'product_id': [o[1] for o in orders],
      'customer_id': [o[0] for o in orders],
      'quantity': pa.array([o[2] for o in orders], pa.int64()),
      'amount': pa.array([o[3] for o in orders], AMOUNT),
      'event_ms': pa.array([window * HOUR_MS + 1000] * len(orders),
                           pa.int64()),
  })
  return [p for _, p in partial_tables(table, CATALOG, policy)]


def expected(orders: List[Order]) -> Dict:
  """Per category and product: orders, units, revenue, distinct customers;
  and the window's distinct customers; summed in plain Python."""
  cats: Dict = defaultdict(lambda: [0, 0, Decimal(0), set()])
  prods: Dict = defaultdict(lambda: [0, 0, Decimal(0)])
  for customer, product, quantity, amount in orders:
    category = CATALOG.get(product, ('unknown', ''))[0]
    c = cats[category]
    c[0] += 1
    c[1] += quantity
    c[2] += amount
    c[3].add(customer)
    p = prods[product]
    p[0] += 1
    p[1] += quantity
    p[2] += amount
  return {
      'categories': {k: (v[0], v[1], v[2], len(v[3]))
                     for k, v in cats.items()},
      'products': {k: tuple(v) for k, v in prods.items()},
      'customers': len({o[0] for o in orders}),
  }


def observed(summary) -> Dict:
  return {
      'categories': {k: (v.orders, v.units, Decimal(v.revenue),
                         len(v.customers))
                     for k, v in summary.categories.items()},
      'products': {k: (v.orders, v.units, Decimal(v.revenue))
                   for k, v in summary.products.items()},
      'customers': len(summary.total().customers),
  }


@settings(max_examples=150, deadline=None)
@given(batches=st.lists(orders_st, min_size=1, max_size=8),
       other=st.lists(orders_st, min_size=1, max_size=4),
       panes=st.lists(st.integers(1, 8), min_size=1, max_size=10))
def test_every_pane_is_the_summary_of_all_its_partials(batches, other,
                                                       panes):
  """Panes of two windows interleaved through one merger; a pane holds the
  first n batches of its window, n growing or not (a retried pane may hold
  fewer than the last one)."""
  merger = PaneMerger(keep=3)
  second = [p for b in other for p in partials_of(b, window=1)]
  first = [partials_of(b) for b in batches]  # a pane re-delivers them
  for n in panes:
    n = min(n, len(batches))
    mine = [p for ps in first[:n] for p in ps]
    assert observed(merger.summary(mine)) == expected(
        [o for b in batches[:n] for o in b])
    assert observed(merger.summary(second)) == expected(
        [o for b in other for o in b])


def test_a_pane_merges_only_the_partials_the_last_one_did_not_hold(
    monkeypatch):
  batches = [[('a', 'P1', 1, Decimal('1.50'))],
             [('b', 'P3', 2, Decimal('2.25'))],
             [('a', 'P2', 3, Decimal('4.00')), ('c', 'P4', 1, Decimal('1'))]]
  merged: List[int] = []
  real = pane_merge.merged_tables
  monkeypatch.setattr(pane_merge, 'merged_tables',
                      lambda partials: merged.append(len(partials))
                      or real(partials))
  merger = PaneMerger()
  partials = [partials_of(b)[0] for b in batches]
  merger.summary(partials[:2])
  summary = merger.summary(partials)  # the partials in another order
  assert merged == [2, 1]
  assert observed(summary) == expected([o for b in batches for o in b])
  assert merger.summary(partials[:1]) is not None  # holds no kept merge
  assert merged == [2, 1, 1]


def test_two_partials_of_the_same_orders_both_count():
  """Two batches with the same content are two partials (two tokens)."""
  batch = [('a', 'P1', 2, Decimal('3.00'))]
  one, twin = partials_of(batch)[0], partials_of(batch)[0]
  assert one[:3] == twin[:3] and pane_merge.token(one) != pane_merge.token(
      twin)
  merger = PaneMerger()
  assert observed(merger.summary([one])) == expected(batch)
  assert observed(merger.summary([one, twin])) == expected(batch * 2)


def test_an_empty_pane_has_no_categories():
  assert not PaneMerger().summary([]).categories
