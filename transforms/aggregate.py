"""Aggregation: per window (and per customer for sessions) and category.

One CombineFn builds a window's whole summary: per category the order
count, units, exact revenue and the set of customers; per product its
revenue, units and orders. Combiner lifting makes it partial-then-merge, so
the shuffle carries small summaries, not orders. The summary then becomes
rows: one CategoryResult per category (with its `rank` by revenue within
the window), one for all categories (`__all__`), and the top-N products,
each stamped with the window bounds, the local `day` of the window's start
in the run's time zone, and the pane (EARLY / ON_TIME / LATE, index, final).
"""
from __future__ import annotations

import decimal
from typing import Any, Dict, Iterable, List, Set, Tuple

import apache_beam as beam
from apache_beam.utils.windowed_value import PaneInfoTiming

from transforms import metrics
from transforms.calendar_days import DEFAULT_TIMEZONE, local_day

from transforms.records import (ALL_CATEGORIES, CategoryResult, EnrichedOrder,
                                PaneFields, TopProduct)

TOP_PRODUCTS = 'top_products'
RESULTS = 'results'

_TIMING_NAMES = {
    PaneInfoTiming.EARLY: 'EARLY',
    PaneInfoTiming.ON_TIME: 'ON_TIME',
    PaneInfoTiming.LATE: 'LATE',
    PaneInfoTiming.UNKNOWN: 'UNKNOWN',
}


class CategoryStats:
  """Orders, units, exact revenue and the customers of one category."""
  __slots__ = ('orders', 'units', 'revenue', 'customers')

  def __init__(self) -> None:
    self.orders = 0
    self.units = 0
    self.revenue = decimal.Decimal(0)
    self.customers: Set[str] = set()

  def merge(self, other: 'CategoryStats') -> None:
    self.orders += other.orders
    self.units += other.units
    self.revenue += other.revenue
    self.customers |= other.customers


class ProductStats:
  """Orders, units and exact revenue of one product."""
  __slots__ = ('name', 'category', 'orders', 'units', 'revenue')

  def __init__(self, name: str, category: str) -> None:
    self.name = name
    self.category = category
    self.orders = 0
    self.units = 0
    self.revenue = decimal.Decimal(0)

  def merge(self, other: 'ProductStats') -> None:
    self.orders += other.orders
    self.units += other.units
    self.revenue += other.revenue


class SalesSummary:
  """The accumulator: per-category and per-product running totals."""
  __slots__ = ('categories', 'products')

  def __init__(self) -> None:
    self.categories: Dict[str, CategoryStats] = {}
    self.products: Dict[str, ProductStats] = {}

  def add(self, order: EnrichedOrder) -> None:
    stats = self.categories.get(order.category)
    if stats is None:
      stats = self.categories[order.category] = CategoryStats()
    stats.orders += 1
    stats.units += order.quantity
    stats.revenue += order.revenue_usd
    stats.customers.add(order.customer_id)
    product = self.products.get(order.product_id)
    if product is None:
      product = self.products[order.product_id] = ProductStats(
          order.product_name, order.category)
    product.orders += 1
    product.units += order.quantity
    product.revenue += order.revenue_usd

  def merge(self, other: 'SalesSummary') -> None:
    _merge_into(self.categories, other.categories)
    _merge_into(self.products, other.products)

  def total(self) -> CategoryStats:
    total = self.summed()
    for stats in self.categories.values():
      total.customers |= stats.customers
    return total

  def summed(self) -> CategoryStats:
    """Orders, units and revenue over all categories (no customers)."""
    total = CategoryStats()
    for stats in self.categories.values():
      total.orders += stats.orders
      total.units += stats.units
      total.revenue += stats.revenue
    return total


def _merge_into(mine: Dict[str, Any], theirs: Dict[str, Any]) -> None:
  """Adds each of theirs to mine (stats with a merge method), by key."""
  for key, stats in theirs.items():
    if key in mine:
      mine[key].merge(stats)
    else:
      mine[key] = stats


class SalesSummaryFn(beam.CombineFn):
  """Combines EnrichedOrders into a SalesSummary."""

  def create_accumulator(self) -> SalesSummary:
    return SalesSummary()

  def add_input(self, summary: SalesSummary,
                order: EnrichedOrder) -> SalesSummary:
    summary.add(order)
    return summary

  def merge_accumulators(self,
                         summaries: Iterable[SalesSummary]) -> SalesSummary:
    merged = SalesSummary()
    for summary in summaries:
      merged.merge(summary)
    return merged

  def extract_output(self, summary: SalesSummary) -> SalesSummary:
    return summary


