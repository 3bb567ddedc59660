"""Daily windows in streaming (TestStream through the real graph), on New
York's 25-hour day (1 November 2026), its 23-hour day (8 March 2026) and a
Kathmandu day (UTC+05:45): the day fires on time, takes a late order within
the allowed lateness as a LATE pane, and turns an order beyond it into a
`late` dead letter; the newest pane of every day then equals the bounded
expectation (tests/daily_reference.py) of the orders it took.
"""
import pathlib
import random

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue

from pipelines.sales import build_sales_graph
from tests.daily_reference import (dst_event_times, expected_daily,
                                   write_dst_orders)
from tests.helpers import config, raw
from tests.pipelines.test_daily import (CATALOG, FX, RESULT_KEYS, SAMPLE,
                                       TOP_KEYS)
from tests.pipelines.test_streaming_semantics import as_batches
from tests.reference import compute_expected, round_cents

LATENESS_MS = 3_600_000  # the default --allowed_lateness_seconds
HOUR_MS = 3_600_000
# (zone, the local day, its first and last instant + 1 ms in UTC, its hours)
DAYS = [
    ('America/New_York', '2026-11-01', 1793505600000, 1793595600000, 25),
    ('America/New_York', '2026-03-08', 1772946000000, 1773028800000, 23),
    ('Asia/Kathmandu', '2026-03-08', 1772907300000, 1772993700000, 24),
]


def newest_panes(keys):
  """Of the rows (dicts with pane_index), the newest pane's row per key."""
  def pick(rows):
    newest = {}
    for row in rows:
      key = tuple(row[k] for k in keys)
      if key not in newest or row['pane_index'] > newest[key]['pane_index']:
        newest[key] = row
    return newest.values()
  return pick


def as_fields(row):
  out = row._asdict()
  out['revenue_usd'] = round_cents(out['revenue_usd'])
  if 'avg_order_value_usd' in out:
    out['avg_order_value_usd'] = round_cents(out['avg_order_value_usd'])
  return out


def matches(expected, keys, identity):
  want = sorted((tuple(r[k] for k in keys) for r in expected), key=repr)

  def check(actual):
    got = sorted((tuple(r[k] for k in keys)
                  for r in newest_panes(identity)(actual)), key=repr)
    assert got == want
  return check


# The default (columnar) steps; both engines share ApplyWindowPolicy, and
# the record steps' daily windows are held to the same rows in batch.
@pytest.mark.parametrize('tz, day, day_start, day_end, hours', DAYS,
                         ids=[f'{d[0]}-{d[1]}' for d in DAYS])
