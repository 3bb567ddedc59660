"""Vectorized dedupe and pre-aggregation of valid-order tables.

- `bucket_of`: a stable (process-independent) hash of order_id -> bucket, so
  that all copies of an order meet in one bucket after a shuffle.
- `keep_first_seen`: exactly one row per order_id, the smallest k (k = source
  rank << 40 | position, i.e. the smallest (source, position)).
- `partial_summaries`: per (time unit, scope) one `SalesSummary` partial
  (transforms.aggregate), built from pyarrow group_by results. A time unit is
  a span of event time that lies entirely inside the same set of windows
  (fixed: the window; sliding: gcd(size, period); sessions: the exact event
  time per customer), so a partial timestamped at the unit's start is
  assigned by Beam's WindowFn to exactly the windows its orders belong to.
"""
from __future__ import annotations

import math
from typing import Dict, Iterable, List, Sequence, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.aggregate import SalesSummary, _CategoryStats, _ProductStats
from transforms.enrich import Catalog
from transforms.records import UNKNOWN_CATEGORY, EnrichedOrder
from transforms.windowing import FIXED, SESSIONS, SLIDING, WindowPolicy

_MIX1 = np.uint64(0xbf58476d1ce4e5b9)
_MIX2 = np.uint64(0x94d049bb133111eb)
_WEIGHTS = np.array([0x9e3779b97f4a7c15 * (2 * i + 1) % (1 << 64)
                     for i in range(16)], np.uint64)


def bucket_of(ids: pa.Array, buckets: int) -> np.ndarray:
  """A stable hash of each string (its length, first and last 8 bytes),
  modulo `buckets`; the same in every process (unlike Python's hash())."""
  if isinstance(ids, pa.ChunkedArray):
    ids = ids.combine_chunks()
  n = len(ids)
  if buckets == 1 or n == 0:
    return np.zeros(n, np.int64)
  offsets = np.frombuffer(ids.buffers()[1], np.int32)[
      ids.offset:ids.offset + n + 1].astype(np.int64)
  data = np.frombuffer(ids.buffers()[2], np.uint8)
  starts, ends = offsets[:-1, None], offsets[1:, None]
  span = np.arange(8)[None, :]
  head = starts + span
  tail = ends - 1 - span
  idx = np.concatenate([head, tail], axis=1)
  inside = np.concatenate([head < ends, tail >= starts], axis=1)
  picked = np.where(inside, data[np.clip(idx, 0, max(len(data) - 1, 0))], 0)
  with np.errstate(over='ignore'):
    h = (picked.astype(np.uint64) * _WEIGHTS[None, :]).sum(
        axis=1, dtype=np.uint64)
    h ^= (ends[:, 0] - starts[:, 0]).astype(np.uint64) * _MIX2
    h ^= h >> np.uint64(30)
    h *= _MIX1
    h ^= h >> np.uint64(27)
    h *= _MIX2
    h ^= h >> np.uint64(31)
  return (h % np.uint64(buckets)).astype(np.int64)


def split_buckets(table: pa.Table, buckets: int) -> Iterable[Tuple[int, pa.Table]]:
  if table.num_rows == 0:
    return
  b = bucket_of(table.column('order_id'), buckets)
  order = np.argsort(b, kind='stable')
  sorted_b = b[order]
  table = table.take(pa.array(order))
  bounds = np.searchsorted(sorted_b, np.arange(buckets + 1))
  for i in range(buckets):
    lo, hi = int(bounds[i]), int(bounds[i + 1])
    if hi > lo:
      yield i, table.slice(lo, hi - lo)


def keep_first_seen(table: pa.Table) -> Tuple[pa.Table, int]:
  """(one row per order_id with the smallest k, number of dropped copies)."""
  counts = table.group_by('order_id', use_threads=False).aggregate(
      [('k', 'min'), ('k', 'count')])
  if counts.num_rows == table.num_rows:
    return table, 0
  dups = counts.filter(pc.greater(counts['k_count'], 1))
  is_dup = pc.is_in(table['order_id'], value_set=dups['order_id'])
  unique = table.filter(pc.invert(is_dup))
  candidates = table.filter(is_dup)
  firsts = dups.select(['order_id', 'k_min']).rename_columns(
      ['order_id', 'k'])
  kept = candidates.join(firsts, keys=['order_id', 'k'], join_type='inner',
                         use_threads=False)
  kept = kept.select(table.column_names).cast(table.schema)
  return pa.concat_tables([unique, kept]), table.num_rows - counts.num_rows


def unit_ms(policy: WindowPolicy) -> int:
  if policy.kind == FIXED:
    return policy.size_seconds * 1000
  if policy.kind == SLIDING:
    return math.gcd(policy.size_seconds, policy.period_seconds) * 1000
  return 1  # sessions: the event time itself


