"""A native Python Pub/Sub source (google-cloud-pubsub) as a splittable DoFn.

Beam's own ``ReadFromPubSub`` is implemented by the Dataflow service (and the
legacy DirectRunner); Prism and Flink cannot run it. This source pulls with
the ordinary Pub/Sub client inside the Python SDK worker, so it runs on
Prism, Flink (PROCESS/LOOPBACK) and Dataflow alike, and against the local
emulator (``PUBSUB_EMULATOR_HOST``, see runners/pubsub/).

Shape of the read (``ReadFromPubSubNative.expand``)::

    Impulse -> ResolveSubscription -> (one element per reader)
            -> DistributeReaders (Reshuffle) -> ReadMessages (unbounded SDF)

* ResolveSubscription runs once when the pipeline starts. With a
  subscription it checks that it exists and reads its ack deadline; with a
  topic it creates a subscription named at construction time
  (``<topic id>-sales-<8 hex>``; re-running the step finds it), with a
  one-day inactivity expiry so an abandoned one is deleted by Pub/Sub. A
  topic subscription only sees messages published after it exists.
* ReadMessages is a splittable DoFn with ONE unbounded restriction per
  reader: an ``OffsetRange`` whose positions count the reader's pulls. Each
  unary ``Pull`` claims the next position before it is sent, so a
  checkpoint never strands a received message. Readers self-checkpoint
  (``defer_remainder``) after about ``max_read_s`` so the runner commits the
  output, reports the watermark and finalizes the bundle.

Acknowledgement: the ack ids of a bundle are acknowledged only from the
bundle finalizer (``beam.DoFn.BundleFinalizerParam``), i.e. after the runner
has durably committed the bundle's output. Received messages get their lease
extended to ``ack_deadline_s`` when the subscription's own deadline is
shorter. A message whose bundle fails or is never finalized is redelivered
by Pub/Sub (at-least-once; the pipeline de-duplicates by ``order_id``).

Watermark (per reader, a ``ManualWatermarkEstimator``; it never goes
backwards):

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

Source position of a record: ``source`` is the subscription path and
``position`` the message id as an integer (Pub/Sub ids are decimal strings;
the emulator's are ``m<N>``), ``partition`` is None.
"""
from __future__ import annotations

import datetime
import json
import logging
import re
import threading
import time
import uuid
import zlib
from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Tuple

import apache_beam as beam
from apache_beam.io.restriction_trackers import OffsetRange
from apache_beam.io.restriction_trackers import OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.transforms.core import RestrictionProvider
from apache_beam.transforms.core import WatermarkEstimatorProvider
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Duration
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.timestamp import Timestamp

from transforms.event_time import BadTime, parse_event_time_ms
from transforms.records import RawRecord

_LOG = logging.getLogger(__name__)

UNBOUNDED_STOP = 2**63 - 1
# Pub/Sub limits: ack ids per Acknowledge request (the request must stay
# under 512 KiB), ack deadline bounds.
_ACK_BATCH = 1000
_MIN_ACK_DEADLINE_S = 10
_MAX_ACK_DEADLINE_S = 600

_SUBSCRIPTION_RE = re.compile(r'^projects/[^/]+/subscriptions/[^/]+$')
_TOPIC_RE = re.compile(r'^projects/[^/]+/topics/[^/]+$')


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
def check_subscription_path(path: str) -> str:
  if not _SUBSCRIPTION_RE.match(path or ''):
    raise ValueError(
        f'Pub/Sub subscription must look like projects/P/subscriptions/S, '
        f'not {path!r}')
  return path


def check_topic_path(path: str) -> str:
  if not _TOPIC_RE.match(path or ''):
    raise ValueError(
        f'Pub/Sub topic must look like projects/P/topics/T, not {path!r}')
  return path


def subscription_for_topic(topic: str, suffix: Optional[str] = None) -> str:
  """The name of the subscription created for reading ``topic``."""
  project, topic_id = topic.split('/')[1], topic.split('/')[3]
  suffix = suffix or uuid.uuid4().hex[:8]
  # Subscription ids: 3..255 chars, start with a letter.
  sub_id = f'{topic_id[:200]}-sales-{suffix}'
  if not sub_id[0].isalpha():
    sub_id = 's' + sub_id
  return f'projects/{project}/subscriptions/{sub_id}'


