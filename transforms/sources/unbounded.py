"""What the unbounded sources (Kafka, Pub/Sub) share.

* The event time of a record's payload: the project's rule
  (transforms/event_time.py), None where that rule rejects the value, so a
  record that validation will turn into a ``bad_time`` dead letter never
  moves a watermark.
* The timestamp of a record: its event time; without one, the reader's
  current watermark, else its transport time, else now.
* An offset restriction that a runner may checkpoint but never split while
  it is unbounded (a split of the future would only create an idle reader),
  and its provider: one restriction per element, no initial splitting,
  dropped on drain while unbounded.
* A manual watermark estimator that never goes backwards and keeps the
  wall-clock time of the reader's last activity in its state, for the idle
  rule: a reader caught up and idle for ``idle_timeout_s`` moves its
  watermark to ``now - idle_lag`` and keeps following the clock.
* The end of a read: a bundle finalization is always registered, and the
  read self-checkpoints so the runner commits the output, reports the
  watermark and finalizes the bundle.
* ``WatermarkRule``: the settings of the idle rule and of the allowed
  out-of-orderness, as each source's reader takes them.
"""
from __future__ import annotations

import json
from typing import Any, Callable, NamedTuple, Optional, Tuple

import orjson
from apache_beam.io.restriction_trackers import OffsetRange
from apache_beam.io.restriction_trackers import OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.transforms.core import RestrictionProvider
from apache_beam.transforms.core import WatermarkEstimatorProvider
from apache_beam.utils.timestamp import Duration
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.timestamp import Timestamp

from transforms import event_time

# The stop offset of an unbounded restriction.
UNBOUNDED_STOP = 2**63 - 1

# An idle reader resumes after this pause (a self-checkpoint with a delay).
IDLE_RESUME_S = 0.2


# ---------------------------------------------------------------------------
# Event time and record timestamps
# ---------------------------------------------------------------------------
def event_time_ms_or_none(value: Any) -> Optional[int]:
  """The project's event-time rule (transforms/event_time.py), or None.

  A record whose time validation would reject must not move the watermark.
  """
  try:
    return event_time.parse_event_time_ms(value)
  except event_time.BadTime:
    return None


def payload_event_time_ms(payload: Optional[bytes],
                          field: str = 'event_time') -> Optional[int]:
  """The ``event_time`` of a JSON payload in epoch ms, or None."""
  if not payload:
    return None
  try:
    obj = orjson.loads(payload)
  except orjson.JSONDecodeError:
    # orjson is stricter (NaN, huge integers): the record path's decoder
    # decides, as in the vectorized engine (transforms/vectorized/columns.py).
    try:
      obj = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
      return None
  if not isinstance(obj, dict):
    return None
  return event_time_ms_or_none(obj.get(field))


def record_time_us(event_ms: Optional[int], transport_ms: Optional[int],
                   watermark_us: Optional[int]) -> int:
  """A record's timestamp in micros: its event time; without one, the
  current watermark, else its transport time, else now. watermark_us None:
  no watermark yet."""
  if event_ms is not None:
    return event_ms * 1000
  if watermark_us is not None:
    return watermark_us
  if transport_ms is not None:
    return transport_ms * 1000
  return Timestamp.now().micros


def stamp_us(event_ms: Optional[int], transport_ms: Optional[int],
             watermark_us: Optional[int],
             ooo_us: int) -> Tuple[int, Optional[int]]:
  """(a record's timestamp, the watermark after it), in micros, for a
  reader whose watermark follows each record.

  The watermark moves up to the event time minus the allowed
  out-of-orderness (never back); a record without a usable event time
  leaves it where it is (`record_time_us`).
  """
  if event_ms is not None:
    us = event_ms * 1000
    if watermark_us is None or us - ooo_us > watermark_us:
      watermark_us = us - ooo_us
    return us, watermark_us
  return record_time_us(None, transport_ms, watermark_us), watermark_us


# ---------------------------------------------------------------------------
# Restriction and tracker
# ---------------------------------------------------------------------------
def is_unbounded(restriction: OffsetRange) -> bool:
  return restriction.stop >= UNBOUNDED_STOP


class UnboundedOffsetTracker(OffsetRestrictionTracker):
  """Offset tracker that accepts checkpoints but no dynamic split of an
  unbounded range (which would only create an idle reader far ahead)."""
  def try_split(self, fraction_of_remainder):
    if is_unbounded(self._range) and fraction_of_remainder > 0:
      return None
    return super().try_split(fraction_of_remainder)

  def is_bounded(self):
    return not is_unbounded(self._range)


