"""Merging a window's partials pane after pane without starting over.

An unbounded run fires accumulating panes: each early pane of a window
carries every partial the window has received so far, so merging them all
again costs more with every pane. With a million orders in an hour a pane
took 1.3 s to merge, longer than the 1 s early-firing period, and the
results fell further behind with each pane (docs/performance.md).

The merge of a multiset of partials depends on nothing but their content.
`PaneMerger` keeps the last few merges (`KEEP_MERGES`), each with the
multiset of its partials' content digests; a pane whose partials include
one of those multisets merges only the partials beyond it. A pane that
includes none (a window's first pane, a pane retried after a restart, a
worker that has not seen the window) merges from scratch. The result is the
same either way (tests/transforms/test_pane_merge.py checks it against a
merge from scratch); only the cost differs: a pane costs its new partials
plus the window's category and product tables, not the window's orders.
"""
from __future__ import annotations

import collections
import hashlib
from typing import Dict, List, Optional, Sequence, Set

import pyarrow as pa

from transforms.aggregate import SalesSummary
from transforms.vectorized.partials import Partial
from transforms.vectorized.summaries import (CountedSummary, DistinctCount,
                                             fill_summary, merged_tables,
                                             summed)

# Merges kept per merger: one per window that is still firing panes (a
# sliding window's partials belong to several), so a handful suffices.
KEEP_MERGES = 8


def partial_digest(partial: Partial) -> bytes:
  """A digest of a Partial's content (its three tables, each with its
  length, so that no two different partials run together alike)."""
  h = hashlib.blake2b(digest_size=16)
  for part in partial:
    h.update(len(part).to_bytes(8, 'little'))
    h.update(part)
  return h.digest()


class RunningMerge:
  """The merge of some partials: their digests (a multiset), the summed
  category and product tables, and the customers of each category and of
  the whole window as sets, which grow by the new partials' customers."""
  __slots__ = ('digests', 'cats', 'prods', 'per_category', 'everyone')

  def __init__(self) -> None:
    self.digests: collections.Counter = collections.Counter()
    self.cats: Optional[pa.Table] = None
    self.prods: Optional[pa.Table] = None
    self.per_category: Dict[str, Set[str]] = {}
    self.everyone: Set[str] = set()

  def covered_by(self, digests: collections.Counter) -> bool:
    return all(digests[d] >= n for d, n in self.digests.items())

  def extend(self, partials: Sequence[Partial],
             digests: Sequence[bytes]) -> None:
    """Merges `partials` (with their `digests`) into this merge."""
    cats, prods, custs = merged_tables(partials)
    if self.cats is not None:
      cats = summed(pa.concat_tables([self.cats, cats]), ['category'])
      prods = summed(pa.concat_tables([self.prods, prods]),
                     ['product_id', 'category', 'name'])
    self.cats, self.prods = cats, prods
    self.digests.update(digests)
    for category, customer in zip(custs['category'].to_pylist(),
                                  custs['customer_id'].to_pylist()):
      self.per_category.setdefault(category, set()).add(customer)
      self.everyone.add(customer)

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
    digests = [partial_digest(p) for p in partials]
    wanted = collections.Counter(digests)
    base = max((m for m in self._merges if m.covered_by(wanted)),
               key=lambda m: sum(m.digests.values()), default=None)
    if base is None:
      base = RunningMerge()
    else:
      self._merges.remove(base)
    missing = wanted - base.digests
    new, new_digests = [], []
    for partial, digest in zip(partials, digests):
      if missing[digest] > 0:
        missing[digest] -= 1
        new.append(partial)
        new_digests.append(digest)
    if new:
      base.extend(new, new_digests)
    self._merges.append(base)
    del self._merges[:-self._keep]
    return base.summary()
