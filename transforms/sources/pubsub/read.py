"""ReadMessages: a splittable DoFn that pulls one reader's messages.

ONE unbounded restriction per reader: an ``OffsetRange`` whose positions
count the reader's pulls. Each unary ``Pull`` claims the next position
before it is sent, so a checkpoint never strands a received message.
Readers self-checkpoint (``defer_remainder``) after about ``max_read_s`` so
the runner commits the output, reports the watermark and finalizes the
bundle. Records are stamped and the watermark moved as watermark.py says.

Acknowledgement: the ack ids of a bundle are acknowledged only from the
bundle finalizer (``beam.DoFn.BundleFinalizerParam``), i.e. after the runner
has durably committed the bundle's output. Received messages get their lease
extended to ``ack_deadline_s`` when the subscription's own deadline is
shorter. A message whose bundle fails or is never finalized is redelivered
by Pub/Sub (at-least-once; the pipeline de-duplicates by ``order_id``).
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import apache_beam as beam
from apache_beam.io.restriction_trackers import OffsetRange
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Duration
from apache_beam.utils.timestamp import Timestamp

from transforms.outages import Outage
from transforms.records import RawRecord
from transforms.sources.pubsub.messages import message_position
from transforms.sources.pubsub.messages import publish_time_ms
from transforms.sources.pubsub.subscription import ReaderSpec
from transforms.sources.pubsub.subscription import subscriber_client
from transforms.sources.pubsub.watermark import ReaderWatermarkEstimator
from transforms.sources.pubsub.watermark import reader_watermark_provider
from transforms.sources.unbounded import UNBOUNDED_STOP
from transforms.sources.unbounded import UnboundedRestrictionProvider
from transforms.sources.unbounded import WatermarkRule
from transforms.sources.unbounded import event_time_ms_or_none
from transforms.sources.unbounded import payload_event_time_ms
from transforms.sources.unbounded import record_time_us
from transforms.sources.unbounded import register_finalization
from transforms.sources.unbounded import self_checkpoint

_LOG = logging.getLogger(__name__)

# Ack ids per Acknowledge request (the request must stay under 512 KiB).
_ACK_BATCH = 1000


class PullRestrictionProvider(UnboundedRestrictionProvider):
  """A reader's pulls, counted from 0, unbounded."""

  def initial_restriction(self, element: ReaderSpec):
    return OffsetRange(0, UNBOUNDED_STOP)


# The process() parameters Beam fills in: the restriction and the watermark.
_TRACKER = beam.DoFn.RestrictionParam(PullRestrictionProvider())
_WATERMARK = beam.DoFn.WatermarkEstimatorParam(reader_watermark_provider())


class PullSettings(NamedTuple):
  """How a source's readers pull and stamp messages: ReadMessagesFn's
  settings."""
  event_time: str  # 'payload' (its event_time) or 'transport'
  timestamp_attribute: Optional[str]  # the transport time; None: publish time
  watermark: WatermarkRule  # the idle rule and the allowed out-of-orderness
  backlog_hold_s: float  # how long full pulls (a backlog) hold the watermark
  max_messages: int  # messages per pull
  max_read_s: float  # seconds of pulling before a self-checkpoint
  pull_timeout_s: float  # one pull's RPC timeout
  ack_deadline_s: int  # received messages' lease (extended to it if longer)