def test_a_day_fires_on_time_then_late_and_drops_too_late(
    tmp_path, tz, day, day_start, day_end, hours):
  assert day_end - day_start == hours * HOUR_MS
  # The day before, the day, the day after (local).
  lo, hi = day_start - 86_400_000, day_end + 86_400_000
  times = [t for t in dst_event_times() if lo <= t < hi]
  times += [t for t in (day_start, day_end - 1) if t not in times]
  path = tmp_path / 'nov.jsonl'
  write_dst_orders(str(path), CATALOG, times)
  lines = path.read_text().splitlines()
  # Late, within the lateness: the day's last millisecond. Too late: its
  # first, sent once the watermark is past the day's end + lateness.
  late = times.index(day_end - 1)
  too_late = times.index(day_start)
  on_time = [i for i in range(len(lines)) if i not in (late, too_late)]
  random.Random(7).shuffle(on_time)

  def record(i, watermark_ms):
    value = raw(lines[i], position=i + 1, source=str(path),
                watermark_ms=watermark_ms)
    return TimestampedValue(value, times[i] / 1000.0)

  start_wm = lo - 3_600_000
  stream = (TestStream()
            .advance_watermark_to(start_wm / 1000.0)
            .add_elements([record(i, start_wm) for i in on_time])
            .advance_watermark_to((day_end + 600_000) / 1000.0)
            .add_elements([record(late, day_end + 600_000)])
            .advance_watermark_to((day_end + LATENESS_MS + 1000) / 1000.0)
            .add_elements([record(too_late, day_end + LATENESS_MS + 1000)])
            .advance_watermark_to_infinity())

  taken = [o for o in compute_expected([str(path)], CATALOG, FX).orders
           if o.position != too_late + 1]
  results, top = expected_daily(taken, tz, CATALOG, FX)
  assert len({r['day'] for r in results}) == 3 and day in {
      r['day'] for r in results}
  assert {(r['window_start_ms'], r['window_end_ms']) for r in results
          if r['day'] == day} == {(day_start, day_end)}

  cfg = config(('--streaming', '--catalog_refresh_seconds=0', '--window',
                'daily', '--timezone', tz), streaming=True)
  pipeline = beam.Pipeline(options=PipelineOptions(['--streaming']))
  outputs = build_sales_graph(pipeline, cfg, as_batches(stream))
  rows = outputs['results'] | 'ResultFields' >> beam.Map(as_fields)
  assert_that(rows, matches(results, RESULT_KEYS,
                            ('window_start_ms', 'category')),
              label='NewestPanesEqualBatch')
  assert_that(outputs['top_products'] | 'TopFields' >> beam.Map(as_fields),
              matches(top, TOP_KEYS, ('window_start_ms', 'rank')),
              label='NewestTopProductsEqualBatch')
  day_timings = (
      rows
      | 'DayTotals' >> beam.Filter(
          lambda r: r['day'] == day and r['category'] == '__all__')
      | 'Timing' >> beam.Map(lambda r: (r['pane_timing'], r['orders'])))
  day_orders = sum(1 for o in taken if day_start <= o.event_ms < day_end)
  assert_that(day_timings, equal_to([('ON_TIME', day_orders - 1),
                                     ('LATE', day_orders)]),
              label='DayOnTimeThenLate')
  assert_that(outputs['dead_letters']
              | 'Dead' >> beam.Map(lambda d: (d.reason, d.position)),
              equal_to([('late', too_late + 1)]), label='TooLateIsDeadLetter')
  pipeline.run().wait_until_finish()


def test_the_sample_streamed_in_file_order_gives_the_batch_days(tmp_path):
  """The bundled sample (its dirty records and duplicates included; its
  blank lines are not records) as a stream into New York days: the newest pane of every day and its top
  products equal the independent expectation of the bounded run."""
  lines = pathlib.Path(SAMPLE).read_text(encoding='utf-8').split('\n')
  expected = compute_expected([SAMPLE], CATALOG, FX)
  event_ms = {o.position: o.event_ms for o in expected.orders}
  start = min(event_ms.values()) - 3_600_000
  stream = (TestStream()
            .advance_watermark_to(start / 1000.0)
            .add_elements([TimestampedValue(
                raw(line, position=i, source=SAMPLE, watermark_ms=start),
                event_ms.get(i, start) / 1000.0)
                           for i, line in enumerate(lines, 1)
                           if line.strip()])  # as the file reader
            .advance_watermark_to_infinity())
  results, top = expected_daily(expected.orders, 'America/New_York', CATALOG,
                                FX)
  cfg = config(('--streaming', '--catalog_refresh_seconds=0', '--window',
                'daily', '--timezone', 'America/New_York',
                '--dedupe_ttl_seconds=604800'), streaming=True)
  pipeline = beam.Pipeline(options=PipelineOptions(['--streaming']))
  outputs = build_sales_graph(pipeline, cfg, as_batches(stream))
  assert_that(outputs['results'] | 'ResultFields' >> beam.Map(as_fields),
              matches(results, RESULT_KEYS, ('window_start_ms', 'category')),
              label='NewestPanesEqualBatch')
  assert_that(outputs['top_products'] | 'TopFields' >> beam.Map(as_fields),
              matches(top, TOP_KEYS, ('window_start_ms', 'rank')),
              label='NewestTopProductsEqualBatch')
  assert_that(outputs['dead_letters'] | 'Dead' >> beam.Map(
      lambda d: (d.reason, d.position)), equal_to(
          [(r, p) for r, _, p in expected.dead_letters]),
              label='DeadLettersEqualBatch')
  pipeline.run().wait_until_finish()
