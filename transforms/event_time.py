"""Event time: the one parser for the `event_time` field.

Accepted: epoch milliseconds (an integer, or a string of ASCII digits), or
an ISO-8601 string with a UTC offset or `Z`, either way in
MIN_EPOCH_MS..MAX_EPOCH_MS. Anything else (naive ISO strings, floats,
booleans) is rejected: a timestamp without an offset is ambiguous, and
guessing a zone would silently shift revenue between windows.

The range is the stores' (docs/semantics.md, 'Event time range'): Python's
datetime, and with it every sink, ends at 9999-12-31, and the window that
holds an event ends after it (a sliding window, a calendar day's local
midnight), so valid event times stop a year earlier (WINDOW_HEADROOM_MS).
Before 1970 the epoch form has no text at all; the ISO form follows it.
"""
from __future__ import annotations

import datetime
from typing import Any, Tuple

import numpy as np
import pyarrow as pa

MIN_EPOCH_MS = 0  # 1970-01-01T00:00:00.000Z
MAX_EPOCH_MS = 253370764799999  # 9998-12-31T23:59:59.999Z
# What the stores can hold beyond the last valid event time: the windows of
# an event (up to a year long) end before 10000-01-01.
WINDOW_HEADROOM_MS = 253402300800000 - 1 - MAX_EPOCH_MS
# An integer text longer than this is out of every range here; int() of a
# longer text can exceed Python's digit limit (sys.get_int_max_str_digits).
MAX_INTEGER_DIGITS = 20
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


class BadTime(ValueError):
  """The value is not an event time this product accepts."""


