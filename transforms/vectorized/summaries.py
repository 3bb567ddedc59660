"""Merging Partials (partials.py) into one SalesSummary with Arrow.

`merged_tables` sums a window's partial tables; `summary_of_partials` turns
them into the record path's SalesSummary. Where only the sizes of customer
sets are read (emitting rows), a `CountedSummary` holds counts instead of
Python sets.
"""
from __future__ import annotations

from typing import Any, Callable, List, Sequence, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.aggregate import CategoryStats, ProductStats, SalesSummary
from transforms.vectorized.partials import STATS, Partial, read_ipc, summed


class DistinctCount:
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

  def total(self) -> CategoryStats:
    total = self.summed()
    total.customers = DistinctCount(self.total_customers)
    return total


def merged_tables(partials: Sequence[Partial]
                  ) -> Tuple[pa.Table, pa.Table, pa.Table]:
  """Partials -> (per category, per product, distinct (category,
  customer_id)), each merged over all of them."""
  cats = pa.concat_tables([read_ipc(p[0]) for p in partials])
  prods = pa.concat_tables([read_ipc(p[1]) for p in partials])
  custs = pa.concat_tables([read_ipc(p[2]) for p in partials])
  return (summed(cats, ['category']),
          summed(prods, ['product_id', 'category', 'name']),
          custs.group_by(['category', 'customer_id'],
                         use_threads=False).aggregate([]))


def customers_by_category(custs: pa.Table) -> List[Tuple[str, List[str]]]:
  """(category, its customer ids) of a (category, customer_id) table."""
  custs = custs.sort_by('category')
  categories = custs['category'].to_numpy(zero_copy_only=False)
  ids = custs['customer_id'].to_pylist()
  if not ids:
    return []
  starts = np.flatnonzero(np.r_[True, categories[1:] != categories[:-1]])
  return [(categories[a], ids[a:b])
          for a, b in zip(starts, np.r_[starts[1:], len(ids)])]


def fill_summary(summary: SalesSummary, cats: pa.Table, prods: pa.Table,
                 customers: Callable[[str], Any]) -> SalesSummary:
  """Adds the merged category and product tables to `summary`; each
  category's customers are `customers(category)` (a set, or its size)."""
  for cat, units_, orders, revenue in zip(
      *(cats[c].to_pylist() for c in ('category',) + STATS)):
    stats_ = CategoryStats()
    stats_.orders, stats_.units, stats_.revenue = orders, units_, revenue
    stats_.customers = customers(cat)
    summary.categories[cat] = stats_
  for product, cat, name, units_, orders, revenue in zip(
      *(prods[c].to_pylist() for c in ('product_id', 'category', 'name')
        + STATS)):
    stats_p = ProductStats(name, cat)
    stats_p.orders, stats_p.units, stats_p.revenue = orders, units_, revenue
    summary.products[product] = stats_p
  return summary


def summary_of_partials(partials: Sequence[Partial],
                        customer_sets: bool = True) -> SalesSummary:
  """One SalesSummary of merged Partials (of one window).

  customer_sets=False: a CountedSummary, with distinct customers counted in
  Arrow instead of built as Python sets (the bulk of a pane's cost once a
  window holds many orders); use it when nothing is merged into the result.
  """
  if not partials:
    return SalesSummary()
  cats, prods, custs = merged_tables(partials)
  if not customer_sets:
    counts = pc.value_counts(custs['category'])
    per_category = dict(zip(counts.field('values').to_pylist(),
                            counts.field('counts').to_pylist()))
    # Valid rows have a customer id (never null): `unique` counts them
    # in half of count_distinct's time.
    return fill_summary(
        CountedSummary(len(pc.unique(custs['customer_id']))),
        cats, prods, lambda cat: DistinctCount(per_category.get(cat, 0)))
  ids_of = dict(customers_by_category(custs))
  return fill_summary(SalesSummary(), cats, prods,
                      lambda cat: set(ids_of.get(cat, ())))