def pane_fields(win: Any, pane: Any) -> PaneFields:
  return PaneFields(
      window_start_ms=int(win.start.micros // 1000),
      window_end_ms=int(win.end.micros // 1000),
      pane_timing=_TIMING_NAMES.get(pane.timing, 'UNKNOWN'),
      pane_index=pane.index,
      is_final=bool(pane.is_last))


def category_ranks(summary: SalesSummary) -> Dict[str, int]:
  """Each category's place by exact revenue in the window (1 = highest),
  ties broken by category name."""
  ordered = sorted(summary.categories.items(),
                   key=lambda item: (-item[1].revenue, item[0]))
  return {category: rank for rank, (category, _) in
          enumerate(ordered, start=1)}


def summary_rows(scope: str, summary: SalesSummary, pane: PaneFields,
                 top_n: int, day: str = ''
                 ) -> Tuple[List[CategoryResult], List[TopProduct]]:
  """Turns one window's summary into result rows and top-N product rows;
  day: the local date of the window's start (local_day)."""
  # The columns every row of this window pane shares.
  window = dict(pane._asdict(), customer_id=scope, day=day)
  results = []
  per_category = sorted(summary.categories.items())
  ranks = category_ranks(summary)
  for category, stats in per_category + [(ALL_CATEGORIES, summary.total())]:
    results.append(CategoryResult(
        **window, category=category, orders=stats.orders, units=stats.units,
        revenue_usd=stats.revenue, distinct_customers=len(stats.customers),
        avg_order_value_usd=stats.revenue / stats.orders,
        rank=ranks.get(category)))
  ranked = sorted(summary.products.items(),
                  key=lambda item: (-item[1].revenue, item[0]))[:top_n]
  top = [
      TopProduct(
          **window, rank=rank, product_id=product_id,
          product_name=product.name, category=product.category,
          orders=product.orders, units=product.units,
          revenue_usd=product.revenue)
      for rank, (product_id, product) in enumerate(ranked, start=1)
  ]
  return results, top


# In a bounded run the policy fires once, on time, with no lateness: the one
# pane of a window is its on-time, final pane. Batch translations report pane
# metadata differently (Flink's says UNKNOWN), so bounded rows state it.
BOUNDED_PANE = ('ON_TIME', 0, True)


class EmitRowsFn(beam.DoFn):
  """(scope, SalesSummary) of a window pane -> result rows (main) and
  top-product rows (tagged), stamped with the window, its local day in
  the time zone `timezone` and the pane."""

  def __init__(self, top_n: int, bounded: bool = False,
               timezone: str = DEFAULT_TIMEZONE) -> None:
    self._top_n = top_n
    self._bounded = bounded
    self._timezone = timezone
    self._final_windows = metrics.counter(metrics.WINDOWS_FINAL)
    self._rows = metrics.counter(metrics.RESULT_ROWS)

  def process(self, keyed: Tuple[str, SalesSummary],
              win=beam.DoFn.WindowParam,
              pane=beam.DoFn.PaneInfoParam) -> Iterable:
    scope, summary = keyed
    if not summary.categories:
      # Some runners fire a pane with an empty accumulator (Flink's on-time
      # firing is FIRE_ALWAYS); a window without orders has no rows.
      return
    fields = pane_fields(win, pane)
    if self._bounded:
      fields = fields._replace(pane_timing=BOUNDED_PANE[0],
                               pane_index=BOUNDED_PANE[1],
                               is_final=BOUNDED_PANE[2])
    results, top = summary_rows(
        scope, summary, fields, self._top_n,
        local_day(self._timezone, fields.window_start_ms))
    if fields.is_final:
      self._final_windows.inc()
    self._rows.inc(len(results))
    yield from results
    for row in top:
      yield beam.pvalue.TaggedOutput(TOP_PRODUCTS, row)


class AggregateSales(beam.PTransform):
  """Windowed PCollection[EnrichedOrder] -> {'results', 'top_products'}.

  per_customer: key the summary by customer (session windows are per
  customer); otherwise one summary per window.
  bounded: the run is bounded, so each window has exactly one pane.
  timezone: the IANA zone of the rows' `day`.
  """

  def __init__(self, top_n: int = 5, per_customer: bool = False,
               bounded: bool = False,
               timezone: str = DEFAULT_TIMEZONE) -> None:
    super().__init__()
    self._top_n = top_n
    self._per_customer = per_customer
    self._bounded = bounded
    self._timezone = timezone

  def expand(self, orders: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
    if self._per_customer:
      keyed = orders | 'KeyByCustomer' >> beam.Map(
          lambda o: (o.customer_id, o))
    else:
      keyed = orders | 'KeyByWindowOnly' >> beam.Map(lambda o: ('', o))
    return (
        keyed
        | 'SummarizeWindow' >> beam.CombinePerKey(SalesSummaryFn())
        | 'EmitRows' >> beam.ParDo(EmitRowsFn(
            self._top_n, self._bounded, self._timezone)).with_outputs(
                TOP_PRODUCTS, main=RESULTS))
