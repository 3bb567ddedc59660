"""Independent expectation of `--window daily --timezone TZ` rows.

The local calendar day of each order, and the UTC instants of that day's
midnights, come from DuckDB (`timezone(tz, ...)`, `AT TIME ZONE`); the
figures are summed in plain Python with exact decimals. Nothing here
imports the pipeline's `transforms/` or `pipelines/`: valid, deduplicated
orders come from tests/reference.py, the other oracle.

Also the generator of a small order file whose events cross America/
New_York's March and November daylight-saving changes and the local
midnights of Asia/Kathmandu (UTC+05:45), including events 1 ms either side
of those midnights.
"""
from __future__ import annotations

import csv
import datetime
import json
from collections import defaultdict
from decimal import Decimal
from fractions import Fraction
from typing import Any, Dict, List, Sequence, Tuple

import duckdb
import pyarrow as pa

from tests.reference import (ALL_CATEGORIES, UNKNOWN_CATEGORY, Order,
                             load_catalog, load_fx, round_cents)

DayKey = Tuple[int, int, str]  # start ms, end ms, local day


def local_days(event_ms: Sequence[int], tz: str) -> List[DayKey]:
  """(start ms, end ms, YYYY-MM-DD) of each instant's local day, by DuckDB."""
  con = duckdb.connect()
  con.execute("SET TimeZone = 'UTC'")
  e = pa.table({'i': pa.array(range(len(event_ms)), pa.int64()),  # noqa: F841
                'ms': pa.array([int(ms) for ms in event_ms], pa.int64())})
  con.register('e', e)
  rows = con.execute(
      """SELECT i, epoch_ms(d::TIMESTAMP AT TIME ZONE $tz),
                epoch_ms((d + 1)::TIMESTAMP AT TIME ZONE $tz),
                strftime(d, '%Y-%m-%d')
         FROM (SELECT i, CAST(timezone($tz, epoch_ms(ms)::TIMESTAMPTZ)
                              AS DATE) AS d FROM e)
         ORDER BY i""", {'tz': tz}).fetchall()
  con.close()
  return [(int(s), int(e), d) for _, s, e, d in rows]


def _revenue(order: Order, fx: Dict[str, Decimal]) -> Fraction:
  return Fraction(order.quantity) * Fraction(order.unit_price) * Fraction(
      fx[order.currency])


def expected_daily(orders: Sequence[Order], tz: str, catalog_path: str,
                   fx_path: str, top_n: int = 5
                   ) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
  """(category rows, top-product rows) per local day, money in cents.

  rank: categories by exact revenue, highest first, ties by name; None on
  the all-categories row. Top products: by exact revenue, ties by id."""
  fx, catalog = load_fx(fx_path), load_catalog(catalog_path)
  days = local_days([o.event_ms for o in orders], tz)
  members: Dict[DayKey, List[Order]] = defaultdict(list)
  for order, day in zip(orders, days):
    members[day].append(order)
  results, top = [], []
  for (start, end, day), group in sorted(members.items()):
    by_category: Dict[str, List[Order]] = defaultdict(list)
    by_product: Dict[str, List[Order]] = defaultdict(list)
    for o in group:
      by_category[catalog.get(o.product_id, (UNKNOWN_CATEGORY, ''))[0]
                  ].append(o)
      by_product[o.product_id].append(o)
    revenue = {c: sum((_revenue(o, fx) for o in os), Fraction(0))
               for c, os in by_category.items()}
    ranked = sorted(revenue, key=lambda c: (-revenue[c], c))
    ranks: Dict[str, Any] = {c: r for r, c in enumerate(ranked, start=1)}
    by_category[ALL_CATEGORIES] = list(group)
    revenue[ALL_CATEGORIES] = sum(revenue.values(), Fraction(0))
    ranks[ALL_CATEGORIES] = None
    for category, os in by_category.items():
      results.append({
          'window_start_ms': start, 'window_end_ms': end, 'day': day,
          'category': category, 'rank': ranks[category], 'orders': len(os),
          'units': sum(o.quantity for o in os),
          'revenue_usd': round_cents(revenue[category]),
          'distinct_customers': len({o.customer_id for o in os}),
          'avg_order_value_usd': round_cents(revenue[category] / len(os))})
    products = sorted(
        ((sum((_revenue(o, fx) for o in os), Fraction(0)), p, os)
         for p, os in by_product.items()), key=lambda t: (-t[0], t[1]))
    for rank, (money, product, os) in enumerate(products[:top_n], start=1):
      top.append({
          'window_start_ms': start, 'window_end_ms': end, 'day': day,
          'rank': rank, 'product_id': product,
          'category': catalog.get(product, (UNKNOWN_CATEGORY, ''))[0],
          'orders': len(os), 'units': sum(o.quantity for o in os),
          'revenue_usd': round_cents(money)})
  return results, top


def _iso(ms: int) -> str:
  moment = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
  return moment.strftime('%Y-%m-%dT%H:%M:%S.') + f'{ms % 1000:03d}Z'


def _ms(text: str) -> int:
  moment = datetime.datetime.fromisoformat(text.replace('Z', '+00:00'))
  return int(moment.timestamp()) * 1000


# Local midnights (UTC) where a day window begins or ends, checked to the
# millisecond: New York's 23-hour and 25-hour days, and Kathmandu (+05:45).
EDGES_UTC = ('2026-03-08T05:00:00Z', '2026-03-09T04:00:00Z',
             '2026-11-01T04:00:00Z', '2026-11-02T05:00:00Z',
             '2026-03-07T18:15:00Z', '2026-10-31T18:15:00Z')
SPANS_UTC = (('2026-03-06T20:00:00Z', '2026-03-10T06:00:00Z'),
             ('2026-10-30T20:00:00Z', '2026-11-03T06:00:00Z'))


def dst_event_times(step_minutes: int = 53) -> List[int]:
  """Event times (ms) every step_minutes over both DST weekends, plus each
  edge in EDGES_UTC, 1 ms before it and 1 ms after it."""
  times = []
  for first, last in SPANS_UTC:
    t, end = _ms(first), _ms(last)
    while t < end:
      times.append(t + 7_001)
      t += step_minutes * 60_000
  for edge in EDGES_UTC:
    times += [_ms(edge) - 1, _ms(edge), _ms(edge) + 1]
  return times


def write_dst_orders(path: str, catalog_path: str,
                     times: Sequence[int] = ()) -> List[int]:
  """Writes one valid order per event time as JSON Lines (USD, EUR and an
  unknown product among them); returns the event times."""
  times = list(times) or dst_event_times()
  with open(catalog_path, newline='') as f:
    products = [row['product_id'] for row in csv.DictReader(f)][:9]
  products.append('P9999-unknown')
  with open(path, 'w') as f:
    for i, ms in enumerate(times):
      f.write(json.dumps({
          'order_id': f'dst-{i}', 'customer_id': f'c-{i % 13}',
          'product_id': products[(i * 7) % len(products)],
          'quantity': 1 + i % 4,
          'unit_price': f'{5 + (i * 37) % 190}.{i % 100:02d}',
          'currency': ('USD', 'EUR')[i % 2],
          'event_time': _iso(ms) if i % 3 else ms,
      }) + '\n')
  return times
