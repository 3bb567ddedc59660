"""A partition's watermark, and the hold that ties a source's partitions
together.

Per partition, an `IdleAwareWatermarkEstimator` (transforms/sources/
unbounded.py) whose state also carries the partition's last-activity
wall-clock time:

* On each record: ``wm = max(wm, event_time - max_out_of_orderness)``, where
  event time is the payload's ``event_time`` (``event_time='payload'``:
  ISO-8601 with offset or ``Z``, or epoch milliseconds) or the Kafka record
  timestamp (``event_time='kafka'``).
* Idle rule: when a partition is caught up (an empty poll, no known
  backlog) and has delivered no record for ``idle_timeout_s`` of wall-clock
  time, its watermark moves to ``max(wm, now - idle_lag_s)``
  (``idle_lag_s`` defaults to ``idle_timeout_s``) and keeps moving with the
  clock while the partition stays idle. It never goes backwards. A record
  that arrives afterwards with an older event time is emitted as it is; it is
  behind the watermark (late) and ``source_watermark_ms`` on the record lets
  the pipeline route it (transforms/lateness.py) instead of losing it.
* A partition that has delivered nothing yet holds its watermark at MIN
  until the idle rule moves it.
* The watermark a partition REPORTS to the runner is held at the lowest
  partition watermark of the same source known in the worker process
  (``WatermarkHolds``; ListPartitions registers every partition at MIN when
  it runs in that process). Reason: Prism (2.77) sets an SDF stage's output
  watermark from the residual of the bundle that finished last, not the
  minimum over all partitions (``elementmanager.go``, ``estimatedOutput``),
  so a partition read far ahead would close windows while a lagging one is
  still being read, and the runner would drop the lagging records silently.
  Flink and Dataflow take the minimum themselves; for them the hold changes
  nothing. Stamping and lateness use the partition's own watermark.
* A record whose event time cannot be parsed does not move the watermark;
  it is emitted timestamped at the current watermark (or, before the first
  watermark, at its Kafka timestamp) and becomes a ``bad_time`` dead letter
  downstream.
"""
from __future__ import annotations

import threading
from typing import Dict, Optional

from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.timestamp import Timestamp

from transforms.sources.unbounded import IdleAwareEstimatorProvider
from transforms.sources.unbounded import IdleAwareWatermarkEstimator


class PartitionWatermarkEstimator(IdleAwareWatermarkEstimator):
  """A partition's own watermark, reported to the runner held back.

  State: ``(watermark Timestamp or None, last_activity_s float or None)``.
  """
  def __init__(self, state=None):
    super().__init__(state)
    self._held: Optional[Timestamp] = None  # per bundle, not in the state

  def hold_at(self, ts: Timestamp) -> None:
    """Reports at most ``ts`` to the runner (see `WatermarkHolds`)."""
    self._held = ts

  def current_watermark(self) -> Optional[Timestamp]:
    """What the runner is told: the own watermark, held back."""
    own = self._watermark
    if own is not None and self._held is not None and self._held < own:
      return self._held
    return own


class WatermarkHolds:
  """The partition watermarks of each source read in this worker process.

  ``report`` records a partition's own watermark and returns what it may
  report to the runner: the lowest watermark among the same source's
  partitions known here, never below what it reported before (so a late
  registration cannot move a reported watermark backwards). One instance
  per process (`HOLDS`): the partitions of a source are read by separate
  DoFn invocations, and this lock-guarded table is the only thing they
  share. Entries are keyed by a per-transform id, so two sources (or two
  pipelines in one test process) never mix.
  """
  def __init__(self) -> None:
    self._lock = threading.Lock()
    self._own: Dict[str, Dict[tuple, int]] = {}
    self._reported: Dict[str, Dict[tuple, int]] = {}

  def register(self, source_id: str, key: tuple) -> None:
    """A partition that has read nothing yet: it holds the others at MIN."""
    with self._lock:
      self._own.setdefault(source_id, {}).setdefault(key, MIN_TIMESTAMP.micros)

  def report(self, source_id: str, key: tuple, own_us: Optional[int]) -> int:
    with self._lock:
      own = self._own.setdefault(source_id, {})
      mark = MIN_TIMESTAMP.micros if own_us is None else own_us
      if key not in own or mark > own[key]:
        own[key] = mark
      reported = self._reported.setdefault(source_id, {})
      held = max(reported.get(key, MIN_TIMESTAMP.micros), min(own.values()))
      reported[key] = held
      return held


HOLDS = WatermarkHolds()


def partition_watermark_provider() -> IdleAwareEstimatorProvider:
  """The provider of `PartitionWatermarkEstimator`s (initial state: MIN)."""
  return IdleAwareEstimatorProvider(PartitionWatermarkEstimator)