def message_position(message_id: str) -> int:
  """The message id as an integer (decimal ids; the emulator's ``m<N>``)."""
  digits = ''.join(c for c in message_id or '' if c.isdigit())
  if digits and len(digits) <= 18:
    return int(digits)
  return zlib.crc32((message_id or '').encode('utf-8'))


def attribute_time_ms(value: Optional[str]) -> Optional[int]:
  """A timestamp attribute (epoch ms or RFC 3339) -> epoch ms, or None."""
  if value is None:
    return None
  try:
    return parse_event_time_ms(value.strip())
  except BadTime:
    return None


def payload_event_time_ms(data: bytes) -> Optional[int]:
  """The ``event_time`` of a JSON payload in epoch ms, or None."""
  if not data:
    return None
  try:
    obj = json.loads(data)
  except (ValueError, UnicodeDecodeError, RecursionError):
    return None
  if not isinstance(obj, dict):
    return None
  try:
    return parse_event_time_ms(obj.get('event_time'))
  except BadTime:
    return None


def _publish_time_ms(message) -> Optional[int]:
  pt = message.publish_time
  if pt is None:
    return None
  if isinstance(pt, datetime.datetime):
    if pt.tzinfo is None:
      pt = pt.replace(tzinfo=datetime.timezone.utc)
    return int(pt.timestamp() * 1000)
  try:  # protobuf Timestamp
    return pt.seconds * 1000 + pt.nanos // 1_000_000
  except AttributeError:
    return None


def _subscriber_client():
  # Honours PUBSUB_EMULATOR_HOST (plain-text channel, no credentials).
  from google.cloud import pubsub_v1
  return pubsub_v1.SubscriberClient()


def _noop():
  pass


# ---------------------------------------------------------------------------
# Restriction, tracker, watermark estimator
# ---------------------------------------------------------------------------
class ReaderSpec(NamedTuple):
  """One reader of a subscription: the element the splittable DoFn gets."""
  subscription: str
  reader: int
  ack_deadline_s: int  # the subscription's own ack deadline


class _PullTracker(OffsetRestrictionTracker):
  """Counts pulls; accepts checkpoints, refuses dynamic splits (a split of
  an unbounded pull counter would only create a second idle reader)."""

  def try_split(self, fraction_of_remainder):
    if fraction_of_remainder > 0:
      return None
    return super().try_split(fraction_of_remainder)

  def is_bounded(self):
    return False


class _PullRestrictionProvider(RestrictionProvider):

  def initial_restriction(self, element: ReaderSpec):
    return OffsetRange(0, UNBOUNDED_STOP)

  def create_tracker(self, restriction):
    return _PullTracker(restriction)

  def split(self, element, restriction):
    yield restriction

  def restriction_size(self, element, restriction):
    return 1

  def truncate(self, element, restriction):
    return None  # on drain a reader just stops; unacked messages stay


class ReaderWatermarkEstimator(ManualWatermarkEstimator):
  """Manual watermark plus the reader's bookkeeping.

  State: ``(watermark, last_activity_s, pending_ms, hold_since_s)``:
  watermark (Timestamp or None); wall-clock time of the last message;
  the highest event time seen but not yet applied (backlog hold) and the
  wall-clock time that hold started.
  """

  def __init__(self, state=None):
    watermark, last_activity_s, pending_ms, hold_since_s = (
        state if state else (None, None, None, None))
    super().__init__(watermark)
    self.last_activity_s = last_activity_s
    self.pending_ms = pending_ms
    self.hold_since_s = hold_since_s

  def get_estimator_state(self):
    return (self._watermark, self.last_activity_s, self.pending_ms,
            self.hold_since_s)

  # Methods, not attributes: Beam hands the DoFn a thread-safe wrapper that
  # forwards method calls only.
  def bookkeeping(self) -> Tuple[Optional[float], Optional[int],
                                 Optional[float]]:
    return self.last_activity_s, self.pending_ms, self.hold_since_s

  def set_bookkeeping(self, last_activity_s, pending_ms, hold_since_s):
    self.last_activity_s = last_activity_s
    self.pending_ms = pending_ms
    self.hold_since_s = hold_since_s

  def advance_to(self, ts: Timestamp) -> None:
    """Moves the watermark forward to ``ts``; never backwards."""
    if self._watermark is None or ts > self._watermark:
      self.set_watermark(ts)