class ReadMessagesFn(beam.DoFn):
  """Pulls one reader's messages (see the module docstring)."""

  def __init__(self, settings: PullSettings):
    self._settings = settings
    self._idle_lag = Duration(seconds=settings.watermark.idle_lag_s)
    self._ooo_ms = int(settings.watermark.max_out_of_orderness_s * 1000)

  # -- lifecycle ------------------------------------------------------------
  def setup(self):
    self._client = subscriber_client()
    self._ack_lock = threading.Lock()
    self._outages: Dict[str, Outage] = {}

  def teardown(self):
    client, self._client = getattr(self, '_client', None), None
    if client is not None:
      with contextlib.suppress(Exception):  # best effort, shutting down
        client.close()

  # -- calls on the subscription ----------------------------------------------
  def _ack(self, subscription: str, ack_ids: Tuple[str, ...]) -> None:
    """Bundle-finalization callback: acknowledge the bundle's messages."""
    with self._ack_lock:
      for i in range(0, len(ack_ids), _ACK_BATCH):
        chunk = list(ack_ids[i:i + _ACK_BATCH])
        try:
          self._client.acknowledge(
              request={'subscription': subscription, 'ack_ids': chunk},
              timeout=30)
        except Exception:  # pylint: disable=broad-except
          # Best effort, like any finalization: an unacknowledged message is
          # redelivered and de-duplicated downstream by order_id.
          _LOG.warning('Pub/Sub: acknowledging %d messages on %s failed',
                       len(chunk), subscription, exc_info=True)

  def _pull(self, subscription: str) -> List[Any]:
    from google.api_core import exceptions
    outage = self._outages.setdefault(
        subscription, Outage(f'Pub/Sub ({subscription})', _LOG))
    try:
      response = self._client.pull(
          request={'subscription': subscription,
                   'max_messages': self._settings.max_messages},
          timeout=self._settings.pull_timeout_s)
    except exceptions.DeadlineExceeded:
      return []  # no message within the pull's timeout: not an outage
    except (exceptions.ServiceUnavailable, exceptions.Aborted,
            exceptions.InternalServerError) as e:
      outage.failed(str(e).splitlines()[0] if str(e) else type(e).__name__)
      return []
    outage.answered()
    return list(response.received_messages)

  def _extend_leases(self, subscription: str, ack_ids: List[str]) -> None:
    try:
      for i in range(0, len(ack_ids), _ACK_BATCH):
        self._client.modify_ack_deadline(
            request={'subscription': subscription,
                     'ack_ids': ack_ids[i:i + _ACK_BATCH],
                     'ack_deadline_seconds': self._settings.ack_deadline_s},
            timeout=30)
    except Exception:  # pylint: disable=broad-except
      _LOG.warning('Pub/Sub: extending leases on %s failed', subscription,
                   exc_info=True)

  # -- times ----------------------------------------------------------------
  def _transport_ms(self, message) -> Optional[int]:
    """The timestamp attribute (epoch ms or RFC 3339) when one is named,
    else the publish time; None where it cannot be read."""
    attribute = self._settings.timestamp_attribute
    if attribute:
      return event_time_ms_or_none(message.attributes.get(attribute))
    return publish_time_ms(message)

  def _event_ms(self, message, transport_ms: Optional[int]) -> Optional[int]:
    if self._settings.event_time == 'transport':
      return transport_ms
    return payload_event_time_ms(message.data)

  # -- the read ---------------------------------------------------------------
  def _read(self, spec: ReaderSpec, tracker, wm: ReaderWatermarkEstimator,
            finalizer):
    position = tracker.current_restriction().start
    started = time.monotonic()
    ack_ids: List[str] = []
    while True:
      if not tracker.try_claim(position):
        return  # checkpointed by the runner; nothing was pulled
      position += 1
      received = self._pull(spec.subscription)
      now = time.time()
      if not received:
        # Caught up: apply any held maximum; then the idle rule.
        wm.apply_pending(self._ooo_ms)
        wm.idle_tick(now, self._settings.watermark.idle_timeout_s,
                     self._idle_lag)
        break
      pull_max_ms = yield from self._emit_pull(spec, received, wm, ack_ids)
      wm.after_pull(pull_max_ms,
                    len(received) >= self._settings.max_messages, now,
                    self._settings.backlog_hold_s, self._ooo_ms)
      if time.monotonic() - started >= self._settings.max_read_s:
        break
    self._end_read(spec, tracker, finalizer, ack_ids)

  def _emit_pull(self, spec: ReaderSpec, received: List[Any],
                 wm: ReaderWatermarkEstimator, ack_ids: List[str]):
    """Yields a pull's messages, each at its timestamp and carrying the
    watermark from before the pull; returns the pull's highest event time
    (None if none could be read)."""
    if self._settings.ack_deadline_s > spec.ack_deadline_s:
      self._extend_leases(spec.subscription, [r.ack_id for r in received])
    current_us = wm.own_watermark_us()
    current_ms = None if current_us is None else current_us // 1000
    pull_max_ms = None
    for r in received:
      message = r.message
      transport_ms = self._transport_ms(message)
      event_ms = self._event_ms(message, transport_ms)
      if event_ms is not None:
        pull_max_ms = event_ms if pull_max_ms is None else max(
            pull_max_ms, event_ms)
      ack_ids.append(r.ack_id)
      yield TimestampedValue(
          RawRecord(
              payload=bytes(message.data),
              source=spec.subscription,
              partition=None,
              position=message_position(message.message_id),
              source_watermark_ms=current_ms,
              transport_time_ms=transport_ms),
          Timestamp(micros=record_time_us(event_ms, transport_ms,
                                          current_us)))
    return pull_max_ms

  def _end_read(self, spec: ReaderSpec, tracker, finalizer,
                ack_ids: List[str]) -> None:
    """Registers the acknowledgement of the bundle's messages and
    self-checkpoints."""
    ack = None
    if ack_ids:
      ack = lambda s=spec.subscription, ids=tuple(ack_ids): self._ack(s, ids)
    register_finalization(finalizer, ack)
    self_checkpoint(tracker, had_data=bool(ack_ids))

  # Positional params (element, finalizer) must precede the ones Beam
  # injects by keyword (tracker, watermark estimator).
  @beam.DoFn.unbounded_per_element()
  def process(self, spec: ReaderSpec,
              finalizer=beam.DoFn.BundleFinalizerParam, tracker=_TRACKER,
              wm=_WATERMARK):
    yield from self._read(spec, tracker, wm, finalizer)
