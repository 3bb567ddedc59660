"""The calendar day a window's row belongs to.

A row that carries a `day` column (daily windows in a business time zone)
keeps it; any other row belongs to the local date of its window start in
the given IANA time zone (UTC unless told). A window that straddles a local
midnight (an hourly window in a zone with a 30-minute offset) counts for
the day it starts in.
"""
from __future__ import annotations

import datetime
import zoneinfo
from typing import Any, Mapping

__all__ = ['DEFAULT_TIMEZONE', 'day_of', 'local_day', 'zone']

DEFAULT_TIMEZONE = 'UTC'


def zone(name: str) -> zoneinfo.ZoneInfo:
  """The IANA zone of that name; ValueError in one line when unknown."""
  try:
    return zoneinfo.ZoneInfo(name or DEFAULT_TIMEZONE)
  except (zoneinfo.ZoneInfoNotFoundError, ValueError):
    raise ValueError(f'unknown time zone {name!r} (an IANA name such as '
                     f'Europe/Paris)') from None


def local_day(epoch_ms: int, tz: zoneinfo.ZoneInfo) -> str:
  """ISO date (YYYY-MM-DD) of an instant in a time zone."""
  moment = datetime.datetime.fromtimestamp(epoch_ms / 1000, tz)
  return moment.date().isoformat()


def day_of(row: Mapping[str, Any], tz: zoneinfo.ZoneInfo) -> str:
  """A row's day: its own `day` column if it has one, else the local date
  of its window start."""
  day = row.get('day')
  if day:
    return str(day)[:10]
  return local_day(int(row['window_start']), tz)