def _catalog_arrays(catalog: Catalog) -> Tuple[pa.Array, pa.Array]:
  ids = sorted(catalog)
  return (pa.array(ids, pa.string()),
          pa.array([catalog[p][0] for p in ids], pa.string()))


def partial_summaries(table: pa.Table, exotic: Sequence[EnrichedOrder],
                      catalog: Catalog, policy: WindowPolicy
                      ) -> List[Tuple[int, str, SalesSummary]]:
  """[(unit start ms, scope, partial SalesSummary)] of deduplicated rows."""
  per_customer = policy.kind == SESSIONS
  size = unit_ms(policy)
  summaries: Dict[Tuple[int, str], SalesSummary] = {}

  def summary_for(unit: int, scope: str) -> SalesSummary:
    s = summaries.get((unit, scope))
    if s is None:
      s = summaries[(unit, scope)] = SalesSummary()
    return s

  if exotic:
    is_exotic = pc.is_valid(table['exotic'])
    for idx, t in zip(table.filter(is_exotic)['exotic'].to_pylist(),
                      table.filter(is_exotic)['event_ms'].to_pylist()):
      order = exotic[idx]
      category, name = catalog.get(order.product_id, (UNKNOWN_CATEGORY, ''))
      order = order._replace(category=category, product_name=name)
      unit = t if per_customer else t - t % size
      summary_for(unit, order.customer_id if per_customer else '').add(order)
    table = table.filter(pc.invert(is_exotic))
  if table.num_rows == 0:
    return [(u, s, m) for (u, s), m in summaries.items()]

  event_ms = table['event_ms'].to_numpy()
  units = event_ms if per_customer else event_ms - np.mod(event_ms, size)
  cat_ids, cat_names = _catalog_arrays(catalog)
  index = pc.index_in(table['product_id'], value_set=cat_ids)
  category = pc.fill_null(pc.take(cat_names, index), UNKNOWN_CATEGORY)
  # For fixed and sliding windows the scope is '' (a null key here).
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
    stats = _CategoryStats()
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
    stats = _ProductStats(name, category)
    stats.orders, stats.units, stats.revenue = orders, units_, revenue
    mine = summary.products.get(product)
    if mine is None:
      summary.products[product] = stats
    else:
      mine.merge(stats)
  return [(u, s, m) for (u, s), m in summaries.items()]


# --- compact partials (fixed and sliding windows) ------------------------------
#
# A `Partial` is what crosses the second shuffle for fixed and sliding windows:
# three small Arrow IPC streams per (time unit, bucket) instead of a pickled
# SalesSummary with Python sets of customer ids. They are merged per window by
# graph.MergePartialsFn, which builds the window's SalesSummary once.

Partial = Tuple[bytes, bytes, bytes]  # categories, products, customers


def _ipc(table: pa.Table) -> bytes:
  sink = pa.BufferOutputStream()
  # Only large tables are worth compressing (a codec per buffer costs).
  options = pa.ipc.IpcWriteOptions(
      compression='zstd' if table.nbytes > (64 << 10) else None)
  with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
    writer.write_table(table)
  return sink.getvalue().to_pybytes()


def _read_ipc(data: bytes) -> pa.Table:
  return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


def _unit_slices(table: pa.Table) -> Dict[int, pa.Table]:
  table = table.sort_by('unit')
  units = table['unit'].to_numpy()
  starts = np.flatnonzero(np.r_[True, units[1:] != units[:-1]])
  bounds = np.r_[starts, len(units)]
  return {int(units[a]): table.slice(a, b - a).drop_columns(['unit'])
          for a, b in zip(bounds[:-1], bounds[1:])}