class UnboundedRestrictionProvider(RestrictionProvider):
  """One `UnboundedOffsetTracker` restriction per element; subclasses say
  where it starts and stops (``initial_restriction``)."""
  def create_tracker(self, restriction):
    return UnboundedOffsetTracker(restriction)

  def split(self, element, restriction):
    # One restriction per element; no initial splitting.
    yield restriction

  def restriction_size(self, element, restriction):
    if is_unbounded(restriction):
      return 1
    return max(0, restriction.stop - restriction.start)

  def truncate(self, element, restriction):
    # On drain an unbounded reader stops (what it has not read stays in the
    # broker); a bounded one reads to its end.
    if is_unbounded(restriction):
      return None
    return restriction


# ---------------------------------------------------------------------------
# Watermark estimator
# ---------------------------------------------------------------------------
class WatermarkRule(NamedTuple):
  """How a reader's watermark follows event time and, when idle, the clock."""
  idle_timeout_s: float  # caught up and idle this long: follow the clock
  idle_lag_s: float  # how far behind the clock an idle watermark stays
  max_out_of_orderness_s: float = 0.0  # trails the highest event time by this

  @classmethod
  def of(cls, idle_timeout_s: float, idle_lag_s: Optional[float] = None,
         max_out_of_orderness_s: float = 0.0) -> 'WatermarkRule':
    """The rule a source's arguments give: ``idle_lag_s`` defaults to
    ``idle_timeout_s``."""
    return cls(idle_timeout_s,
               idle_timeout_s if idle_lag_s is None else idle_lag_s,
               max_out_of_orderness_s)


class IdleAwareWatermarkEstimator(ManualWatermarkEstimator):
  """Manual watermark that never goes backwards, plus the wall-clock time
  of the reader's last activity (the idle rule's clock).

  State: ``(watermark Timestamp or None, last_activity_s float or None)``;
  subclasses may append their own fields.
  """
  def __init__(self, state=None):
    watermark, last_activity_s = state[:2] if state else (None, None)
    super().__init__(watermark)
    self.last_activity_s = last_activity_s

  def get_estimator_state(self):
    return (self._watermark, self.last_activity_s)

  # Methods, not attributes: Beam hands the DoFn a thread-safe wrapper that
  # forwards method calls only.
  def last_activity(self) -> Optional[float]:
    return self.last_activity_s

  def mark_activity(self, wall_time_s: float) -> None:
    self.last_activity_s = wall_time_s

  def advance_to(self, ts: Timestamp) -> None:
    """Moves the watermark forward to ``ts``; never backwards."""
    if self._watermark is None or ts > self._watermark:
      self.set_watermark(ts)

  def own_watermark_us(self) -> Optional[int]:
    """This reader's watermark in micros, whatever is reported to the
    runner; None while it has none yet (unset, or MIN)."""
    own = self._watermark
    return None if own is None or own <= MIN_TIMESTAMP else own.micros

  def idle_tick(self, now_s: float, idle_timeout_s: float,
                idle_lag: Duration, backlog: bool = False) -> None:
    """The idle rule, after a read that found nothing: (re)starts the idle
    clock if it is not running or a backlog is known; once idle for
    ``idle_timeout_s``, the watermark follows ``now - idle_lag``."""
    last = self.last_activity_s
    if backlog or last is None:
      self.last_activity_s = now_s
    elif now_s - last >= idle_timeout_s:
      self.advance_to(Timestamp.of(now_s) - idle_lag)


class IdleAwareEstimatorProvider(WatermarkEstimatorProvider):
  """Creates ``estimator_cls`` (an `IdleAwareWatermarkEstimator`)."""
  def __init__(self, estimator_cls):
    self._estimator_cls = estimator_cls

  def initial_estimator_state(self, element, restriction):
    # MIN, not None: a reader that has delivered nothing yet must hold the
    # watermark back (a None watermark is not reported to the runner, which
    # then lets the stage's watermark run ahead of this reader).
    estimator = self._estimator_cls()
    estimator.set_watermark(MIN_TIMESTAMP)
    return estimator.get_estimator_state()

  def create_watermark_estimator(self, estimator_state):
    return self._estimator_cls(estimator_state)


# ---------------------------------------------------------------------------
# The end of a read
# ---------------------------------------------------------------------------
def _noop():
  pass


def register_finalization(finalizer,
                          callback: Optional[Callable[[], None]]) -> None:
  """Registers ``callback`` (the commit or ack of the bundle), or a no-op:
  Prism finalizes every bundle of a stage that needs finalization; a bundle
  that registered nothing has already been released by the SDK and the
  finalize request logs a spurious error."""
  finalizer.register(callback if callback is not None else _noop)


def self_checkpoint(tracker, had_data: bool) -> None:
  """Lets the runner commit the output, report the watermark and finalize
  the bundle; the read resumes at once if there was data, after
  ``IDLE_RESUME_S`` if the reader was idle."""
  tracker.defer_remainder(Duration(seconds=0 if had_data else IDLE_RESUME_S))
