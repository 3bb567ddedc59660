"""Aggregation of partials: (scope, partial) per time unit -> windows ->
one SalesSummary per window pane -> the record path's rows.

    [ApplyWindowPolicy, the record path's windows and triggers]
      -> CombinePerKey(merge partials) -> aggregate.EmitRowsFn

Windowing, triggers and row emission are the record path's own transforms
applied to partial aggregates, so a run yields exactly the record path's
rows. Partials are merged with Arrow (summaries.py); in an unbounded run a
window's accumulating panes reuse the previous pane's merge (pane_merge.py).
"""
from __future__ import annotations

from typing import Any, Iterable, List, Optional, Tuple

import apache_beam as beam

from transforms.aggregate import (RESULTS, TOP_PRODUCTS, EmitRowsFn,
                                  SalesSummary, SalesSummaryFn)
from transforms.vectorized.pane_merge import PaneMerger
from transforms.vectorized.summaries import summary_of_partials
from transforms.windowing import SESSIONS, WindowPolicy


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

  def __init__(self, panes: bool = False) -> None:
    """panes: a window fires several accumulating panes (an unbounded run):
    merge each from the previous one's merge (pane_merge.PaneMerger)."""
    super().__init__()
    self._panes = panes
    self._merger: Optional[PaneMerger] = None

  def setup(self, *args, **kwargs) -> None:
    if self._panes:
      self._merger = PaneMerger()

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
      if self._merger is not None:
        return self._merger.summary(acc[0])
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
          MergePartialsFn(panes=not bounded))
      | 'EmitRows' >> beam.ParDo(
          EmitRowsFn(top_n, bounded=bounded,
                     timezone=policy.timezone)).with_outputs(
              TOP_PRODUCTS, main=RESULTS))

