"""The shared figures (pure logic, rows written by hand): days from a `day`
column or from the window start in a time zone, sums that count each order
once, and the dashboard's open/settled windows, rates and freshness."""
import datetime
import zoneinfo
from decimal import Decimal

import pytest

from dashboard.snapshot import figures
from reporting.days import day_of, zone
from reporting.figures import additive, day_totals, revenue_by_day
from reporting.tables import DeadLetterTally, Tables, normalize_row

UTC = zoneinfo.ZoneInfo('UTC')
NEW_YORK = zoneinfo.ZoneInfo('America/New_York')
H = 3_600_000


def ms(text):
  return int(datetime.datetime.fromisoformat(text).timestamp() * 1000)


def row(start, category='__all__', revenue='10.00', orders=1, hours=1,
        timing='ON_TIME', customer='', **extra):
  return dict(window_start=start, window_end=start + hours * H,
              customer_id=customer, category=category, orders=orders,
              units=orders, revenue_usd=Decimal(revenue),
              distinct_customers=orders, avg_order_value_usd=Decimal(revenue),
              pane_timing=timing, pane_index=0, is_final=timing != 'EARLY',
              **extra)


def test_a_day_column_wins_else_the_local_date_of_the_window_start():
  start = ms('2026-03-08T03:00:00+00:00')  # 22:00 on the 7th in New York
  assert day_of(row(start), UTC) == '2026-03-08'
  assert day_of(row(start), NEW_YORK) == '2026-03-07'
  assert day_of(row(start, day='2026-03-09'), NEW_YORK) == '2026-03-09'
  assert day_of(row(ms('2026-01-01T00:00:00+00:00')),
                zoneinfo.ZoneInfo('Asia/Kathmandu')) == '2026-01-01'
  with pytest.raises(ValueError, match="unknown time zone 'Nowhere/X'"):
    zone('Nowhere/X')


def test_sqlite_text_and_postgres_values_read_the_same():
  from_sqlite = normalize_row({'window_start': '2026-11-02T13:00:00Z',
                               'window_end': '2026-11-02T14:00:00Z',
                               'revenue_usd': '12.50', 'is_final': 1,
                               'updated_at': '2026-11-02T14:00:01.250Z'})
  assert from_sqlite['window_start'] == ms('2026-11-02T13:00:00+00:00')
  assert from_sqlite['revenue_usd'] == Decimal('12.50')
  assert from_sqlite['updated_at'] == ms('2026-11-02T14:00:01.250+00:00')
  assert from_sqlite['is_final'] is True


def test_sliding_windows_are_summed_only_where_they_tile():
  t0 = ms('2026-11-02T00:00:00+00:00')
  rows = [row(t0 + i * H // 2, hours=1, revenue='1.00') for i in range(6)]
  assert [r['window_start'] for r in additive(rows)] == [t0, t0 + H, t0 + 2 * H]
  days = day_totals(rows, UTC)
  assert [(d.day, d.orders, d.revenue) for d in days] == [
      ('2026-11-02', 3, Decimal('3.00'))]


def test_per_day_revenue_by_category_in_new_york():
  t0 = ms('2026-11-02T04:00:00+00:00')  # 23:00 on the 1st in New York
  rows = [row(t0, 'books', '5.00'), row(t0 + H, 'books', '7.00'),
          row(t0 + H, 'toys', '1.25')]
  assert revenue_by_day(rows, NEW_YORK) == {
      '2026-11-01': {'books': Decimal('5.00')},
      '2026-11-02': {'books': Decimal('7.00'), 'toys': Decimal('1.25')}}


def test_dashboard_figures_mark_open_windows_and_rates():
  now = ms('2026-11-02T12:30:00+00:00')
  t0 = ms('2026-11-02T10:00:00+00:00')
  results = [row(t0, revenue='100.00', orders=8, updated_at=now - 60_000),
             row(t0, 'books', '100.00', 8),
             row(t0 + H, revenue='50.00', orders=2, updated_at=now - 5_000),
             row(t0 + H, 'toys', '50.00', 2),
             row(t0 + 2 * H, revenue='5.00', orders=1, timing='EARLY',
                 updated_at=now - 2_000),
             row(t0 + 2 * H, 'toys', '5.00', 1, timing='EARLY'),
             row(ms('2026-11-01T10:00:00+00:00'), revenue='1000.00',
                 orders=9)]
  tally = DeadLetterTally(by_reason={'bad_time': 2, 'late': 1})
  out = figures(Tables(results, [], tally), UTC, now, max_windows=3)
  assert out['total_revenue_usd'] == '1155.00'
  assert out['total_orders'] == 20
  assert (out['today'], out['today_revenue_usd'], out['today_orders']) == (
      '2026-11-02', '155.00', 11)
  assert [w['state'] for w in out['windows']] == ['settled', 'settled', 'open']
  assert out['dead_letter_rate'] == round(2 / 23, 6)
  assert out['late_rate'] == round(1 / 23, 6)
  assert out['freshness_seconds'] == 2.0
  toys = next(s for s in out['series'] if s['category'] == 'toys')
  assert toys['y'] == ['0.00', '50.00', '5.00']
