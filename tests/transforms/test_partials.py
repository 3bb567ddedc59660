"""partial_tables (transforms/vectorized/partials.py): rows of any time
order -> one Partial per time unit, whose merge (summaries.py) is the
unit's orders summed in plain Python."""
from collections import defaultdict
from decimal import Decimal
from typing import Dict, List, Tuple

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.vectorized.partials import partial_tables, read_ipc
from transforms.vectorized.summaries import summary_of_partials
from transforms.windowing import WindowPolicy

CATALOG = {'P1': ('toys', 'Kite'), 'P2': ('toys', 'Ball'),
           'P3': ('books', 'Atlas')}  # P4: not in the catalog ('unknown')
HOUR_MS = 3_600_000

# customer, product, quantity, amount, event time (ms)
Order = Tuple[str, str, int, Decimal, int]

orders_st = st.lists(
    st.tuples(st.sampled_from(['a', 'b', 'c', 'd']),
              st.sampled_from(['P1', 'P2', 'P3', 'P4']),
              st.integers(1, 5),
              st.decimals(Decimal('0.01'), Decimal('999.99'), places=2),
              st.integers(0, 4 * HOUR_MS - 1)),
    min_size=1, max_size=40)


def table_of(orders: List[Order]) -> pa.Table:
  return pa.table({
      'product_id': [o[1] for o in orders],
      'customer_id': [o[0] for o in orders],
      'quantity': pa.array([o[2] for o in orders], pa.int64()),
      'amount': pa.array([o[3] for o in orders], pa.decimal128(38, 12)),
      'event_ms': pa.array([o[4] for o in orders], pa.int64()),
  })


def expected(orders: List[Order]) -> Dict[int, Dict]:
  """Per hour: per category and product, orders, units, revenue (and a
  product's name and category), distinct customers; plain Python."""
  out: Dict[int, Dict] = {}
  for hour in sorted({o[4] // HOUR_MS for o in orders}):
    cats: Dict = defaultdict(lambda: [0, 0, Decimal(0), set()])
    prods: Dict = defaultdict(lambda: [0, 0, Decimal(0), '', ''])
    mine = [o for o in orders if o[4] // HOUR_MS == hour]
    for customer, product, quantity, amount, _ in mine:
      category, name = CATALOG.get(product, ('unknown', ''))
      for stats in (cats[category], prods[product]):
        stats[0] += 1
        stats[1] += quantity
        stats[2] += amount
      cats[category][3].add(customer)
      prods[product][3:] = [category, name]
    out[hour * HOUR_MS] = {
        'categories': {k: (v[0], v[1], v[2], len(v[3]))
                       for k, v in cats.items()},
        'products': {k: tuple(v) for k, v in prods.items()},
        'customers': len({o[0] for o in mine}),
    }
  return out


def observed(summary) -> Dict:
  return {
      'categories': {k: (v.orders, v.units, Decimal(v.revenue),
                         len(v.customers))
                     for k, v in summary.categories.items()},
      'products': {k: (v.orders, v.units, Decimal(v.revenue), v.category,
                       v.name)
                   for k, v in summary.products.items()},
      'customers': len(summary.total().customers),
  }


@settings(max_examples=150, deadline=None)
@given(orders=orders_st)
def test_each_units_partial_merges_to_its_orders_summed(orders):
  policy = WindowPolicy(bounded=True)  # fixed hours: a unit is an hour
  got = partial_tables(table_of(orders), CATALOG, policy)
  want = expected(orders)
  assert [unit for unit, _ in got] == sorted(want)
  for unit, partial in got:
    for sets in (True, False):
      assert observed(summary_of_partials([partial], sets)) == want[unit]


def test_a_partials_tables_keep_their_columns():
  """Partials cross the shuffle and a streaming run's state: the columns of
  each table stay what a merge of older partials expects."""
  (_, partial), = partial_tables(
      table_of([('a', 'P1', 2, Decimal('3.50'), 5)]), CATALOG,
      WindowPolicy(bounded=True))
  assert [read_ipc(t).column_names for t in partial[:3]] == [
      ['category', 'quantity_sum', 'quantity_count', 'amount_sum'],
      ['product_id', 'category', 'quantity_sum', 'quantity_count',
       'amount_sum', 'name'],
      ['category', 'customer_id']]
