"""ReadZeroMQ: a splittable DoFn that receives a feed's messages.

ZeroMQ has no offsets and no log, so a record's position is its sequence
number: the count of messages this run's reader received before it, from
0, kept in the restriction (an unbounded ``OffsetRange``) so it carries on
across the reader's checkpoints. Each position is claimed once a message
is waiting and before it is received, so a checkpoint never strands a
received message (an unclaimed one stays in the socket for the next read).

Watermark: each record's event time moves the reader's watermark forward
(never back; the record carries the watermark from before it, for the
lateness rule); a record without a usable event time does not move it.
Idle rule: after ``idle_timeout_s`` without messages the watermark follows
the clock, ``idle_lag_s`` behind it (transforms/sources/unbounded.py).

Nothing is acknowledged (ZeroMQ has no acknowledgements): a message is
ZeroMQ's responsibility until it is received, then the runner's.
"""
from __future__ import annotations

import logging
import time
from typing import Dict

import apache_beam as beam
from apache_beam.io.restriction_trackers import OffsetRange
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Duration, Timestamp

from transforms.records import RawRecord
from transforms.sources.unbounded import (UNBOUNDED_STOP,
                                          IdleAwareEstimatorProvider,
                                          IdleAwareWatermarkEstimator,
                                          UnboundedRestrictionProvider,
                                          payload_event_time_ms,
                                          self_checkpoint, stamp_us)
from transforms.sources.zeromq import sockets
from transforms.sources.zeromq.endpoint import ReaderSpec, event_frame

_LOG = logging.getLogger(__name__)


class SequenceRestrictionProvider(UnboundedRestrictionProvider):
  """The reader's message sequence numbers, from 0, unbounded."""

  def initial_restriction(self, element: ReaderSpec):
    return OffsetRange(0, UNBOUNDED_STOP)


_TRACKER = beam.DoFn.RestrictionParam(SequenceRestrictionProvider())
_WATERMARK = beam.DoFn.WatermarkEstimatorParam(
    IdleAwareEstimatorProvider(IdleAwareWatermarkEstimator))


class ReadZeroMQFn(beam.DoFn):
  """Receives one feed's messages as RawRecords (see the module docstring)."""

  def __init__(self, hwm: int, idle_timeout_s: float, idle_lag_s: float,
               max_read_s: float = 1.0, poll_ms: int = 100):
    self._hwm = hwm
    self._idle_timeout_s = idle_timeout_s
    self._idle_lag = Duration(seconds=idle_lag_s)
    self._max_read_s = max_read_s
    self._poll_ms = poll_ms
    self._received = Metrics.counter('zeromq', 'messages_received')

  def setup(self):
    self._sockets: Dict[ReaderSpec, sockets.SharedSocket] = {}

  def teardown(self):
    for shared in getattr(self, '_sockets', {}).values():
      sockets.release(shared)
    self._sockets = {}

  def _socket(self, spec: ReaderSpec) -> sockets.SharedSocket:
    shared = self._sockets.get(spec)
    if shared is None:
      shared = self._sockets[spec] = sockets.acquire(
          spec.endpoint, spec.socket, spec.topic, self._hwm)
      _LOG.info('ZeroMQ: %s socket connected to %s', spec.socket.upper(),
                spec.endpoint)
    return shared

  def _record(self, spec: ReaderSpec, payload: bytes, sequence: int,
              wm: IdleAwareWatermarkEstimator) -> TimestampedValue:
    current_us = wm.own_watermark_us()
    us, watermark_us = stamp_us(payload_event_time_ms(payload), None,
                                current_us, 0)
    if watermark_us is not None:
      wm.advance_to(Timestamp(micros=watermark_us))
    return TimestampedValue(
        RawRecord(payload=payload, source=spec.endpoint, partition=None,
                  position=sequence,
                  source_watermark_ms=(None if current_us is None else
                                       current_us // 1000),
                  transport_time_ms=None),
        Timestamp(micros=us))

  @beam.DoFn.unbounded_per_element()
  def process(self, spec: ReaderSpec, tracker=_TRACKER, wm=_WATERMARK):
    shared = self._socket(spec)
    sequence = tracker.current_restriction().start
    started = time.monotonic()
    received = 0
    stopped = False  # checkpointed by the runner
    with shared.lock:
      while time.monotonic() - started < self._max_read_s:
        if not shared.socket.poll(0 if received else self._poll_ms):
          break  # caught up (or idle): hand the output over
        if not tracker.try_claim(sequence):
          stopped = True  # the waiting message stays queued
          break
        payload = event_frame(shared.socket.recv_multipart())
        yield self._record(spec, payload, sequence, wm)
        sequence += 1
        received += 1
    self._received.inc(received)
    if not stopped:
      now = time.time()
      if received:
        wm.mark_activity(now)
      else:
        wm.idle_tick(now, self._idle_timeout_s, self._idle_lag)
      self_checkpoint(tracker, had_data=bool(received))
