"""The figures the report and the dashboard show, computed from the rows of
the output tables (reporting/tables.py) and nothing else.

Sums over time only add rows that do not overlap: fixed windows, the
sessions of each customer, and of sliding windows only those that start on
a multiple of their length (they tile the timeline; when none do, per-day
sums are left out). Per-day figures group rows by ``days.day_of``.

Of the mined tables (transforms/sinks/mined.py): the segment summary in
segment order, the top product pairs of the widest window, the windows an
anomaly detector flagged.
"""
from __future__ import annotations

import dataclasses
import decimal
import zoneinfo
from collections import defaultdict
from typing import Any, Dict, List, Optional, Sequence, Tuple

from reporting.days import day_of
from transforms.records import ALL_CATEGORIES

__all__ = ['ALL_CATEGORIES', 'DayTotal', 'MAX_ANOMALIES', 'TOP_PAIRS',
           'WindowTotal', 'additive', 'average', 'category_share',
           'day_totals', 'flagged_anomalies', 'revenue_by_day',
           'segment_rows', 'top_by_window', 'top_pairs', 'window_totals',
           'windows_overlap']

# Product pairs shown (by lift), and flagged windows shown (newest first).
TOP_PAIRS = 10
MAX_ANOMALIES = 200

Row = Dict[str, Any]
CENT = decimal.Decimal('0.01')
ZERO = decimal.Decimal('0.00')


def average(revenue: decimal.Decimal, orders: int) -> decimal.Decimal:
  """Average order value, rounded half-up to cents as the outputs are."""
  if not orders:
    return ZERO
  return (revenue / orders).quantize(CENT, rounding=decimal.ROUND_HALF_UP)


def _window(row: Row) -> Tuple[int, int]:
  return (int(row['window_start']), int(row['window_end']))


def windows_overlap(rows: Sequence[Row]) -> bool:
  """Whether the global windows (no customer scope) overlap: sliding."""
  spans = sorted({_window(r) for r in rows if not r.get('customer_id')})
  return any(b[0] < a[1] for a, b in zip(spans, spans[1:]))


def additive(rows: Sequence[Row]) -> List[Row]:
  """The rows whose sums over time count every order once."""
  if not windows_overlap(rows):
    return list(rows)
  return [r for r in rows if r.get('customer_id') or (
      r['window_start'] % (r['window_end'] - r['window_start']) == 0)]


def revenue_by_day(rows: Sequence[Row], tz: zoneinfo.ZoneInfo
                   ) -> Dict[str, Dict[str, decimal.Decimal]]:
  """day -> category -> revenue (categories only, not the total row)."""
  out: Dict[str, Dict[str, decimal.Decimal]] = defaultdict(
      lambda: defaultdict(lambda: ZERO))
  for row in additive(rows):
    if row['category'] != ALL_CATEGORIES:
      out[day_of(row, tz)][row['category']] += row['revenue_usd']
  return {day: dict(cats) for day, cats in sorted(out.items())}


def category_share(rows: Sequence[Row]
                   ) -> List[Tuple[str, decimal.Decimal, float]]:
  """(category, revenue, share of all revenue), largest first."""
  totals: Dict[str, decimal.Decimal] = defaultdict(lambda: ZERO)
  for row in additive(rows):
    if row['category'] != ALL_CATEGORIES:
      totals[row['category']] += row['revenue_usd']
  grand = sum(totals.values(), ZERO)
  ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
  return [(c, v, float(v / grand) if grand else 0.0) for c, v in ranked]


@dataclasses.dataclass(frozen=True)
class DayTotal:
  day: str
  orders: int
  revenue: decimal.Decimal

  @property
  def average(self) -> decimal.Decimal:
    return average(self.revenue, self.orders)


def day_totals(rows: Sequence[Row], tz: zoneinfo.ZoneInfo) -> List[DayTotal]:
  """Orders and revenue per day, from the all-categories rows."""
  orders: Dict[str, int] = defaultdict(int)
  revenue: Dict[str, decimal.Decimal] = defaultdict(lambda: ZERO)
  for row in additive(rows):
    if row['category'] == ALL_CATEGORIES:
      day = day_of(row, tz)
      orders[day] += int(row['orders'])
      revenue[day] += row['revenue_usd']
  return [DayTotal(d, orders[d], revenue[d]) for d in sorted(orders)]


@dataclasses.dataclass(frozen=True)
class WindowTotal:
  """One global window's all-categories row, as the table holds it."""
  start: int
  end: int
  orders: int
  revenue: decimal.Decimal
  average: decimal.Decimal
  pane_timing: str
  is_final: bool


def window_totals(rows: Sequence[Row]) -> List[WindowTotal]:
  """The all-categories row of each global window, in time order (session
  rows, one per customer, are left out)."""
  out = [WindowTotal(r['window_start'], r['window_end'], int(r['orders']),
                     r['revenue_usd'], r['avg_order_value_usd'],
                     str(r.get('pane_timing') or ''), bool(r.get('is_final')))
         for r in rows
         if r['category'] == ALL_CATEGORIES and not r.get('customer_id')]
  return sorted(out, key=lambda w: (w.start, w.end))


def top_by_window(rows: Sequence[Row]
                  ) -> List[Tuple[Tuple[int, int], List[Row]]]:
  """((start, end), rows by rank) for each global window, newest first."""
  groups: Dict[Tuple[int, int], List[Row]] = defaultdict(list)
  for row in rows:
    if not row.get('customer_id'):
      groups[_window(row)].append(row)
  return [(w, sorted(groups[w], key=lambda r: int(r['rank'])))
          for w in sorted(groups, reverse=True)]


def segment_rows(rows: Sequence[Row]) -> List[Row]:
  """The segment summary, segment 1 (highest mean money) first."""
  return sorted(rows, key=lambda r: int(r['segment']))


def top_pairs(rows: Sequence[Row], limit: int = TOP_PAIRS
              ) -> Tuple[Optional[Tuple[int, int]], List[Row]]:
  """(window, pairs) of the widest window (the whole run when it spans
  more than one day; the newest of equals): each pair once, in the
  direction of its higher confidence, by lift, then baskets together,
  then ids; at most limit."""
  if not rows:
    return None, []
  window = max({_window(r) for r in rows},
               key=lambda w: (w[1] - w[0], w[0]))
  best: Dict[Tuple[str, str], Row] = {}
  for row in rows:
    if _window(row) != window:
      continue
    pair = tuple(sorted((row['product_id'], row['partner_id'])))
    held = best.get(pair)  # type: ignore[arg-type]
    if held is None or (row['confidence'], held['product_id']) > (
        held['confidence'], row['product_id']):
      best[pair] = row  # type: ignore[index]
  ranked = sorted(best.values(), key=lambda r: (
      -r['lift'], -int(r['baskets']), r['product_id'], r['partner_id']))
  return window, ranked[:limit]


def flagged_anomalies(rows: Sequence[Row]) -> List[Row]:
  """The rows a detector flagged (is_anomaly), newest window first."""
  flagged = [r for r in rows if r['is_anomaly']]
  return sorted(flagged, key=lambda r: (-int(r['window_start']),
                                        r['category'], r['metric']))
