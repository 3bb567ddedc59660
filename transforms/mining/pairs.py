"""Frequently bought together: association rules of products per day.

Each order has one product, so a basket is a customer's session: the
distinct products of the orders of one customer with gaps shorter than
``--session_gap_seconds`` (Beam's Sessions window, closed when the
watermark passes its end). A basket belongs to the UTC day its session
closes (last order + gap). Per day (and, in a bounded run, for the whole
run), for every pair of products in the same baskets (docs/mining.md):

  support(A, B)    = baskets with A and B / baskets
  confidence(A->B) = baskets with A and B / baskets with A
  lift(A, B)       = confidence(A->B) / (baskets with B / baskets)

A pair is kept when its support is at least ``--min_pair_support``; each
product keeps its ``--pair_partners`` partners of highest lift (ties: more
baskets together, then partner id). One ``product_pairs`` row per product
and partner (so both directions of a pair).

Streaming: a day's pairs are re-emitted (accumulating panes) as its
sessions close, every ``--early_firing_seconds`` of processing time, and
finally when the watermark passes the day; a session whose orders arrive
after it closed is not re-counted (late orders still count in
sales_by_category).
"""
from __future__ import annotations

import collections
import itertools
from typing import Dict, Iterable, List, Tuple

import apache_beam as beam
from apache_beam.transforms import trigger, window

from transforms.mining.purchases import Purchase

DAY_S = 86_400
DAY_MS = DAY_S * 1000
Basket = Tuple[str, ...]  # sorted distinct product ids
# (baskets, baskets per product, baskets per pair, first and last basket ms)
Stats = Tuple[int, Dict[str, int], Dict[Tuple[str, str], int], int, int]


class BasketStatsFn(beam.CombineFn):
  """(basket ms, Basket) -> the counts association rules need."""

  def create_accumulator(self) -> Stats:
    return (0, collections.Counter(), collections.Counter(), 2**62, -2**62)

  def add_input(self, acc: Stats, basket: Tuple[int, Basket]) -> Stats:
    n, items, pairs, first, last = acc
    ts, products = basket
    items.update(products)
    pairs.update(itertools.combinations(products, 2))
    return (n + 1, items, pairs, min(first, ts), max(last, ts))

  def merge_accumulators(self, accs: Iterable[Stats]) -> Stats:
    n, items, pairs = 0, collections.Counter(), collections.Counter()
    first, last = 2**62, -2**62
    for a in accs:
      n += a[0]
      items.update(a[1])
      pairs.update(a[2])
      first, last = min(first, a[3]), max(last, a[4])
    return (n, items, pairs, first, last)

  def extract_output(self, acc: Stats) -> Stats:
    return acc


def pair_rules(stats: Stats, min_support: float, partners: int
               ) -> List[Dict]:
  """product_pairs rows (without window and pane columns) of one scope."""
  n, items, pairs = stats[0], stats[1], stats[2]
  if not n:
    return []
  by_product: Dict[str, List[Dict]] = collections.defaultdict(list)
  for (a, b), together in pairs.items():
    support = together / n
    if support < min_support:
      continue
    for x, y in ((a, b), (b, a)):
      confidence = together / items[x]
      by_product[x].append({
          'product_id': x, 'partner_id': y, 'baskets': together,
          'product_baskets': items[x], 'partner_baskets': items[y],
          'total_baskets': n, 'support': support, 'confidence': confidence,
          'lift': confidence / (items[y] / n)})
  rows = []
  for product in sorted(by_product):
    ranked = sorted(by_product[product],
                    key=lambda r: (-r['lift'], -r['baskets'], r['partner_id']))
    for rank, row in enumerate(ranked[:partners], 1):
      row['rank'] = rank
      rows.append(row)
  return rows


def sessions_of(events: Iterable[Tuple[int, str]], gap_ms: int
                ) -> Iterable[Tuple[int, Basket]]:
  """A customer's (event ms, product) -> (close ms, Basket) per session.

  Beam's Sessions rule restated for bounded runs (its merging-window
  GroupByKey costs ~10x the whole run at 1M orders on the in-process
  runner): each order opens [t, t + gap), overlapping ones merge; the basket
  is stamped at the session window's last instant (end - 1 ms), as Beam
  stamps a closed session. tests/pipelines/test_mining_stream.py holds the
  two to each other (stream = batch).
  """
  products: set = set()
  end = None
  for t, product in sorted(events):
    if end is not None and t >= end:
      yield end - 1, tuple(sorted(products))
      products = set()
      end = None
    products.add(product)
    end = t + gap_ms if end is None else max(end, t + gap_ms)
  if end is not None:
    yield end - 1, tuple(sorted(products))


