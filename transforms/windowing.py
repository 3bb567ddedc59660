"""The window and trigger policy, in one place.

Windows: fixed (default 1 hour), sliding, per-customer sessions, or daily:
local calendar days of the policy's time zone (transforms/calendar_days.py).
Trigger in an unbounded run (the default policy of DESIGN.md):
  AfterWatermark(early=AfterProcessingTime(early_firing_seconds),
                 late=AfterCount(1))
  with `allowed_lateness_seconds` and accumulating panes,
all of it set by flags. In a bounded run all data is present when the
watermark passes a window, so early and late firings carry no information
(and some runners emit a duplicate late pane, or cannot run processing-time
triggers in batch): the policy fires once, on time, and every window has
exactly one final pane.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, List

import apache_beam as beam
import numpy as np
from apache_beam.transforms import trigger, window

from transforms.calendar_days import (DEFAULT_TIMEZONE, DailyWindows,
                                      WindowIntoDays, day_bounds_ms_array,
                                      zone)

FIXED = 'fixed'
SLIDING = 'sliding'
SESSIONS = 'sessions'
DAILY = 'daily'
WINDOW_KINDS = (FIXED, SLIDING, SESSIONS, DAILY)
ACCUMULATING = 'accumulating'
DISCARDING = 'discarding'


@dataclasses.dataclass(frozen=True)
class WindowPolicy:
  """Which windows, which trigger, how late data may be."""
  kind: str = FIXED
  size_seconds: int = 3600
  period_seconds: int = 900
  gap_seconds: int = 1800
  allowed_lateness_seconds: int = 3600
  early_firing_seconds: int = 60  # 0 = no early firings
  late_firings: bool = True  # one late pane per late element
  accumulation: str = ACCUMULATING
  bounded: bool = True
  # IANA zone of the `day` column, and of the days of DAILY windows.
  timezone: str = DEFAULT_TIMEZONE

  def __post_init__(self) -> None:
    if self.kind not in WINDOW_KINDS:
      raise ValueError(f'window must be one of {", ".join(WINDOW_KINDS)}')
    zone(self.timezone)  # ValueError: unknown time zone
    if self.accumulation not in (ACCUMULATING, DISCARDING):
      raise ValueError('accumulation must be accumulating or discarding')
    for name in ('size_seconds', 'period_seconds', 'gap_seconds'):
      if getattr(self, name) <= 0:
        raise ValueError(f'{name} must be > 0')
    if self.allowed_lateness_seconds < 0 or self.early_firing_seconds < 0:
      raise ValueError('lateness and early firing must be >= 0')
    if self.kind == SLIDING and self.period_seconds > self.size_seconds:
      raise ValueError('sliding window period must be <= its size')

  @property
  def per_customer(self) -> bool:
    """Sessions are per customer: the customer is part of every row's key."""
    return self.kind == SESSIONS

  @functools.cached_property
  def _window_fn(self) -> window.WindowFn:
    # Built once: the lateness check asks for it for every streamed record.
    return self.window_fn()

  def window_fn(self) -> window.WindowFn:
    if self.kind == FIXED:
      return window.FixedWindows(self.size_seconds)
    if self.kind == SLIDING:
      return window.SlidingWindows(self.size_seconds, self.period_seconds)
    if self.kind == DAILY:
      return DailyWindows(self.timezone)
    return window.Sessions(self.gap_seconds)

  def trigger_fn(self) -> trigger.TriggerFn:
    if self.bounded:
      return trigger.AfterWatermark()
    early = (trigger.AfterProcessingTime(self.early_firing_seconds)
             if self.early_firing_seconds > 0 else None)
    late = trigger.AfterCount(1) if self.late_firings else None
    return trigger.AfterWatermark(early=early, late=late)

  def effective_lateness_seconds(self) -> int:
    return 0 if self.bounded else self.allowed_lateness_seconds

  def earliest_expiry_ms(self, event_time_ms: int) -> int:
    """When the first window holding this event time stops taking data.

    An element is late-dropped by a runner once the watermark passes its
    window's end plus the allowed lateness; for sliding windows the earliest
    ending window is the first to go. (Sessions: the element's own proto
    window [t, t + gap), which is what a runner checks before merging.)
    """
    windows: List[Any] = self._window_fn.assign(
        window.WindowFn.AssignContext(event_time_ms / 1000.0))
    end_ms = min(int(w.end.micros // 1000) for w in windows)
    return end_ms + self.effective_lateness_seconds() * 1000

  def earliest_expiry_ms_array(self, event_ms: np.ndarray) -> np.ndarray:
    """earliest_expiry_ms for an array of event times (int64 ms), for the
    columnar path; a test holds the two to each other.

    Computed as Beam does it, on the microseconds of the element's timestamp
    `event_ms / 1000.0` (truncated, as apache_beam.utils.timestamp does), so
    that even a session's end agrees to the millisecond."""
    t = np.asarray(event_ms, np.int64)
    us = (t / 1000.0 * 1000000).astype(np.int64)
    if self.kind == FIXED:
      size = self.size_seconds * 1000000
      end = us - np.mod(us, size) + size
    elif self.kind == SLIDING:
      size = self.size_seconds * 1000000
      period = self.period_seconds * 1000000
      start = us - np.mod(us, period)  # the latest window holding t
      steps = (start - us + size - 1) // period  # back to the earliest one
      end = start - steps * period + size
    elif self.kind == DAILY:  # day bounds are whole seconds: no rounding
      return (day_bounds_ms_array(self.timezone, t)[1]
              + self.effective_lateness_seconds() * 1000)
    else:  # sessions: the element's own proto window
      end = us + self.gap_seconds * 1000000
    return end // 1000 + self.effective_lateness_seconds() * 1000

  @property
  def unit_ms(self) -> int:
    """The longest span of event time that lies entirely inside one set of
    windows (fixed: the window; sliding: gcd(size, period); sessions: 1 ms,
    the event time itself): orders summed per unit and stamped at its start
    fall into exactly the windows each of them would. Daily windows have
    no fixed length (23, 24 or 25 h, starting on any whole second): their
    unit is the day itself, see unit_starts_ms."""
    if self.kind == FIXED:
      return self.size_seconds * 1000
    if self.kind == SLIDING:
      return math.gcd(self.size_seconds, self.period_seconds) * 1000
    if self.kind == DAILY:
      raise ValueError('daily windows have no fixed unit: use unit_starts_ms')
    return 1

  def unit_starts_ms(self, event_ms: np.ndarray) -> np.ndarray:
    """The start of the time unit holding each event time (int64 ms): the
    stamp of the partial its order is summed into."""
    t = np.asarray(event_ms, np.int64)
    if self.kind == DAILY:
      return day_bounds_ms_array(self.timezone, t)[0]
    size = self.unit_ms
    return t - np.mod(t, size)


class ApplyWindowPolicy(beam.PTransform):
  """Assigns event-time windows with the policy's trigger and lateness."""

  def __init__(self, policy: WindowPolicy) -> None:
    super().__init__()
    self._policy = policy

  def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
    policy = self._policy
    mode = (trigger.AccumulationMode.ACCUMULATING
            if policy.accumulation == ACCUMULATING else
            trigger.AccumulationMode.DISCARDING)
    windowing = dict(trigger=policy.trigger_fn(), accumulation_mode=mode,
                     allowed_lateness=policy.effective_lateness_seconds())
    if policy.kind == DAILY:
      return pcoll | 'WindowIntoDays' >> WindowIntoDays(policy.timezone,
                                                        **windowing)
    return pcoll | 'WindowInto' >> beam.WindowInto(policy.window_fn(),
                                                   **windowing)