def partial_tables(table: pa.Table, catalog: Catalog, policy: WindowPolicy
                   ) -> List[Tuple[int, Partial]]:
  """[(unit start ms, Partial)] of deduplicated, non-exotic rows (fixed and
  sliding windows)."""
  if table.num_rows == 0:
    return []
  size = unit_ms(policy)
  event_ms = table['event_ms'].to_numpy()
  units = pa.array(event_ms - np.mod(event_ms, size), pa.int64())
  cat_ids, cat_names = _catalog_arrays(catalog)
  ids = sorted(catalog)
  names = pa.array([catalog[p][1] for p in ids], pa.string())
  index = pc.index_in(table['product_id'], value_set=cat_ids)
  category = pc.fill_null(pc.take(cat_names, index), UNKNOWN_CATEGORY)
  t = pa.table({'unit': units, 'category': category,
                'product_id': table['product_id'],
                'customer_id': table['customer_id'],
                'quantity': table['quantity'], 'amount': table['amount']})
  stats = [('quantity', 'sum'), ('quantity', 'count'), ('amount', 'sum')]
  by_category = t.group_by(['unit', 'category'], use_threads=False
                           ).aggregate(stats)
  by_product = t.group_by(['unit', 'product_id', 'category'],
                          use_threads=False).aggregate(stats)
  index = pc.index_in(by_product['product_id'], value_set=cat_ids)
  by_product = by_product.append_column(
      'name', pc.fill_null(pc.take(names, index), ''))
  customers = t.group_by(['unit', 'category', 'customer_id'],
                         use_threads=False).aggregate([])
  cats, prods, custs = (_unit_slices(x) for x in (by_category, by_product,
                                                  customers))
  empty = pa.table({})
  return [(unit, (_ipc(cats[unit]), _ipc(prods.get(unit, empty)),
                  _ipc(custs.get(unit, empty)))) for unit in cats]


class _DistinctCount:
  """Stands in for a set of customer ids where only its size is read."""
  __slots__ = ('n',)

  def __init__(self, n: int) -> None:
    self.n = n

  def __len__(self) -> int:
    return self.n


class CountedSummary(SalesSummary):
  """A SalesSummary whose customer sets are only their sizes (counted with
  Arrow), for emitting rows; it cannot be merged with another summary."""
  __slots__ = ('total_customers',)

  def __init__(self, total_customers: int = 0) -> None:
    super().__init__()
    self.total_customers = total_customers

  def merge(self, other: SalesSummary) -> None:
    raise TypeError('a CountedSummary holds counts, not customer sets')

  def total(self) -> _CategoryStats:
    total = self.summed()
    total.customers = _DistinctCount(self.total_customers)
    return total


def summary_of_partials(partials: Sequence[Partial],
                        customer_sets: bool = True) -> SalesSummary:
  """One SalesSummary of merged Partials (of one window).

  customer_sets=False: a CountedSummary, with distinct customers counted in
  Arrow instead of built as Python sets (the bulk of a pane's cost once a
  window holds many orders); use it when nothing is merged into the result.
  """
  summary = SalesSummary()
  if not partials:
    return summary
  cats = pa.concat_tables([_read_ipc(p[0]) for p in partials])
  prods = pa.concat_tables([_read_ipc(p[1]) for p in partials])
  custs = pa.concat_tables([_read_ipc(p[2]) for p in partials])
  stats = [('quantity_sum', 'sum'), ('quantity_count', 'sum'),
           ('amount_sum', 'sum')]
  cats = cats.group_by('category', use_threads=False).aggregate(stats)
  custs = custs.group_by(['category', 'customer_id'],
                         use_threads=False).aggregate([])
  if customer_sets:
    custs = custs.sort_by('category')
    cust_cat = custs['category'].to_numpy(zero_copy_only=False)
    cust_ids = custs['customer_id'].to_pylist()
    bounds: Dict[str, Tuple[int, int]] = {}
    if len(cust_cat):
      starts = np.flatnonzero(np.r_[True, cust_cat[1:] != cust_cat[:-1]])
      ends = np.r_[starts[1:], len(cust_cat)]
      bounds = {cust_cat[a]: (int(a), int(b)) for a, b in zip(starts, ends)}
  else:
    counts = pc.value_counts(custs['category'])
    per_category = dict(zip(counts.field('values').to_pylist(),
                            counts.field('counts').to_pylist()))
    summary = CountedSummary(pc.count_distinct(custs['customer_id']).as_py())
  for cat, units_, orders, revenue in zip(
      *(cats[c].to_pylist() for c in ('category', 'quantity_sum_sum',
                                      'quantity_count_sum',
                                      'amount_sum_sum'))):
    stats_ = _CategoryStats()
    stats_.orders, stats_.units, stats_.revenue = orders, units_, revenue
    if customer_sets:
      lo, hi = bounds.get(cat, (0, 0))
      stats_.customers = set(cust_ids[lo:hi])
    else:
      stats_.customers = _DistinctCount(per_category.get(cat, 0))
    summary.categories[cat] = stats_
  prods = prods.group_by(['product_id', 'category', 'name'],
                         use_threads=False).aggregate(stats)
  for product, cat, name, units_, orders, revenue in zip(
      *(prods[c].to_pylist() for c in ('product_id', 'category', 'name',
                                       'quantity_sum_sum',
                                       'quantity_count_sum',
                                       'amount_sum_sum'))):
    stats_p = _ProductStats(name, cat)
    stats_p.orders, stats_p.units, stats_p.revenue = orders, units_, revenue
    summary.products[product] = stats_p
  return summary
