"""Pre-aggregation on columns: first-seen rows -> partial summaries per
time unit of event time, joined with the product catalog.

A time unit (WindowPolicy.unit_starts_ms) is a span of event time that lies
entirely inside one set of windows, so a partial stamped at its unit's
start is assigned by Beam's WindowFn to exactly the windows its orders
belong to. For fixed, sliding and daily windows a partial is a `Partial`:
three small Arrow IPC tables (per category, per product, the customers of
each category); for sessions (per customer, unit = the event time itself) and
for exotic rows it is the record path's SalesSummary. The catalog lookup is
the record path's rule (transforms/enrich.py): an unknown product gets
category `unknown` and an empty name.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.transforms import window

from transforms.aggregate import CategoryStats, ProductStats, SalesSummary
from transforms.enrich import Catalog, CatalogDoFn, CatalogInput
from transforms.records import UNKNOWN_CATEGORY, EnrichedOrder
from transforms.windowing import SESSIONS, WindowPolicy


class _CatalogArrays:
  """The catalog as Arrow arrays, looked up a column at a time; a product it
  lacks gets category UNKNOWN_CATEGORY and name '' (enrich.py's rule)."""

  def __init__(self, catalog: Catalog) -> None:
    ids = sorted(catalog)
    self._ids = pa.array(ids, pa.string())
    self._categories = pa.array([catalog[p][0] for p in ids], pa.string())
    self._names = pa.array([catalog[p][1] for p in ids], pa.string())

  def categories(self, product_ids: pa.Array) -> pa.Array:
    index = pc.index_in(product_ids, value_set=self._ids)
    return pc.fill_null(pc.take(self._categories, index), UNKNOWN_CATEGORY)

  def names(self, product_ids: pa.Array) -> pa.Array:
    index = pc.index_in(product_ids, value_set=self._ids)
    return pc.fill_null(pc.take(self._names, index), '')


def partial_summaries(table: pa.Table, exotic: Sequence[EnrichedOrder],
                      catalog: Catalog, policy: WindowPolicy
                      ) -> List[Tuple[int, str, SalesSummary]]:
  """[(unit start ms, scope, partial SalesSummary)] of deduplicated rows."""
  per_customer = policy.kind == SESSIONS
  summaries: Dict[Tuple[int, str], SalesSummary] = {}

  def summary_for(unit: int, scope: str) -> SalesSummary:
    s = summaries.get((unit, scope))
    if s is None:
      s = summaries[(unit, scope)] = SalesSummary()
    return s

  if exotic:
    is_exotic = pc.is_valid(table['exotic'])
    odd = table.filter(is_exotic)
    odd_units = policy.unit_starts_ms(odd['event_ms'].to_numpy()).tolist()
    for idx, unit in zip(odd['exotic'].to_pylist(), odd_units):
      order = exotic[idx]
      category, name = catalog.get(order.product_id, (UNKNOWN_CATEGORY, ''))
      order = order._replace(category=category, product_name=name)
      summary_for(unit, order.customer_id if per_customer else '').add(order)
    table = table.filter(pc.invert(is_exotic))
  if table.num_rows == 0:
    return [(u, s, m) for (u, s), m in summaries.items()]

  event_ms = table['event_ms'].to_numpy()
  units = policy.unit_starts_ms(event_ms)
  category = _CatalogArrays(catalog).categories(table['product_id'])
  # For fixed, sliding and daily windows the scope is '' (a null key here).
  scope = (table['customer_id'] if per_customer else
           pa.nulls(table.num_rows, pa.string()))
  t = pa.table({
      'unit': pa.array(units, pa.int64()),
      'scope': scope,
      'category': category,
      'product_id': table['product_id'],
      'customer_id': table['customer_id'],
      'quantity': table['quantity'],
      'amount': table['amount'],
  })
  by_product = t.group_by(['unit', 'scope', 'product_id'],
                          use_threads=False).aggregate(
      [('quantity', 'sum'), ('quantity', 'count'), ('amount', 'sum')])
  by_category = t.group_by(['unit', 'scope', 'category'],
                           use_threads=False).aggregate(
      [('quantity', 'sum'), ('quantity', 'count'), ('amount', 'sum'),
       ('customer_id', 'distinct')])

  for unit, sc, cat, units_, orders, revenue, customers in zip(
      *(by_category[c].to_pylist() for c in (
          'unit', 'scope', 'category', 'quantity_sum', 'quantity_count',
          'amount_sum', 'customer_id_distinct'))):
    summary = summary_for(unit, sc or '')
    stats = CategoryStats()
    stats.orders, stats.units, stats.revenue = orders, units_, revenue
    stats.customers = set(customers)
    mine = summary.categories.get(cat)
    if mine is None:
      summary.categories[cat] = stats
    else:
      mine.merge(stats)
  for unit, sc, product, units_, orders, revenue in zip(
      *(by_product[c].to_pylist() for c in (
          'unit', 'scope', 'product_id', 'quantity_sum', 'quantity_count',
          'amount_sum'))):
    summary = summary_for(unit, sc or '')
    category, name = catalog.get(product, (UNKNOWN_CATEGORY, ''))
    stats = ProductStats(name, category)
    stats.orders, stats.units, stats.revenue = orders, units_, revenue
    mine = summary.products.get(product)
    if mine is None:
      summary.products[product] = stats
    else:
      mine.merge(stats)
  return [(u, s, m) for (u, s), m in summaries.items()]


# Categories, products, customers (Arrow IPC tables), and a random token
# naming this partial: a window's panes re-deliver the same partials, and
# pane_merge.py knows which it has merged already by their tokens.
Partial = Tuple[bytes, bytes, bytes, bytes]
TOKEN_BYTES = 16


def _ipc(table: pa.Table) -> bytes:
  sink = pa.BufferOutputStream()
  # Only large tables are worth compressing (a codec per buffer costs).
  options = pa.ipc.IpcWriteOptions(
      compression='zstd' if table.nbytes > (64 << 10) else None)
  with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
    writer.write_table(table)
  return sink.getvalue().to_pybytes()


def read_ipc(data: bytes) -> pa.Table:
  return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


# The summed columns of a Partial's category and product tables.
STATS = ('quantity_sum', 'quantity_count', 'amount_sum')


def summed(table: pa.Table, keys: List[str]) -> pa.Table:
  """The STATS of `table` summed per `keys`, under their own names (so a
  merged table merges again like a Partial's)."""
  out = table.group_by(keys, use_threads=False).aggregate(
      [(c, 'sum') for c in STATS])
  return out.rename_columns([n[:-4] if n[:-4] in STATS else n
                             for n in out.column_names])


def _unit_slices(table: pa.Table) -> Dict[int, pa.Table]:
  """A table in order of its `unit` column -> {unit: its rows, without the
  column}."""
  units = table['unit'].to_numpy()
  starts = np.flatnonzero(np.r_[True, units[1:] != units[:-1]])
  bounds = np.r_[starts, len(units)]
  table = table.drop_columns(['unit'])
  return {int(units[a]): table.slice(a, b - a)
          for a, b in zip(bounds[:-1], bounds[1:])}


def partial_tables(table: pa.Table, catalog: Catalog, policy: WindowPolicy
                   ) -> List[Tuple[int, Partial]]:
  """[(unit start ms, Partial)] of deduplicated, non-exotic rows (fixed,
  sliding and daily windows).

  The rows are put in unit order once, so a unit's customers are a slice
  of them; they are not made distinct here: a window's merge does that
  (summaries.merged_tables), and within one bucket and unit almost every
  order is another customer's. A product's category is a catalog lookup,
  so products are grouped by (unit, product) and categories summed from
  those groups (Arrow's group-by does not keep the rows' order: the small
  grouped tables are sorted)."""
  if table.num_rows == 0:
    return []
  units = policy.unit_starts_ms(table['event_ms'].to_numpy())
  order = np.argsort(units, kind='stable')
  t = pa.table({'unit': pa.array(units[order], pa.int64()),
                **{c: table[c].take(order) for c in (
                    'product_id', 'customer_id', 'quantity', 'amount')}})
  lookup = _CatalogArrays(catalog)
  by_product = t.group_by(['unit', 'product_id'], use_threads=False
                          ).aggregate([('quantity', 'sum'),
                                       ('quantity', 'count'),
                                       ('amount', 'sum')])
  by_product = by_product.append_column(
      'category', lookup.categories(by_product['product_id'])
  ).append_column('name', lookup.names(by_product['product_id']))
  by_product = by_product.select(['unit', 'product_id', 'category', *STATS,
                                  'name'])  # a Partial's columns, as ever
  by_category = summed(by_product, ['unit', 'category'])
  customers = pa.table({'unit': t['unit'],
                        'category': lookup.categories(t['product_id']),
                        'customer_id': t['customer_id']})
  cats, prods, custs = (_unit_slices(by_category.sort_by('unit')),
                        _unit_slices(by_product.sort_by('unit')),
                        _unit_slices(customers))
  empty = pa.table({})
  return [(unit, (_ipc(cats[unit]), _ipc(prods.get(unit, empty)),
                  _ipc(custs.get(unit, empty)), os.urandom(TOKEN_BYTES)))
          for unit in cats]


def unit_partials(table: pa.Table, exotic: Sequence[Any], catalog: Dict,
                  policy) -> Iterable[window.TimestampedValue]:
  """Deduplicated rows -> (scope, partial) per time unit, stamped at the
  unit's start: a Partial for fixed, sliding and daily windows, a
  SalesSummary for sessions and exotic rows
  (aggregate.partial_tables/partial_summaries)."""
  if policy.kind != SESSIONS:
    if exotic:
      is_exotic = pc.is_valid(table['exotic'])
      for unit, scope, summary in partial_summaries(
          table.filter(is_exotic), exotic, catalog, policy):
        yield window.TimestampedValue((scope, summary), unit / 1000.0)
      table = table.filter(pc.invert(is_exotic))
    for unit, partial in partial_tables(table, catalog, policy):
      yield window.TimestampedValue(('', partial), unit / 1000.0)
    return
  for unit, scope, summary in partial_summaries(table, exotic, catalog,
                                                policy):
    yield window.TimestampedValue((scope, summary), unit / 1000.0)




class PreAggregateFn(CatalogDoFn):
  """(rows, exotic) -> (scope, partial) per time unit, stamped at the unit's
  start, each product joined with the catalog (enrich.CatalogDoFn)."""

  def __init__(self, policy: WindowPolicy, catalog: CatalogInput) -> None:
    super().__init__(catalog)
    self._policy = policy

  def process(self, rows: Tuple[pa.Table, List[Any]],
              catalog: Optional[Catalog] = None) -> Iterable:
    table, exotic = rows
    yield from unit_partials(table, exotic, self.catalog(catalog),
                             self._policy)


@beam.ptransform_fn
def PreAggregate(  # pylint: disable=invalid-name  (a PTransform's name)
    rows: beam.PCollection, policy: WindowPolicy,
    catalog: CatalogInput) -> beam.PCollection:
  """PCollection[(rows, exotic)] -> (scope, partial) stamped per time unit."""
  return rows | 'SumPerTimeUnit' >> catalog.par_do(
      PreAggregateFn(policy, catalog))
