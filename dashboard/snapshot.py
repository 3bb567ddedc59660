"""What the page shows, from the newest panes a store holds.

The store keeps, per window and key, only the newest pane it received
(a newer pane replaces an older one, never the reverse), so reading it is
reading the newest pane of each window. A window whose newest pane is EARLY
is still open (its watermark has not passed); ON_TIME or LATE panes are
settled (a LATE pane may still follow within the allowed lateness).

Rates: the store has the valid orders (in the results) and the dead
letters, not the duplicates, so the dead-letter and late rates are shares of
orders + dead letters.
"""
from __future__ import annotations

import datetime
import decimal
import time
import zoneinfo
from typing import Any, Dict, List, Optional

from reporting.days import local_day
from reporting.figures import (ALL_CATEGORIES, additive, category_share,
                               day_totals, top_by_window, window_totals)
from reporting.store import StoreEmpty, StoreUnavailable, read_store
from reporting.tables import Tables
from transforms.event_time import format_utc_ms
from transforms.lateness import LATE_REASON

__all__ = ['OPEN', 'SETTLED', 'snapshot', 'figures']

OPEN, SETTLED = 'open', 'settled'


def _money(value: decimal.Decimal) -> str:
  return f'{value:.2f}'


def _share(part: int, whole: int) -> float:
  return round(part / whole, 6) if whole else 0.0


def figures(tables: Tables, tz: zoneinfo.ZoneInfo, now_ms: int,
            max_windows: int) -> Dict[str, Any]:
  """The page's figures from the tables (pure: tested without a store)."""
  rows = tables.results
  totals = additive(
      [r for r in rows if r['category'] == ALL_CATEGORIES])
  total_revenue = sum((r['revenue_usd'] for r in totals),
                      decimal.Decimal('0.00'))
  total_orders = sum(int(r['orders']) for r in totals)
  today = local_day(now_ms, tz)
  days = {d.day: d for d in day_totals(rows, tz)}
  windows = window_totals(rows)[-max_windows:]
  shown = {(w.start, w.end) for w in windows}
  series: Dict[str, Dict[int, str]] = {}
  for row in rows:
    key = (row['window_start'], row['window_end'])
    if (row['category'] != ALL_CATEGORIES and not row.get('customer_id')
        and key in shown):
      series.setdefault(row['category'], {})[row['window_start']] = _money(
          row['revenue_usd'])
  categories = [c for c, _, _ in category_share(rows)]
  top = top_by_window(tables.top_products)
  newest_top: List[Dict[str, Any]] = []
  if top:
    (start, end), ranked = top[0]
    newest_top = [{'rank': int(r['rank']), 'product_id': r['product_id'],
                   'product_name': r['product_name'],
                   'category': r['category'], 'orders': int(r['orders']),
                   'revenue_usd': _money(r['revenue_usd']),
                   'window_start': format_utc_ms(start),
                   'pane_timing': r.get('pane_timing')} for r in ranked]
  late = tables.dead_letters.by_reason.get(LATE_REASON, 0)
  dead = tables.dead_letters.total - late
  base = total_orders + dead + late
  updated = [r['updated_at'] for r in rows if r.get('updated_at')]
  newest_update = max(updated) if updated else None
  return {
      'status': 'ok',
      'timezone': str(tz.key),
      'today': today,
      'today_revenue_usd': _money(days[today].revenue) if today in days
      else '0.00',
      'today_orders': days[today].orders if today in days else 0,
      'total_revenue_usd': _money(total_revenue),
      'total_orders': total_orders,
      'windows': [{
          'start': format_utc_ms(w.start), 'end': format_utc_ms(w.end),
          'revenue_usd': _money(w.revenue), 'orders': w.orders,
          'pane_timing': w.pane_timing,
          'state': OPEN if w.pane_timing == 'EARLY' else SETTLED}
                  for w in windows],
      'series': [{'category': c,
                  'x': [format_utc_ms(w.start) for w in windows],
                  'y': [series.get(c, {}).get(w.start, '0.00')
                        for w in windows]} for c in categories],
      'top_products': newest_top,
      'dead_letters': dead,
      'late': late,
      'dead_letter_rate': _share(dead, base),
      'late_rate': _share(late, base),
      'newest_pane_at': format_utc_ms(newest_update) if newest_update
      else None,
      'freshness_seconds': round((now_ms - newest_update) / 1000, 1)
      if newest_update else None,
  }


def snapshot(store_url: str, tz: zoneinfo.ZoneInfo, max_windows: int,
             now_ms: Optional[int] = None) -> Dict[str, Any]:
  """The page's JSON: the figures, or a status and a one-line message."""
  now_ms = int(time.time() * 1000) if now_ms is None else now_ms
  stamp = datetime.datetime.fromtimestamp(
      now_ms / 1000, datetime.timezone.utc).strftime('%H:%M:%S UTC')
  try:
    tables = read_store(store_url)
  except StoreEmpty as e:
    return {'status': 'empty', 'message': str(e), 'checked_at': stamp}
  except StoreUnavailable as e:
    return {'status': 'unavailable', 'message': str(e), 'checked_at': stamp}
  if tables.empty:
    return {'status': 'empty', 'checked_at': stamp,
            'message': 'the store has no results yet: the pipeline has not '
                       'written a pane'}
  out = figures(tables, tz, now_ms, max_windows)
  out['checked_at'] = stamp
  out['store'] = tables.where
  return out
