"""The calendar day a window's row belongs to.

A row that carries a `day` column (daily windows in a business time zone)
keeps it; any other row belongs to the local date of its window start in
the given IANA time zone (UTC unless told). A window that straddles a local
midnight (an hourly window in a zone with a 30-minute offset) counts for
the day it starts in.
"""
from __future__ import annotations

import zoneinfo
from typing import Any, Mapping

from transforms import calendar_days
from transforms.calendar_days import DEFAULT_TIMEZONE

__all__ = ['DEFAULT_TIMEZONE', 'day_of', 'local_day', 'zone']


def zone(name: str) -> zoneinfo.ZoneInfo:
  """The IANA zone of that name (UTC when empty); ValueError in one line
  when unknown (transforms/calendar_days.py, the pipeline's own rule)."""
  return calendar_days.zone(name or DEFAULT_TIMEZONE)


def local_day(epoch_ms: int, tz: zoneinfo.ZoneInfo) -> str:
  """ISO date (YYYY-MM-DD) of an instant in a time zone: the pipeline's
  `day` rule (transforms/calendar_days.local_day)."""
  return calendar_days.local_day(tz.key, epoch_ms)


def day_of(row: Mapping[str, Any], tz: zoneinfo.ZoneInfo) -> str:
  """A row's day: its own `day` column if it has one, else the local date
  of its window start."""
  day = row.get('day')
  if day:
    return str(day)[:10]
  return local_day(int(row['window_start']), tz)
