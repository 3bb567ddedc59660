"""Merging a window's partials pane after pane without starting over.

An unbounded run fires accumulating panes: each early pane of a window
carries every partial the window has received so far, so merging them all
again costs more with every pane. With a million orders in an hour a pane
took 1.3 s to merge, longer than the 1 s early-firing period, and the
results fell further behind with each pane (docs/performance.md).

Each Partial carries a random token (partials.py), and a window's panes
re-deliver the same partials with the same tokens. `PaneMerger` keeps the
last few merges (`KEEP_MERGES`), each with the tokens of its partials; a
pane whose partials include all of a kept merge's merges only the partials
beyond it. A pane that includes none (a window's first pane, a pane after a
restart, a second worker thread's first pane of the window) merges from
scratch. The result is the same either way
(tests/transforms/test_pane_merge.py checks it against plain Python); only
the cost differs: a pane costs its new partials plus the window's category
and product tables, not all of the window's orders again.
"""
from __future__ import annotations

from typing import Dict, FrozenSet, List, Optional, Sequence, Set

import pyarrow as pa

from transforms.aggregate import SalesSummary
from transforms.vectorized.partials import Partial
from transforms.vectorized.summaries import (CountedSummary, DistinctCount,
                                             customers_by_category,
                                             fill_summary, merged_tables,
                                             summed)

# Merges kept per merger: one per window that is still firing panes (a
# sliding window's partials belong to several), so a handful suffices.
KEEP_MERGES = 8


def token(partial: Partial) -> bytes:
  return partial[3]


class RunningMerge:
  """The merge of some partials: their tokens, the summed category and
  product tables, and the customers of each category and of the whole
  window as sets, which grow by the new partials' customers."""
  __slots__ = ('tokens', 'cats', 'prods', 'per_category', 'everyone')

  def __init__(self) -> None:
    self.tokens: FrozenSet[bytes] = frozenset()
    self.cats: Optional[pa.Table] = None
    self.prods: Optional[pa.Table] = None
    self.per_category: Dict[str, Set[str]] = {}
    self.everyone: Set[str] = set()

  def extend(self, partials: Sequence[Partial]) -> None:
    """Merges `partials` (none of them merged yet) into this merge."""
    cats, prods, custs = merged_tables(partials)
    if self.cats is not None:
      cats = summed(pa.concat_tables([self.cats, cats]), ['category'])
      prods = summed(pa.concat_tables([self.prods, prods]),
                     ['product_id', 'category', 'name'])
    runs = customers_by_category(custs)
    self.cats, self.prods = cats, prods
    self.tokens = self.tokens.union(token(p) for p in partials)
    for category, ids in runs:
      self.per_category.setdefault(category, set()).update(ids)
      self.everyone.update(ids)

  def summary(self) -> SalesSummary:
    if self.cats is None:
      return SalesSummary()
    return fill_summary(
        CountedSummary(len(self.everyone)), self.cats, self.prods,
        lambda cat: DistinctCount(len(self.per_category.get(cat, ()))))


class PaneMerger:
  """Merges the partials of a pane, starting from the largest kept merge
  whose partials it includes (see the module docstring)."""

  def __init__(self, keep: int = KEEP_MERGES) -> None:
    self._keep = keep
    self._merges: List[RunningMerge] = []  # least recently used first

  def summary(self, partials: Sequence[Partial]) -> SalesSummary:
    """The CountedSummary of `partials`, as summary_of_partials(partials,
    customer_sets=False) gives it."""
    tokens = {token(p) for p in partials}
    base = max((m for m in self._merges if m.tokens <= tokens),
               key=lambda m: len(m.tokens), default=None)
    if base is None:
      base = RunningMerge()
    else:
      self._merges.remove(base)
    new = [p for p in partials if token(p) not in base.tokens]
    if new:
      base.extend(new)
    self._merges.append(base)
    del self._merges[:-self._keep]
    return base.summary()