def parse_event_time_ms(value: Any) -> int:
  """Returns the event time as UTC epoch milliseconds, or raises BadTime."""
  if isinstance(value, bool):
    raise BadTime('boolean is not a time')
  if isinstance(value, int):
    return _check_epoch_ms(value)
  if not isinstance(value, str):
    raise BadTime(f'{type(value).__name__} is not a time')
  text = value.strip()
  if text.isascii() and text.isdigit():
    digits = text.lstrip('0') or '0'  # int() counts leading zeros too
    if len(digits) > MAX_INTEGER_DIGITS:
      raise BadTime(f'epoch milliseconds of {len(digits)} digits out of range')
    return _check_epoch_ms(int(digits))
  try:
    parsed = datetime.datetime.fromisoformat(text)
  except ValueError as e:
    raise BadTime(str(e)) from None
  if parsed.tzinfo is None or parsed.utcoffset() is None:
    raise BadTime('ISO-8601 time without a UTC offset')
  try:
    delta = parsed - _EPOCH
  except OverflowError:  # an offset that moves 9999-12-31 past the year
    raise BadTime(f'{text!r} out of range') from None
  # Integer arithmetic: timedelta keeps microseconds exactly.
  ms = (delta.days * 86_400_000 + delta.seconds * 1000 +
        delta.microseconds // 1000)
  if not MIN_EPOCH_MS <= ms <= MAX_EPOCH_MS:
    raise BadTime(f'{text!r} out of range (1970-01-01 to 9998-12-31 UTC)')
  return ms


def _check_epoch_ms(value: int) -> int:
  if not MIN_EPOCH_MS <= value <= MAX_EPOCH_MS:
    shown = (str(value) if value.bit_length() <= 64 else
             f'of {value.bit_length()} bits')
    raise BadTime(f'epoch milliseconds {shown} out of range')
  return value


def format_utc_ms(epoch_ms: int) -> str:
  """Formats epoch milliseconds as ISO-8601 UTC with a `Z` suffix."""
  moment = _EPOCH + datetime.timedelta(milliseconds=epoch_ms)
  if moment.microsecond:
    return moment.strftime('%Y-%m-%dT%H:%M:%S.') + (
        f'{moment.microsecond // 1000:03d}Z')
  return moment.strftime('%Y-%m-%dT%H:%M:%SZ')


# --- the same rule on columns (the fast path of transforms/vectorized) ------

def days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
  """Days since 1970-01-01 of proleptic Gregorian dates (arrays)."""
  y = y - (m <= 2)
  era = np.floor_divide(y, 400)
  yoe = y - era * 400
  mp = (m + 9) % 12
  doy = (153 * mp + 2) // 5 + d - 1
  doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468


DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


ISO_LENGTHS = (20, 24, 25, 29)


def iso_ms_columns(padded: np.ndarray, begin: np.ndarray, length: np.ndarray
                  ) -> Tuple[np.ndarray, np.ndarray]:
  """The columnar twin of parse_event_time_ms for the ISO-8601 shapes
  YYYY-MM-DDTHH:MM:SS[.mmm](Z|+HH:MM|-HH:MM): (ok, epoch ms) for the texts
  padded[begin:begin + length], with numpy on a fixed-width byte matrix.
  ok is False for every other text (which then takes the scalar rule);
  padded must extend at least 29 bytes past the last text."""
  n = len(begin)
  ok = np.isin(length, ISO_LENGTHS)
  ms = np.zeros(n, np.int64)
  rows = np.flatnonzero(ok)
  if not len(rows):
    return ok, ms
  windows = np.lib.stride_tricks.sliding_window_view(padded, 29)
  m = windows[begin[rows]]
  digit = (m >= 48) & (m <= 57)
  length = length[rows]
  good = digit[:, [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]].all(1)
  good &= (m[:, 4] == 45) & (m[:, 7] == 45) & (m[:, 10] == 84)
  good &= (m[:, 13] == 58) & (m[:, 16] == 58)
  has_ms = (length == 24) | (length == 29)
  good &= ~has_ms | ((m[:, 19] == 46) & digit[:, 20:23].all(1))
  p = np.where(has_ms, 23, 19)
  r = np.arange(len(rows))
  zulu = (length == 20) | (length == 24)
  good &= ~zulu | (m[r, p] == 90)
  sign_byte = m[r, p]
  offset_ok = (((sign_byte == 43) | (sign_byte == 45)) & digit[r, p + 1] &
               digit[r, p + 2] & (m[r, p + 3] == 58) & digit[r, p + 4] &
               digit[r, p + 5])
  good &= zulu | offset_ok

  def num(*cols: np.ndarray | int) -> np.ndarray:
    """The decimal number of the digits in columns `cols` of each row (a
    column per row when an array), in int64; the byte matrix stays uint8."""
    out = np.zeros(len(rows), np.int64)
    for c in cols:
      column = m[:, c] if isinstance(c, int) else m[r, c]
      out = out * 10 + (column.astype(np.int64) - 48)
    return out

  year, month, day = num(0, 1, 2, 3), num(5, 6), num(8, 9)
  hour, minute, second = num(11, 12), num(14, 15), num(17, 18)
  millis = np.where(has_ms, num(20, 21, 22), 0)
  off_h = np.where(zulu, 0, num(p + 1, p + 2))
  off_m = np.where(zulu, 0, num(p + 4, p + 5))
  sign = np.where(sign_byte == 45, -1, 1)
  leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
  month_ok = (month >= 1) & (month <= 12)
  dim = DAYS_IN_MONTH[np.where(month_ok, month, 1)] + ((month == 2) & leap)
  good &= ((year >= 1) & month_ok & (day >= 1) & (day <= dim) &
           (hour <= 23) & (minute <= 59) & (second <= 59) & (off_h <= 23) &
           (off_m <= 59))
  days = days_from_civil(year, np.where(month_ok, month, 1), day)
  value = (days * 86_400_000 + hour * 3_600_000 + minute * 60_000 +
           second * 1000 + millis - sign * (off_h * 3_600_000 +
                                             off_m * 60_000))
  good &= (value >= MIN_EPOCH_MS) & (value <= MAX_EPOCH_MS)
  ok[rows] = good
  ms[rows] = np.where(good, value, 0)
  return ok, ms




def iso_ms_strings(text: pa.Array) -> Tuple[np.ndarray, np.ndarray]:
  """iso_ms_columns for a string array (nulls are not times)."""
  n = len(text)
  if n == 0:
    return np.zeros(0, bool), np.zeros(0, np.int64)
  offsets = np.frombuffer(text.buffers()[1], np.int32)[
      text.offset:text.offset + n + 1].astype(np.int64)
  data = text.buffers()[2]
  body = (np.frombuffer(data, np.uint8) if data is not None else
          np.zeros(0, np.uint8))
  padded = np.concatenate([body, np.zeros(32, np.uint8)])
  length = np.diff(offsets)
  if text.null_count:
    length = np.where(text.is_valid().to_numpy(zero_copy_only=False),
                      length, 0)
  return iso_ms_columns(padded, offsets[:-1], length)
