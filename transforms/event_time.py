"""Event time: the one parser for the `event_time` field.

Accepted: epoch milliseconds (an integer, or a string of ASCII digits) in
0..MAX_EPOCH_MS, or an ISO-8601 string with a UTC offset or `Z`. Anything
else (naive ISO strings, floats, booleans) is rejected: a timestamp without
an offset is ambiguous, and guessing a zone would silently shift revenue
between windows.
"""
from __future__ import annotations

import datetime
from typing import Any

MAX_EPOCH_MS = 253402300799999  # 9999-12-31T23:59:59.999Z
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
    return _check_epoch_ms(int(text))
  try:
    parsed = datetime.datetime.fromisoformat(text)
  except ValueError as e:
    raise BadTime(str(e)) from None
  if parsed.tzinfo is None or parsed.utcoffset() is None:
    raise BadTime('ISO-8601 time without a UTC offset')
  delta = parsed - _EPOCH
  # Integer arithmetic: timedelta keeps microseconds exactly.
  return (delta.days * 86_400_000 + delta.seconds * 1000 +
          delta.microseconds // 1000)


def _check_epoch_ms(value: int) -> int:
  if not 0 <= value <= MAX_EPOCH_MS:
    raise BadTime(f'epoch milliseconds {value} out of range')
  return value


def format_utc_ms(epoch_ms: int) -> str:
  """Formats epoch milliseconds as ISO-8601 UTC with a `Z` suffix."""
  moment = _EPOCH + datetime.timedelta(milliseconds=epoch_ms)
  if moment.microsecond:
    return moment.strftime('%Y-%m-%dT%H:%M:%S.') + (
        f'{moment.microsecond // 1000:03d}Z')
  return moment.strftime('%Y-%m-%dT%H:%M:%SZ')