class SessionsOfCustomerFn(beam.DoFn):
  """Bounded: (customer, [(ms, product)]) -> its baskets at close time."""

  def __init__(self, gap_ms: int) -> None:
    self._gap_ms = gap_ms

  def process(self, element):
    _, events = element
    for close_ms, products in sessions_of(events, self._gap_ms):
      yield window.TimestampedValue((close_ms, products), close_ms / 1000.0)


class SessionBasketFn(beam.DoFn):
  """(customer, Purchases of one closed session) -> (close ms, Basket)."""

  def process(self, element, ts=beam.DoFn.TimestampParam):
    _, purchases = element
    products = tuple(sorted({p.product_id for p in purchases}))
    yield (ts.micros // 1000, products)


class PairRowsFn(beam.DoFn):
  """A scope's Stats -> its product_pairs rows with window and pane."""

  def __init__(self, min_support: float, partners: int,
               whole_run: bool = False) -> None:
    self._min_support = min_support
    self._partners = partners
    self._whole_run = whole_run

  def process(self, stats: Stats, win=beam.DoFn.WindowParam,
              pane=beam.DoFn.PaneInfoParam):
    if self._whole_run:  # from the first basket's day to the last one's
      start = stats[3] - stats[3] % DAY_MS
      end = stats[4] - stats[4] % DAY_MS + DAY_MS
      timing, index, final = 'ON_TIME', 0, True
      # one day: the day's rows are the run's
      rows = [] if end - start == DAY_MS else pair_rules(
          stats, self._min_support, self._partners)
    else:
      start, end = win.start.micros // 1000, win.end.micros // 1000
      timing = {0: 'EARLY', 1: 'ON_TIME', 2: 'LATE'}.get(pane.timing,
                                                         'UNKNOWN')
      index, final = pane.index, pane.is_last
      rows = pair_rules(stats, self._min_support, self._partners)
    for row in rows:
      row.update(window_start=start, window_end=end, pane_timing=timing,
                 pane_index=index, is_final=final)
      yield row


class ProductPairs(beam.PTransform):
  """PCollection[Purchase] -> PCollection[product_pairs rows]."""

  def __init__(self, gap_seconds: int, min_support: float, partners: int,
               bounded: bool, early_firing_seconds: int = 0) -> None:
    super().__init__()
    self._gap = gap_seconds
    self._min_support = min_support
    self._partners = partners
    self._bounded = bounded
    self._early = early_firing_seconds

  def expand(self, purchases: beam.PCollection) -> beam.PCollection:
    if self._bounded:
      baskets = (purchases
                 | 'KeyByCustomer' >> beam.Map(
                     lambda p: (p.customer_id, (p.event_time_ms,
                                                p.product_id)))
                 | 'GroupCustomers' >> beam.GroupByKey()
                 | 'Baskets' >> beam.ParDo(
                     SessionsOfCustomerFn(self._gap * 1000)))
    else:
      baskets = (purchases
                 | 'KeyByCustomer' >> beam.Map(
                     lambda p: (p.customer_id, p)).with_input_types(Purchase)
                 | 'Sessions' >> beam.WindowInto(window.Sessions(self._gap))
                 | 'GroupSessions' >> beam.GroupByKey()
                 | 'Baskets' >> beam.ParDo(SessionBasketFn()))
    if self._bounded or not self._early:
      days = beam.WindowInto(window.FixedWindows(DAY_S))
    else:
      days = beam.WindowInto(
          window.FixedWindows(DAY_S), trigger=trigger.AfterWatermark(
              early=trigger.AfterProcessingTime(self._early)),
          accumulation_mode=trigger.AccumulationMode.ACCUMULATING)
    daily = (baskets
             | 'Days' >> days
             | 'CountPerDay' >> beam.CombineGlobally(
                 BasketStatsFn()).without_defaults()
             | 'DayRules' >> beam.ParDo(
                 PairRowsFn(self._min_support, self._partners)))
    if not self._bounded:
      return daily
    daily = daily | 'DayRowsInOneWindow' >> beam.WindowInto(
        window.GlobalWindows())
    whole = (baskets
             | 'WholeRun' >> beam.WindowInto(window.GlobalWindows())
             | 'CountPerRun' >> beam.CombineGlobally(
                 BasketStatsFn()).without_defaults()
             | 'RunRules' >> beam.ParDo(
                 PairRowsFn(self._min_support, self._partners, True)))
    return ((daily, whole) | 'DaysAndRun' >> beam.Flatten())