class _ReaderWatermarkEstimatorProvider(WatermarkEstimatorProvider):

  def initial_estimator_state(self, element, restriction):
    # MIN, not None: a reader that has delivered nothing yet holds the
    # watermark back (a None watermark is not reported to the runner).
    return (MIN_TIMESTAMP, None, None, None)

  def create_watermark_estimator(self, estimator_state):
    return ReaderWatermarkEstimator(estimator_state)


# ---------------------------------------------------------------------------
# DoFns
# ---------------------------------------------------------------------------
class _ResolveSubscriptionFn(beam.DoFn):
  """Impulse -> one ReaderSpec per reader (creates a topic subscription)."""

  def __init__(self, subscription: str, topic: Optional[str],
               num_readers: int, subscription_ack_deadline_s: int,
               timeout_s: float):
    self._subscription = subscription
    self._topic = topic
    self._num_readers = num_readers
    self._ack_deadline_s = subscription_ack_deadline_s
    self._timeout_s = timeout_s

  def process(self, unused_impulse) -> Iterable[ReaderSpec]:
    from google.api_core import exceptions
    client = _subscriber_client()
    try:
      if self._topic:
        try:
          sub = client.create_subscription(
              request={
                  'name': self._subscription,
                  'topic': self._topic,
                  'ack_deadline_seconds': self._ack_deadline_s,
                  'expiration_policy': {'ttl': {'seconds': 86400}},
              },
              timeout=self._timeout_s)
          _LOG.warning('Pub/Sub: created subscription %s on %s',
                       self._subscription, self._topic)
        except exceptions.AlreadyExists:
          sub = client.get_subscription(
              request={'subscription': self._subscription},
              timeout=self._timeout_s)
        except exceptions.NotFound as e:
          raise RuntimeError(
              f'Pub/Sub topic {self._topic} not found: {e.message}') from None
      else:
        try:
          sub = client.get_subscription(
              request={'subscription': self._subscription},
              timeout=self._timeout_s)
        except exceptions.NotFound:
          raise RuntimeError(
              f'Pub/Sub subscription {self._subscription} not found') from None
        except exceptions.PermissionDenied:
          # Pub/Sub Subscriber may pull but not read the settings
          # (pubsub.subscriptions.get is in Pub/Sub Viewer): assume the
          # shortest ack deadline, which only means earlier extensions.
          _LOG.warning(
              'Pub/Sub: no permission to read %s (pubsub.subscriptions.get); '
              'assuming a %d s ack deadline', self._subscription,
              _MIN_ACK_DEADLINE_S)
          sub = None
    finally:
      client.close()
    deadline = int(getattr(sub, 'ack_deadline_seconds', 0) or
                   _MIN_ACK_DEADLINE_S)
    for reader in range(self._num_readers):
      yield ReaderSpec(self._subscription, reader, deadline)


