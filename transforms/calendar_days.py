"""Calendar days in a time zone: the geometry of `--window daily`, once.

A day window runs from one local midnight to the next, as UTC instants:
24 hours on most days, 23 or 25 on the days daylight-saving time starts or
ends, whatever whole-second offset the zone has (Asia/Kolkata +05:30,
Asia/Kathmandu +05:45, historical local mean times). Where a zone skips
midnight itself (a DST gap at 00:00), the day starts at the first instant
whose local date is that day. Every path asks this module:

* `DailyWindows`, the Beam WindowFn (assignment in both engines), applied
  by `WindowIntoDays`;
* `day_bounds_ms_array`, for the columnar pre-aggregation (a day is its
  own time unit, so partials never straddle two days) and the columnar
  late-data check;
* `local_day`, for the `day` column of every output row.

Times are integers of epoch milliseconds (UTC), as everywhere else.
"""
from __future__ import annotations

import datetime
import functools
import zoneinfo
from typing import List, Tuple

import apache_beam as beam
import numpy as np
from apache_beam.coders.coders import IntervalWindowCoder
from apache_beam.transforms import window
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

DEFAULT_TIMEZONE = 'UTC'
DAY_MS = 86_400_000
_EPOCH_DATE = datetime.date(1970, 1, 1)


def zone(name: str) -> zoneinfo.ZoneInfo:
  """The IANA zone `name`, or ValueError with a one-line message."""
  try:
    return _zone(name)
  except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
    raise ValueError(
        f'unknown time zone {name!r}: use an IANA name such as UTC, '
        f'Europe/Berlin or America/New_York') from None


@functools.lru_cache(maxsize=64)
def _zone(name: str) -> zoneinfo.ZoneInfo:
  if not name or name != name.strip():
    raise ValueError(name)
  return zoneinfo.ZoneInfo(name)


