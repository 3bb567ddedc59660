"""The geometry of daily windows (transforms/calendar_days.py) against
DuckDB's time zones, and its scalar and columnar forms against each other.
"""
import datetime
import pickle
import zoneinfo

import numpy as np
import pytest
from apache_beam.transforms import window
from apache_beam.utils.timestamp import Timestamp

from tests.daily_reference import local_days
from transforms.calendar_days import (DailyWindows, day_bounds_ms,
                                      day_bounds_ms_array, local_day)
from transforms.windowing import WindowPolicy

# DST in both directions, half- and quarter-hour offsets, a 30-minute DST
# shift (Lord Howe), the southern hemisphere, and the date line.
ZONES = ('America/New_York', 'Asia/Kolkata', 'Asia/Kathmandu',
         'Australia/Adelaide', 'Australia/Lord_Howe', 'Europe/Berlin',
         'Pacific/Kiritimati', 'UTC')
# Zones whose clocks skip midnight itself on their spring day (checked
# against a minute-by-minute scan with zoneinfo: DuckDB's bundled ICU data
# disagrees with the system's tz database about Cuba's 2026).
MIDNIGHT_GAPS = (('America/Havana', '2026-03-08'),
                 ('America/Santiago', '2026-09-06'))
YEAR_2026 = (1767225600000, 1798761600000)


def instants(n=4000, seed=3):
  """Random instants over 2026."""
  return np.random.default_rng(seed).integers(*YEAR_2026, n, dtype=np.int64)


@pytest.mark.parametrize('tz', ZONES)
def test_day_bounds_equal_duckdb_around_every_midnight_of_2026(tz):
  hours = np.arange(YEAR_2026[0], YEAR_2026[1], 3_600_000, dtype=np.int64)
  starts, ends = day_bounds_ms_array(tz, hours)
  edges = np.unique(np.concatenate([starts, ends]))
  probes = np.concatenate([hours, edges - 1, edges, edges + 1])
  want = local_days(probes.tolist(), tz)
  starts, ends = day_bounds_ms_array(tz, probes)
  got = [(int(s), int(e), local_day(tz, int(s)))
         for s, e in zip(starts, ends)]
  assert got == want


@pytest.mark.parametrize('tz, day', MIDNIGHT_GAPS)
def test_a_day_whose_midnight_is_skipped_starts_at_its_first_instant(tz, day):
  zone = zoneinfo.ZoneInfo(tz)
  date = datetime.date.fromisoformat(day)

  def first_minute_of(d):  # scanned minute by minute, from 18 h before
    t = datetime.datetime.combine(d, datetime.time(0),
                                  datetime.timezone.utc)
    t -= datetime.timedelta(hours=18)
    while t.astimezone(zone).date() < d:
      t += datetime.timedelta(minutes=1)
    return int(t.timestamp()) * 1000

  start, end, _ = day_bounds_ms(tz, first_minute_of(date) + 1)
  assert (start, end) == (first_minute_of(date),
                          first_minute_of(date + datetime.timedelta(days=1)))
  assert end - start == 23 * 3_600_000
  assert local_day(tz, start) == day and local_day(tz, start - 1) < day


@pytest.mark.parametrize('tz', ZONES + tuple(z for z, _ in MIDNIGHT_GAPS))
def test_scalar_array_window_fn_and_expiry_agree(tz):
  times = instants()
  starts, ends = day_bounds_ms_array(tz, times)
  fn = DailyWindows(tz)
  policy = WindowPolicy(kind='daily', timezone=tz, bounded=False)
  expiry = policy.earliest_expiry_ms_array(times)
  units = policy.unit_starts_ms(times)
  for i in range(0, len(times), 40):
    t = int(times[i])
    start, end, _ = day_bounds_ms(tz, t)
    assert (start, end) == (starts[i], ends[i])
    [win] = fn.assign(window.WindowFn.AssignContext(
        Timestamp(micros=t * 1000)))
    assert (win.start.micros, win.end.micros) == (start * 1000, end * 1000)
    assert expiry[i] == policy.earliest_expiry_ms(t) == (
        end + policy.allowed_lateness_seconds * 1000)
  # The columnar pre-aggregation's unit of a daily window is the day.
  assert (units == starts).all()


def test_a_record_stamped_as_beam_stamps_it_lands_in_its_day():
  # event_ms / 1000.0 (as the parse step stamps) at a day's first and last
  # millisecond: Kathmandu's midnight is at hh:15 UTC.
  start, end, _ = day_bounds_ms('Asia/Kathmandu', 1772906100000)
  fn = DailyWindows('Asia/Kathmandu')
  for t, want in ((start, start), (end - 1, start), (start - 1, None)):
    [win] = fn.assign(window.WindowFn.AssignContext(t / 1000.0))
    got = win.start.micros // 1000
    assert got == want if want is not None else got < start


def test_window_fn_round_trips_through_pickle_and_compares_by_zone():
  fn = DailyWindows('Asia/Kolkata')
  assert pickle.loads(pickle.dumps(fn)) == fn
  assert fn != DailyWindows('UTC')
  assert WindowPolicy(kind='daily', timezone='Asia/Kolkata').window_fn() == fn


@pytest.mark.parametrize('name', ['Mars/Olympus_Mons', '', ' UTC',
                                  '../../etc/passwd', 'utc '])
def test_an_unknown_zone_is_a_value_error_naming_it(name):
  with pytest.raises(ValueError, match='unknown time zone'):
    WindowPolicy(kind='daily', timezone=name)


def test_runners_are_shown_only_standard_window_fns():
  # Flink and Spark refuse a pickled Python WindowFn; the day windows are
  # assigned in the SDK instead (calendar_days.WindowIntoDays).
  import apache_beam as beam
  from transforms.windowing import ApplyWindowPolicy
  pipeline = beam.Pipeline()
  _ = (pipeline | beam.Create([('k', 1)])
       | ApplyWindowPolicy(WindowPolicy(kind='daily', timezone='Asia/Kolkata',
                                        bounded=False))
       | beam.GroupByKey())
  strategies = pipeline.to_runner_api().components.windowing_strategies
  urns = {s.window_fn.urn for s in strategies.values()}
  assert not [u for u in urns if 'pickled_python' in u], urns
