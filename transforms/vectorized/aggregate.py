"""Aggregation of partials: (scope, partial) per time unit -> windows ->
one SalesSummary per window pane -> the record path's rows.

    [ApplyWindowPolicy, the record path's windows and triggers]
      -> CombinePerKey(merge partials) -> aggregate.EmitRowsFn

Windowing, triggers and row emission are the record path's own transforms
applied to partial aggregates, so a run yields exactly the record path's
rows. `summary_of_partials` merges Partials (partials.py) with Arrow;
where only the sizes of customer sets are read, a `CountedSummary` holds
counts instead of Python sets.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Sequence, Tuple

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.aggregate import (RESULTS, TOP_PRODUCTS, CategoryStats,
                                  EmitRowsFn, ProductStats, SalesSummary,
                                  SalesSummaryFn)
from transforms.vectorized.partials import Partial, read_ipc
from transforms.windowing import SESSIONS, WindowPolicy


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

  def total(self) -> CategoryStats:
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
  cats = pa.concat_tables([read_ipc(p[0]) for p in partials])
  prods = pa.concat_tables([read_ipc(p[1]) for p in partials])
  custs = pa.concat_tables([read_ipc(p[2]) for p in partials])
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
    stats_ = CategoryStats()
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
    stats_p = ProductStats(name, cat)
    stats_p.orders, stats_p.units, stats_p.revenue = orders, units_, revenue
    summary.products[product] = stats_p
  return summary


class MergeSummariesFn(SalesSummaryFn):
  """Merges partial SalesSummary objects: SalesSummaryFn, whose inputs
  are summaries instead of orders."""

  def add_input(self, acc: SalesSummary, summary: SalesSummary
                ) -> SalesSummary:
    acc.merge(summary)
    return acc


class MergePartialsFn(beam.CombineFn):
  """Merges Partials (aggregate.partial_tables) and SalesSummary partials
  (exotic rows) into one SalesSummary per window."""

  def create_accumulator(self) -> Tuple[List, SalesSummary]:
    return [], SalesSummary()

  def add_input(self, acc: Tuple[List, SalesSummary], value: Any
                ) -> Tuple[List, SalesSummary]:
    if isinstance(value, SalesSummary):
      acc[1].merge(value)
    else:
      acc[0].append(value)
    return acc

  def merge_accumulators(self, accs: Iterable[Tuple[List, SalesSummary]]
                         ) -> Tuple[List, SalesSummary]:
    partials: List = []
    merged = SalesSummary()
    for acc in accs:
      partials.extend(acc[0])
      merged.merge(acc[1])
    return partials, merged

  def extract_output(self, acc: Tuple[List, SalesSummary]) -> SalesSummary:
    if not acc[1].categories:  # no exotic rows: sizes of sets suffice
      return summary_of_partials(acc[0], customer_sets=False)
    summary = summary_of_partials(acc[0])
    summary.merge(acc[1])
    return summary


@beam.ptransform_fn
def AggregatePartials(  # pylint: disable=invalid-name  (a PTransform's name)
    partials: beam.PCollection, policy: WindowPolicy, top_n: int,
    bounded: bool) -> beam.pvalue.DoOutputsTuple:
  """Windowed (scope, partial) -> {'results', 'top_products'}: one summary
  per window pane, then the record path's row emitter."""
  return (
      partials
      | 'MergeSummaries' >> beam.CombinePerKey(
          MergeSummariesFn() if policy.kind == SESSIONS else
          MergePartialsFn())
      | 'EmitRows' >> beam.ParDo(
          EmitRowsFn(top_n, bounded=bounded,
                     timezone=policy.timezone)).with_outputs(
              TOP_PRODUCTS, main=RESULTS))