def _local_ordinal(tz: zoneinfo.ZoneInfo, epoch_ms: int) -> int:
  """The local calendar date of an instant, as a date ordinal."""
  instant = datetime.datetime.fromtimestamp(
      (epoch_ms // 1000), tz=datetime.timezone.utc)
  return instant.astimezone(tz).date().toordinal()


@functools.lru_cache(maxsize=65536)
def day_start_ms(tz_name: str, ordinal: int) -> int:
  """The first instant (epoch ms) whose local date in the zone is the date
  with this ordinal: local midnight, or the end of a DST gap over it."""
  tz = _zone(tz_name)
  local = datetime.datetime.combine(datetime.date.fromordinal(ordinal),
                                    datetime.time(0), tzinfo=tz)
  candidates = sorted(int(local.replace(fold=f).timestamp()) * 1000
                      for f in (0, 1))
  low, high = candidates
  if _local_ordinal(tz, low) >= ordinal:
    return low  # midnight exists (an ambiguous one: its first occurrence)
  # Midnight falls in a gap: the day starts at the transition, which lies
  # between the two readings of midnight. Offsets are whole seconds.
  low_s, high_s = low // 1000, high // 1000
  while high_s - low_s > 1:
    mid = (low_s + high_s) // 2
    if _local_ordinal(tz, mid * 1000) >= ordinal:
      high_s = mid
    else:
      low_s = mid
  return high_s * 1000


def day_bounds_ms(tz_name: str, epoch_ms: int) -> Tuple[int, int, int]:
  """(start ms, end ms, local date ordinal) of the day holding an instant."""
  ordinal = _local_ordinal(_zone(tz_name), epoch_ms)
  return day_start_ms(tz_name, ordinal), day_start_ms(tz_name,
                                                      ordinal + 1), ordinal


def day_bounds_ms_array(tz_name: str, epoch_ms: np.ndarray
                        ) -> Tuple[np.ndarray, np.ndarray]:
  """(starts, ends) in epoch ms of the days holding each instant; agrees
  with day_bounds_ms (a test holds the two to each other).

  Every UTC offset lies within a day, so an instant of UTC date d falls on
  local date d-1, d or d+1: the local midnights of d-1 .. d+2 around each
  distinct UTC date bound it.
  """
  t = np.asarray(epoch_ms, np.int64)
  if t.size == 0:
    return t.copy(), t.copy()
  utc_days = np.unique(t // DAY_MS)
  first = _EPOCH_DATE.toordinal()
  ordinals = sorted({first + int(d) + k for d in utc_days
                     for k in (-1, 0, 1, 2)})
  bounds = np.array([day_start_ms(tz_name, o) for o in ordinals], np.int64)
  index = np.searchsorted(bounds, t, side='right') - 1
  return bounds[index], bounds[index + 1]


def local_day(tz_name: str, epoch_ms: int) -> str:
  """The local date (ISO YYYY-MM-DD) of an instant in the zone."""
  return datetime.date.fromordinal(
      _local_ordinal(_zone(tz_name), epoch_ms)).isoformat()


class DailyWindows(window.NonMergingWindowFn):
  """One window per local calendar day of a time zone: [local midnight,
  next local midnight), as UTC instants (FixedWindows with an offset cannot
  follow daylight-saving time)."""

  def __init__(self, tz_name: str = DEFAULT_TIMEZONE) -> None:
    zone(tz_name)  # fails here, at construction, for an unknown name
    self.tz_name = tz_name

  def assign(self, context: window.WindowFn.AssignContext
             ) -> List[window.IntervalWindow]:
    # Day bounds are whole seconds, so flooring the microseconds to
    # milliseconds never moves an element across a boundary.
    epoch_ms = int(context.timestamp.micros // 1000)
    start, end, _ = day_bounds_ms(self.tz_name, epoch_ms)
    return [window.IntervalWindow(Timestamp(micros=start * 1000),
                                  Timestamp(micros=end * 1000))]

  def get_window_coder(self) -> IntervalWindowCoder:
    return IntervalWindowCoder()

  def __eq__(self, other: object) -> bool:
    return type(other) is DailyWindows and other.tz_name == self.tz_name

  def __hash__(self) -> int:
    return hash((DailyWindows, self.tz_name))

  def __repr__(self) -> str:
    return f'DailyWindows({self.tz_name!r})'


class AssignDaysFn(beam.DoFn):
  """Puts each element into its local day's window (DailyWindows.assign),
  keeping its timestamp."""

  def __init__(self, tz_name: str) -> None:
    self._days = DailyWindows(tz_name)

  def process(self, element, timestamp=beam.DoFn.TimestampParam):
    context = window.WindowFn.AssignContext(timestamp, element=element)
    yield WindowedValue(element, timestamp, self._days.assign(context))


class WindowIntoDays(beam.PTransform):
  """beam.WindowInto(DailyWindows(tz), ...), in a form every runner runs.

  Java runners (Flink, Spark) know only Beam's standard WindowFns and fail
  on a Python one ("Unknown or unsupported WindowFn"). So the windowing
  strategy the runner sees names a standard non-merging WindowFn of the
  same window type (FixedWindows of a day; IntervalWindow, one window per
  element), with the trigger, accumulation and lateness asked for, and the
  step after it assigns the real day windows in the SDK. A runner groups
  non-merging windows by the windows the elements carry and fires and
  expires each at its own end (+ lateness), so a 23- or 25-hour day is
  grouped, triggered and closed as itself.
  """

  def __init__(self, tz_name: str, **windowing) -> None:
    super().__init__()
    self._tz_name = tz_name
    self._windowing = windowing

  def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
    return (pcoll
            | 'WindowInto' >> beam.WindowInto(
                window.FixedWindows(DAY_MS // 1000), **self._windowing)
            | 'AssignLocalDays' >> beam.ParDo(AssignDaysFn(self._tz_name)))
