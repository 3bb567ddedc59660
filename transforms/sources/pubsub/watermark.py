"""A reader's watermark (it never goes backwards).

* Event time is the payload's ``event_time`` (``event_time='payload'``) or
  the transport time (``event_time='transport'``): the ``timestamp_attribute``
  (epoch milliseconds or RFC 3339) when given, else the publish time.
  ``RawRecord.transport_time_ms`` always carries that transport time.
* Pub/Sub has no order, so the watermark moves per pull, not per message:
  after a pull it becomes ``max(event time in the pull) -
  max_out_of_orderness_s``, and every message of the pull carries the
  watermark from before it (``source_watermark_ms``). Disorder inside one
  pull is therefore never late data.
* Backlog hold: a pull that comes back full (``max_messages``) means a
  backlog, which Pub/Sub delivers in no particular order; the advance is
  held (the maximum is remembered) until a pull comes back short, or for at
  most ``backlog_hold_s`` seconds of wall-clock time, so a backlog drained
  in many pulls is not turned into late data by its first pull.
* Idle rule: after ``idle_timeout_s`` of wall-clock time with empty pulls,
  the watermark moves to ``max(wm, now - idle_lag_s)`` and keeps following
  the clock while the subscription stays idle, so an idle subscription does
  not hold windows open forever. A message that arrives later with an older
  event time is emitted as it is; ``source_watermark_ms`` lets the pipeline
  route it to the ``late`` dead letters (transforms/lateness.py).
* A message whose event time cannot be read does not move the watermark;
  it is timestamped at the current watermark (or its transport time before
  the first watermark) and becomes a ``bad_time`` dead letter downstream.
"""
from __future__ import annotations

from typing import Optional

from apache_beam.utils.timestamp import Timestamp

from transforms.sources.unbounded import IdleAwareEstimatorProvider
from transforms.sources.unbounded import IdleAwareWatermarkEstimator


class ReaderWatermarkEstimator(IdleAwareWatermarkEstimator):
  """A reader's watermark, with the backlog hold.

  State: ``(watermark, last_activity_s, pending_ms, hold_since_s)``:
  watermark (Timestamp or None); wall-clock time of the last message;
  the highest event time seen but not yet applied (backlog hold) and the
  wall-clock time that hold started.
  """

  def __init__(self, state=None):
    super().__init__(state)
    self.pending_ms: Optional[int] = None
    self.hold_since_s: Optional[float] = None
    if state:
      self.pending_ms, self.hold_since_s = state[2:]

  def get_estimator_state(self):
    return super().get_estimator_state() + (self.pending_ms,
                                            self.hold_since_s)

  # Methods, not attributes: Beam hands the DoFn a thread-safe wrapper that
  # forwards method calls only.
  def after_pull(self, pull_max_ms: Optional[int], full: bool, now_s: float,
                 backlog_hold_s: float, ooo_ms: int) -> None:
    """A pull that brought messages, the highest event time among them
    ``pull_max_ms``: the watermark moves to it, unless a full pull (a
    backlog) holds the advance, for at most ``backlog_hold_s``."""
    self.last_activity_s = now_s
    if pull_max_ms is not None:
      self.pending_ms = pull_max_ms if self.pending_ms is None else max(
          self.pending_ms, pull_max_ms)
    if full and self.hold_since_s is None:
      self.hold_since_s = now_s
    if self.pending_ms is not None and (
        not full or now_s - self.hold_since_s >= backlog_hold_s):
      self.apply_pending(ooo_ms)

  def apply_pending(self, ooo_ms: int) -> None:
    """Ends the backlog hold: the watermark moves to the highest event time
    held, minus the allowed out-of-orderness."""
    if self.pending_ms is not None:
      self.advance_to(Timestamp(micros=(self.pending_ms - ooo_ms) * 1000))
      self.pending_ms, self.hold_since_s = None, None


def reader_watermark_provider() -> IdleAwareEstimatorProvider:
  """The provider of `ReaderWatermarkEstimator`s (initial state: MIN)."""
  return IdleAwareEstimatorProvider(ReaderWatermarkEstimator)