class _ReadMessagesFn(beam.DoFn):
  """Pulls one reader's messages (see the module docstring)."""

  def __init__(self, event_time: str, timestamp_attribute: Optional[str],
               idle_timeout_s: float, idle_lag_s: float,
               max_out_of_orderness_s: float, backlog_hold_s: float,
               max_messages: int, max_read_s: float, pull_timeout_s: float,
               ack_deadline_s: int):
    self._event_time = event_time
    self._attribute = timestamp_attribute
    self._idle_timeout_s = idle_timeout_s
    self._idle_lag = Duration(seconds=idle_lag_s)
    self._ooo_ms = int(max_out_of_orderness_s * 1000)
    self._backlog_hold_s = backlog_hold_s
    self._max_messages = max_messages
    self._max_read_s = max_read_s
    self._pull_timeout_s = pull_timeout_s
    self._ack_deadline_s = ack_deadline_s

  # -- lifecycle ------------------------------------------------------------
  def setup(self):
    self._client = _subscriber_client()
    self._ack_lock = threading.Lock()

  def teardown(self):
    client = getattr(self, '_client', None)
    if client is not None:
      try:
        client.close()
      except Exception:  # pylint: disable=broad-except
        pass
      self._client = None

  # -- helpers --------------------------------------------------------------
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
    try:
      response = self._client.pull(
          request={'subscription': subscription,
                   'max_messages': self._max_messages},
          timeout=self._pull_timeout_s)
    except (exceptions.DeadlineExceeded, exceptions.ServiceUnavailable,
            exceptions.Aborted, exceptions.InternalServerError) as e:
      _LOG.info('Pub/Sub pull on %s: %s (retrying)', subscription, e)
      return []
    return list(response.received_messages)

  def _transport_ms(self, message) -> Optional[int]:
    if self._attribute:
      value = message.attributes.get(self._attribute)
      if value is not None:
        return attribute_time_ms(value)
      return None
    return _publish_time_ms(message)

  # -- the read ---------------------------------------------------------------
  def _read(self, spec: ReaderSpec, tracker, wm: ReaderWatermarkEstimator,
            finalizer):
    rng = tracker.current_restriction()
    position = rng.start
    started = time.monotonic()
    ack_ids: List[str] = []
    emitted = 0
    while True:
      if not tracker.try_claim(position):
        return  # checkpointed by the runner; nothing was pulled
      position += 1
      received = self._pull(spec.subscription)
      now = time.time()
      last_activity, pending_ms, hold_since = wm.bookkeeping()
      if received:
        if self._ack_deadline_s > spec.ack_deadline_s:
          self._extend_leases(spec.subscription,
                              [r.ack_id for r in received])
        current = wm.current_watermark()
        current_ms = (None if current is None or current <= MIN_TIMESTAMP
                      else current.micros // 1000)
        batch_max = None
        for r in received:
          message = r.message
          transport_ms = self._transport_ms(message)
          if self._event_time == 'transport':
            event_ms = transport_ms
          else:
            event_ms = payload_event_time_ms(message.data)
          if event_ms is not None:
            ts = Timestamp(micros=event_ms * 1000)
            batch_max = event_ms if batch_max is None else max(
                batch_max, event_ms)
          elif current_ms is not None:
            ts = current
          elif transport_ms is not None:
            ts = Timestamp(micros=transport_ms * 1000)
          else:
            ts = Timestamp.now()
          ack_ids.append(r.ack_id)
          emitted += 1
          yield TimestampedValue(
              RawRecord(
                  payload=bytes(message.data),
                  source=spec.subscription,
                  partition=None,
                  position=message_position(message.message_id),
                  source_watermark_ms=current_ms,
                  transport_time_ms=transport_ms),
              ts)
        last_activity = now
        if batch_max is not None:
          pending_ms = batch_max if pending_ms is None else max(
              pending_ms, batch_max)
        full = len(received) >= self._max_messages
        if full and hold_since is None:
          hold_since = now
        if pending_ms is not None and (
            not full or now - hold_since >= self._backlog_hold_s):
          wm.advance_to(Timestamp(micros=(pending_ms - self._ooo_ms) * 1000))
          pending_ms, hold_since = None, None
        wm.set_bookkeeping(last_activity, pending_ms, hold_since)
      else:
        # Caught up: apply any held maximum; then the idle rule.
        if pending_ms is not None:
          wm.advance_to(Timestamp(micros=(pending_ms - self._ooo_ms) * 1000))
          pending_ms, hold_since = None, None
        if last_activity is None:
          last_activity = now  # start the idle clock
        elif now - last_activity >= self._idle_timeout_s:
          wm.advance_to(Timestamp.of(now) - self._idle_lag)
        wm.set_bookkeeping(last_activity, pending_ms, hold_since)
        break
      if time.monotonic() - started >= self._max_read_s:
        break

    if ack_ids:
      finalizer.register(
          lambda s=spec.subscription, ids=tuple(ack_ids): self._ack(s, ids))
    else:
      # Prism finalizes every bundle of a stage that needs finalization; a
      # no-op keeps a bundle that received nothing from logging an error.
      finalizer.register(_noop)
    # Self-checkpoint: the runner commits the output, reports the watermark
    # and finalizes (acks) the bundle; resume at once if there was data,
    # after a short pause if the subscription was empty.
    tracker.defer_remainder(Duration(seconds=0 if emitted else 0.5))

  def _extend_leases(self, subscription: str, ack_ids: List[str]) -> None:
    try:
      for i in range(0, len(ack_ids), _ACK_BATCH):
        self._client.modify_ack_deadline(
            request={'subscription': subscription,
                     'ack_ids': ack_ids[i:i + _ACK_BATCH],
                     'ack_deadline_seconds': self._ack_deadline_s},
            timeout=30)
    except Exception:  # pylint: disable=broad-except
      _LOG.warning('Pub/Sub: extending leases on %s failed', subscription,
                   exc_info=True)

  @beam.DoFn.unbounded_per_element()
  def process(
      self,
      spec: ReaderSpec,
      # Positional params (element, finalizer) must precede the ones Beam
      # injects by keyword (tracker, watermark estimator).
      finalizer=beam.DoFn.BundleFinalizerParam,
      tracker=beam.DoFn.RestrictionParam(_PullRestrictionProvider()),
      wm=beam.DoFn.WatermarkEstimatorParam(
          _ReaderWatermarkEstimatorProvider())):
    yield from self._read(spec, tracker, wm, finalizer)


# ---------------------------------------------------------------------------
# The PTransform
# ---------------------------------------------------------------------------
class ReadFromPubSubNative(beam.PTransform):
  """Reads a Pub/Sub subscription into ``RawRecord``s at event time.

  Args:
    subscription: ``projects/P/subscriptions/S`` to read; or
    topic: ``projects/P/topics/T``: a subscription is created for it when
      the pipeline starts (``subscription`` then names it; default
      ``<topic id>-sales-<8 hex>``).
    event_time: ``'payload'`` (the JSON ``event_time`` field) or
      ``'transport'`` (``timestamp_attribute``, else the publish time).
    timestamp_attribute: a message attribute holding the event time (epoch
      ms or RFC 3339); also used for ``RawRecord.transport_time_ms``.
    idle_timeout_s: wall-clock seconds of empty pulls after which the
      watermark follows the clock.
    idle_lag_s: how far behind the clock an idle watermark stays (default:
      ``idle_timeout_s``).
    max_out_of_orderness_s: the watermark trails the highest event time by
      this much (default 0).
    backlog_hold_s: how long full pulls (a backlog) may hold the watermark.
    num_readers: parallel pullers on the subscription (default 1).
    max_messages: messages per pull.
    max_read_s: seconds of pulling before a self-checkpoint.
    pull_timeout_s: RPC timeout of one pull.
    ack_deadline_s: lease of received messages (extended when the
      subscription's deadline is shorter; 10..600).
  """

  def __init__(self,
               subscription: Optional[str] = None,
               topic: Optional[str] = None,
               event_time: str = 'payload',
               timestamp_attribute: Optional[str] = None,
               idle_timeout_s: float = 10.0,
               idle_lag_s: Optional[float] = None,
               max_out_of_orderness_s: float = 0.0,
               backlog_hold_s: float = 30.0,
               num_readers: int = 1,
               max_messages: int = 1000,
               max_read_s: float = 1.0,
               pull_timeout_s: float = 10.0,
               ack_deadline_s: int = 120,
               resolve_timeout_s: float = 60.0):
    super().__init__()
    if not subscription and not topic:
      raise ValueError('Pub/Sub source: give a subscription '
                       '(--pubsub_subscription) or a topic (--pubsub_topic)')
    if topic:
      check_topic_path(topic)
      subscription = subscription or subscription_for_topic(topic)
    check_subscription_path(subscription)
    if event_time not in ('payload', 'transport'):
      raise ValueError("event_time must be 'payload' or 'transport'")
    if num_readers < 1:
      raise ValueError('num_readers must be >= 1')
    if not 1 <= max_messages <= 1000:
      raise ValueError('max_messages must be 1..1000')
    if not _MIN_ACK_DEADLINE_S <= ack_deadline_s <= _MAX_ACK_DEADLINE_S:
      raise ValueError('ack_deadline_s must be 10..600')
    self.subscription = subscription
    self.topic = topic
    self.event_time = event_time
    self.timestamp_attribute = timestamp_attribute or None
    self._idle_timeout_s = idle_timeout_s
    self._idle_lag_s = idle_timeout_s if idle_lag_s is None else idle_lag_s
    self._ooo_s = max_out_of_orderness_s
    self._backlog_hold_s = backlog_hold_s
    self._num_readers = num_readers
    self._max_messages = max_messages
    self._max_read_s = max_read_s
    self._pull_timeout_s = pull_timeout_s
    self._ack_deadline_s = ack_deadline_s
    self._resolve_timeout_s = resolve_timeout_s

  @classmethod
  def from_config(cls, config) -> 'ReadFromPubSubNative':
    """The source a SalesConfig asks for (--pubsub_subscription/_topic,
    --event_time_from, --pubsub_event_time_attribute)."""
    if not config.pubsub_subscription and not config.pubsub_topic:
      raise ValueError('--source pubsub needs --pubsub_subscription '
                       'projects/P/subscriptions/S or --pubsub_topic '
                       'projects/P/topics/T')
    if config.pubsub_subscription and config.pubsub_topic:
      raise ValueError('give --pubsub_subscription or --pubsub_topic, '
                       'not both')
    return cls(
        subscription=config.pubsub_subscription or None,
        topic=config.pubsub_topic or None,
        event_time=config.event_time_from,
        timestamp_attribute=config.pubsub_event_time_attribute or None)

  def expand(self, pbegin):
    return (
        pbegin
        | 'Impulse' >> beam.Impulse()
        | 'ResolveSubscription' >> beam.ParDo(
            _ResolveSubscriptionFn(self.subscription, self.topic,
                                   self._num_readers,
                                   max(_MIN_ACK_DEADLINE_S,
                                       min(self._ack_deadline_s, 600)),
                                   self._resolve_timeout_s))
        | 'DistributeReaders' >> beam.Reshuffle()
        | 'ReadMessages' >> beam.ParDo(
            _ReadMessagesFn(self.event_time, self.timestamp_attribute,
                            self._idle_timeout_s, self._idle_lag_s,
                            self._ooo_s, self._backlog_hold_s,
                            self._max_messages, self._max_read_s,
                            self._pull_timeout_s, self._ack_deadline_s)))


# ---------------------------------------------------------------------------
# Dataflow: Beam's ReadFromPubSub, implemented by the Dataflow service
# ---------------------------------------------------------------------------
def _message_to_raw(message, source: str, ts=beam.DoFn.TimestampParam):
  """A PubsubMessage (with attributes) -> RawRecord at the message's time."""
  return RawRecord(
      payload=bytes(message.data or b''),
      source=source,
      partition=None,
      position=message_position(message.message_id or ''),
      source_watermark_ms=None,
      transport_time_ms=ts.micros // 1000)


class ReadFromPubSubDataflow(beam.PTransform):
  """Beam's ``ReadFromPubSub``, for DataflowRunner only.

  The Dataflow service reads the subscription, acknowledges after durable
  commit, de-duplicates redeliveries, and keeps the watermark from the
  backlog's oldest unacknowledged message, using the ``timestamp_attribute``
  (or the publish time) as event time. So it fits ``--event_time_from
  transport`` only: with event times taken from the payload, its
  publish-time watermark would make any replayed (older) event late.
  Records carry no source watermark: records behind the allowed lateness
  are dropped (and counted) by Dataflow instead of becoming ``late`` dead
  letters. Prism and Flink cannot run this transform; use
  ReadFromPubSubNative there.
  """

  def __init__(self, subscription: Optional[str] = None,
               topic: Optional[str] = None,
               timestamp_attribute: Optional[str] = None):
    super().__init__()
    if not subscription and not topic:
      raise ValueError('give a subscription or a topic')
    if subscription:
      check_subscription_path(subscription)
    if topic:
      check_topic_path(topic)
    self.subscription = subscription
    self.topic = None if subscription else topic
    self.timestamp_attribute = timestamp_attribute or None

  @classmethod
  def from_config(cls, config) -> 'ReadFromPubSubDataflow':
    return cls(subscription=config.pubsub_subscription or None,
               topic=config.pubsub_topic or None,
               timestamp_attribute=config.pubsub_event_time_attribute or None)

  def expand(self, pbegin):
    source = self.subscription or self.topic
    return (
        pbegin
        | 'ReadFromPubSub' >> beam.io.ReadFromPubSub(
            topic=self.topic, subscription=self.subscription,
            with_attributes=True,
            timestamp_attribute=self.timestamp_attribute)
        | 'ToRawRecords' >> beam.Map(_message_to_raw, source))
