"""A native Python Kafka source (confluent-kafka) as a splittable DoFn.

No Java expansion service, no Docker: the read runs inside the Python SDK
worker, so it works on Prism, Flink (PROCESS/LOOPBACK) and Dataflow alike.

Shape of the read (``ReadFromKafkaNative.expand``)::

    Impulse -> ListPartitions -> DistributePartitions -> ReadPartitions

* ListPartitions runs once when the pipeline starts. It asks the broker for
  the topic's partitions, the consumer group's committed offsets (the start;
  a partition with no committed offset starts at ``start_offset``, default
  ``earliest``) and, in bounded mode, the end (high-watermark) offsets seen
  at that moment.
* ReadPartitions is a splittable DoFn with ONE restriction per partition:
  an ``OffsetRange(start, stop)`` of Kafka offsets. ``stop`` is the end
  offset seen at start (bounded mode) or 2**63-1 (unbounded). Every emitted
  record's offset is claimed on the restriction tracker, so a runner can
  checkpoint and resume a partition at an exact offset. Unbounded reads
  self-checkpoint (``defer_remainder``) after each short read so the runner
  gets to report the watermark and finalize bundles. Dynamic splits of an
  unbounded range are refused (only checkpoints are accepted): splitting a
  partition's future offsets in two would only create an idle reader.

Watermark (per partition, a ``ManualWatermarkEstimator`` whose state also
carries the partition's last-activity wall-clock time):

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

Offsets commit (consumer group): offsets are committed only from the
bundle finalizer (``beam.DoFn.BundleFinalizerParam``), i.e. after the runner
has durably committed the bundle's output, and only forward. A restarted
pipeline with the same ``group_id`` starts from the committed offsets.
Within one run the restriction (not the group offset) is the source of
truth, so a runner retry re-reads exactly the uncommitted offsets; across a
crash or cancel, records of bundles that were not finalized yet are read
again (at-least-once across restarts; the pipeline de-duplicates by
order_id).

Client configuration: any librdkafka property can be passed in
``consumer_config`` (a dict) or in a properties file
(``consumer_config_file``, ``key=value`` lines) read on the worker. A value
``env:NAME`` is read from the environment variable NAME and ``file:PATH``
from a file, on the worker at setup time, so secrets never appear in the
pipeline graph, options or command line. Secret properties
(``sasl.password`` ...) given as literal values are refused.
"""
from __future__ import annotations

import bisect
import json
import logging
import os
import threading
import time
import uuid
from typing import Any, Dict, Iterable, Mapping, NamedTuple, Optional

import apache_beam as beam
import orjson
from apache_beam.io.restriction_trackers import OffsetRange
from apache_beam.io.restriction_trackers import OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.transforms.core import RestrictionProvider
from apache_beam.transforms.core import WatermarkEstimatorProvider
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Duration
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.timestamp import Timestamp

from transforms import event_time
from transforms.records import RawBatch, RawRecord

_LOG = logging.getLogger(__name__)

# The stop offset of an unbounded partition restriction.
UNBOUNDED_STOP = 2**63 - 1


# librdkafka properties that hold secrets: never accepted as literals.
SECRET_KEYS = frozenset({
    'sasl.password',
    'sasl.oauthbearer.client.secret',
    'sasl.oauthbearer.config',
    'ssl.key.password',
    'ssl.keystore.password',
    'ssl.key.pem',
    'ssl_key',
})


# ---------------------------------------------------------------------------
# Client configuration (shared with transforms/sinks/kafka_sink.py)
# ---------------------------------------------------------------------------
def _resolve_value(key: str, value: Any) -> Any:
  if isinstance(value, str):
    if value.startswith('env:'):
      name = value[4:]
      if name not in os.environ:
        raise ValueError(
            'Kafka property %r refers to environment variable %r, which is '
            'not set' % (key, name))
      return os.environ[name]
    if value.startswith('file:'):
      with open(value[5:], encoding='utf-8') as f:
        return f.read().strip()
  if key in SECRET_KEYS:
    raise ValueError(
        'Kafka property %r must come from the environment or a file '
        '("env:NAME" or "file:PATH"), not a literal value' % key)
  return value


def read_properties_file(path: str) -> Dict[str, str]:
  """Reads ``key=value`` lines (``#`` comments allowed) into a dict."""
  props = {}
  with open(path, encoding='utf-8') as f:
    for line in f:
      line = line.strip()
      if not line or line.startswith('#') or line.startswith('!'):
        continue
      key, sep, value = line.partition('=')
      if not sep:
        raise ValueError('%s: not a key=value line: %r' % (path, line))
      props[key.strip()] = value.strip()
  return props


def resolve_client_config(
    base: Mapping[str, Any],
    config: Optional[Mapping[str, Any]] = None,
    config_file: Optional[str] = None,
    forced: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
  """Builds a librdkafka config: base < file < dict < forced.

  Literal values of a properties file are trusted (the file itself is the
  secret store); ``env:``/``file:`` references are resolved everywhere.
  """
  out = dict(base)
  if config_file:
    for k, v in read_properties_file(config_file).items():
      out[k] = _resolve_value(k, v) if v.startswith(('env:', 'file:')) else v
  for k, v in (config or {}).items():
    out[k] = _resolve_value(k, v)
  for k, v in (forced or {}).items():
    if k in out and str(out[k]).lower() != str(v).lower():
      _LOG.warning('Kafka property %s=%r overridden to %r', k, out[k], v)
    out[k] = v
  return out


def check_no_literal_secrets(config: Optional[Mapping[str, Any]]) -> None:
  """Fails fast at construction time if a secret is given as a literal."""
  for k, v in (config or {}).items():
    if k in SECRET_KEYS and not (
        isinstance(v, str) and v.startswith(('env:', 'file:'))):
      raise ValueError(
          'Kafka property %r must come from the environment or a file '
          '("env:NAME" or "file:PATH"), not a literal value' % k)


# ---------------------------------------------------------------------------
# Event time
# ---------------------------------------------------------------------------
def parse_event_time_ms(value: Any) -> Optional[int]:
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
  return parse_event_time_ms(obj.get(field))


def _kafka_timestamp_ms(msg) -> Optional[int]:
  from confluent_kafka import TIMESTAMP_NOT_AVAILABLE
  ts_type, ts = msg.timestamp()
  if ts_type == TIMESTAMP_NOT_AVAILABLE or ts is None or ts < 0:
    return None
  return ts


def _stamp_us(event_ms: Optional[int], transport_ms: Optional[int],
              watermark_us: Optional[int], ooo_us: int):
  """(a record's timestamp, its partition's watermark after it), in micros.

  A record is stamped at its event time, and the watermark moves up to that
  time minus the allowed out-of-orderness (never back). A record without a
  usable event time is stamped at the current watermark, else at its Kafka
  time, else now. watermark_us None: no watermark yet.
  """
  if event_ms is not None:
    us = event_ms * 1000
    if watermark_us is None or us - ooo_us > watermark_us:
      watermark_us = us - ooo_us
    return us, watermark_us
  if watermark_us is not None:
    return watermark_us, watermark_us
  if transport_ms is not None:
    return transport_ms * 1000, None
  return Timestamp.now().micros, None


# ---------------------------------------------------------------------------
# Restriction, tracker, watermark estimator
# ---------------------------------------------------------------------------
class PartitionSpec(NamedTuple):
  """One partition to read: the element the splittable DoFn receives."""
  topic: str
  partition: int
  start_offset: int
  stop_offset: Optional[int]  # None = unbounded


class _PartitionOffsetTracker(OffsetRestrictionTracker):
  """Offset tracker that accepts checkpoints but no dynamic split of an
  unbounded range (which would only create an idle reader far ahead)."""
  def try_split(self, fraction_of_remainder):
    if self._range.stop >= UNBOUNDED_STOP and fraction_of_remainder > 0:
      return None
    return super().try_split(fraction_of_remainder)

  def is_bounded(self):
    return self._range.stop < UNBOUNDED_STOP


class _PartitionRestrictionProvider(RestrictionProvider):
  def initial_restriction(self, element: PartitionSpec):
    stop = (
        UNBOUNDED_STOP if element.stop_offset is None else max(
            element.start_offset, element.stop_offset))
    return OffsetRange(element.start_offset, stop)

  def create_tracker(self, restriction):
    return _PartitionOffsetTracker(restriction)

  def split(self, element, restriction):
    # One restriction per partition; no initial splitting.
    yield restriction

  def restriction_size(self, element, restriction):
    if restriction.stop >= UNBOUNDED_STOP:
      return 1
    return max(0, restriction.stop - restriction.start)

  def truncate(self, element, restriction):
    # On drain an unbounded partition stops; a bounded one reads to its end.
    if restriction.stop >= UNBOUNDED_STOP:
      return None
    return restriction


class PartitionWatermarkEstimator(ManualWatermarkEstimator):
  """Manual watermark plus the wall-clock time of the last activity.

  State: ``(watermark Timestamp or None, last_activity_s float or None)``.
  """
  def __init__(self, state=None):
    watermark, last_activity_s = state if state else (None, None)
    super().__init__(watermark)
    self.last_activity_s = last_activity_s
    self._held: Optional[Timestamp] = None  # per bundle, not in the state

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
    """This partition's watermark in micros, whatever is reported to the
    runner; None while it has none yet (unset, or MIN)."""
    own = self._watermark
    return None if own is None or own <= MIN_TIMESTAMP else own.micros

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
  per process (`_HOLDS`): the partitions of a source are read by separate
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


_HOLDS = WatermarkHolds()


class _PartitionWatermarkEstimatorProvider(WatermarkEstimatorProvider):
  def initial_estimator_state(self, element, restriction):
    # MIN, not None: a partition that has delivered nothing yet must hold
    # the watermark back (a None watermark is not reported to the runner,
    # which then lets the stage's watermark run ahead of this partition).
    return (MIN_TIMESTAMP, None)

  def create_watermark_estimator(self, estimator_state):
    return PartitionWatermarkEstimator(estimator_state)


# ---------------------------------------------------------------------------
# DoFns
# ---------------------------------------------------------------------------
def _consumer_base(bootstrap_servers: str, group_id: str) -> Dict[str, Any]:
  return {
      'bootstrap.servers': bootstrap_servers,
      'group.id': group_id,
      'auto.offset.reset': 'earliest',
      'enable.partition.eof': False,
      'isolation.level': 'read_committed',
      'client.id': 'sales-pipeline-%s' % uuid.uuid4().hex[:8],
  }


# Offsets are committed by the bundle finalizer, never by librdkafka itself.
_CONSUMER_FORCED = {
    'enable.auto.commit': False,
    'enable.auto.offset.store': False,
}


def _retry(fn, deadline: float):
  """Calls ``fn`` until it does not raise a retriable KafkaException.

  A fresh broker answers NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS
  while it creates ``__consumer_offsets``.
  """
  from confluent_kafka import KafkaException
  delay = 0.2
  while True:
    try:
      return fn()
    except KafkaException as e:
      err = e.args[0] if e.args else None
      retriable = getattr(err, 'retriable', lambda: False)() or (
          'COORDINATOR' in str(e))
      if not retriable or time.monotonic() >= deadline:
        raise
      time.sleep(delay)
      delay = min(delay * 2, 2.0)


class _ListPartitionsFn(beam.DoFn):
  """Impulse -> one PartitionSpec per partition (start/stop offsets)."""
  def __init__(self, bootstrap_servers, topic, group_id, consumer_config,
               consumer_config_file, bounded, start_offset, partitions,
               metadata_timeout_s, ignore_committed=False, source_id=''):
    self._ignore_committed = ignore_committed
    self._source_id = source_id
    self._bootstrap = bootstrap_servers
    self._topic = topic
    self._group_id = group_id
    self._config = consumer_config
    self._config_file = consumer_config_file
    self._bounded = bounded
    self._start_offset = start_offset
    self._partitions = partitions
    self._timeout = metadata_timeout_s

  def process(self, unused_impulse) -> Iterable[PartitionSpec]:
    from confluent_kafka import Consumer, TopicPartition
    conf = resolve_client_config(
        _consumer_base(self._bootstrap, self._group_id), self._config,
        self._config_file, _CONSUMER_FORCED)
    consumer = Consumer(conf)
    try:
      deadline = time.monotonic() + self._timeout
      while True:
        md = consumer.list_topics(self._topic, timeout=self._timeout)
        tmd = md.topics.get(self._topic)
        if tmd is not None and tmd.error is None and tmd.partitions:
          break
        if time.monotonic() >= deadline:
          raise RuntimeError(
              'Kafka topic %r not found at %s: %s' %
              (self._topic, self._bootstrap, tmd.error if tmd else 'missing'))
        time.sleep(0.5)
      parts = sorted(tmd.partitions)
      if self._partitions is not None:
        parts = [p for p in parts if p in set(self._partitions)]
      committed = _retry(
          lambda: consumer.committed(
              [TopicPartition(self._topic, p) for p in parts],
              timeout=self._timeout), deadline)
      for tp in committed:
        low, high = consumer.get_watermark_offsets(
            TopicPartition(self._topic, tp.partition), timeout=self._timeout)
        if self._ignore_committed:
          start, how = low, 'start of retention (recovery replay)'
        elif tp.offset >= 0:
          start = min(max(tp.offset, low), high)
          how = 'committed'
        elif self._start_offset == 'latest':
          start, how = high, 'latest'
        else:
          start, how = low, 'earliest'
        stop = high if self._bounded else None
        _LOG.info(
            'Kafka %s[%d]: start at %d (%s), stop at %s', self._topic,
            tp.partition, start, how, stop if stop is not None else 'never')
        if not self._bounded:
          _HOLDS.register(self._source_id, (self._topic, tp.partition))
        yield PartitionSpec(self._topic, tp.partition, start, stop)
    finally:
      consumer.close()


def _noop():
  pass


def _is_record(msg, topic: str, partition: int) -> bool:
  """False for an end-of-partition event or a non-fatal error (logged);
  raises on a fatal one."""
  err = msg.error()
  if err is None:
    return True
  from confluent_kafka import KafkaError
  if err.code() == KafkaError._PARTITION_EOF:
    return False
  if err.retriable() or not err.fatal():
    _LOG.warning('Kafka %s[%d]: %s', topic, partition, err)
    return False
  raise RuntimeError('Kafka %s[%d]: %s' % (topic, partition, err))


def _consume(consumer, num_messages: int, timeout_s: float) -> list:
  """Up to num_messages records: what is already fetched, else the first
  to arrive within timeout_s plus whatever came with it.

  librdkafka's consume(n, timeout) waits the whole timeout unless n records
  arrive, which would add the poll timeout to every record's latency when
  the stream is slower than n records per timeout.
  """
  msgs = consumer.consume(num_messages=num_messages, timeout=0)
  if msgs:
    return msgs
  msgs = consumer.consume(num_messages=1, timeout=timeout_s)
  if msgs and num_messages > 1:
    msgs.extend(consumer.consume(num_messages=num_messages - 1, timeout=0))
  return msgs


# An idle partition's read resumes after this pause (a self-checkpoint with
# a delay), after polling for poll_timeout_s.
IDLE_RESUME_S = 0.5

# The longest read (bundle) of a partition in batch mode.
BATCH_MAX_READ_S = 0.25

# Records per RawBatch element (emit_batches=True): at most one consume() call.
BATCH_RECORDS = 50000


class _ReadPartitionFn(beam.DoFn):
  """Reads one partition's offset range (see the module docstring)."""
  def __init__(
      self,
      bootstrap_servers: str,
      group_id: str,
      consumer_config: Optional[Mapping[str, Any]],
      consumer_config_file: Optional[str],
      bounded: bool,
      event_time: str,
      event_time_field: str,
      idle_timeout_s: float,
      idle_lag_s: float,
      max_out_of_orderness_s: float,
      poll_timeout_s: float,
      max_read_s: float,
      max_records_per_read: int,
      commit_offsets: bool,
      emit_batches: bool = False,
      source_id: str = ''):
    self._source_id = source_id
    self._bootstrap = bootstrap_servers
    self._group_id = group_id
    self._config = dict(consumer_config or {})
    self._config_file = consumer_config_file
    self._bounded = bounded
    self._event_time = event_time
    self._event_time_field = event_time_field
    self._idle_timeout_s = idle_timeout_s
    self._idle_lag = Duration(seconds=idle_lag_s)
    self._ooo = Duration(seconds=max_out_of_orderness_s)
    self._poll_timeout_s = poll_timeout_s
    self._max_read_s = max_read_s
    self._max_records = max_records_per_read
    self._commit = commit_offsets
    self._emit_batches = emit_batches
    # Records asked of librdkafka per consume() call; one batch element each.
    self._consume_batch = BATCH_RECORDS if emit_batches else 500
    if emit_batches:
      # A bundle's output moves on only when the bundle ends: batches make
      # short bundles cheap, so they buy latency with them.
      self._max_read_s = min(self._max_read_s, BATCH_MAX_READ_S)
      self._max_records = max(self._max_records, BATCH_RECORDS)

  # -- lifecycle ------------------------------------------------------------
  def setup(self):
    self._conf = resolve_client_config(
        _consumer_base(self._bootstrap, self._group_id), self._config,
        self._config_file, _CONSUMER_FORCED)
    # (topic, partition) -> [consumer, next offset it will deliver]
    self._consumers: Dict[tuple, list] = {}
    self._committer = None
    self._committed: Dict[tuple, int] = {}
    self._commit_lock = threading.Lock()

  def teardown(self):
    # list(): a bundle thread may still be adding a consumer on cancel.
    for consumer, _ in list(getattr(self, '_consumers', {}).values()):
      try:
        consumer.close()
      except Exception:  # pylint: disable=broad-except
        pass
    self._consumers = {}
    if getattr(self, '_committer', None) is not None:
      try:
        self._committer.close()
      except Exception:  # pylint: disable=broad-except
        pass
      self._committer = None

  # -- helpers --------------------------------------------------------------
  def _consumer_at(self, topic: str, partition: int, offset: int):
    from confluent_kafka import Consumer, TopicPartition
    key = (topic, partition)
    entry = self._consumers.get(key)
    if entry is None:
      entry = [Consumer(self._conf), None]
      self._consumers[key] = entry
    if entry[1] != offset:
      entry[0].assign([TopicPartition(topic, partition, offset)])
      entry[1] = offset
    return entry

  def _commit_offset(self, topic: str, partition: int, offset: int):
    """Bundle-finalization callback: commit ``offset`` (the next to read)."""
    from confluent_kafka import Consumer, TopicPartition
    key = (topic, partition)
    with self._commit_lock:
      if self._committed.get(key, -1) >= offset:
        return
      try:
        if self._committer is None:
          self._committer = Consumer(self._conf)
        self._committer.commit(
            offsets=[TopicPartition(topic, partition, offset)],
            asynchronous=False)
        self._committed[key] = offset
      except Exception:  # pylint: disable=broad-except
        # Best effort, like any finalization: the next bundle commits a
        # later offset; a restart re-reads at most the uncommitted records.
        _LOG.warning(
            'Committing %s[%d]@%d failed', topic, partition, offset,
            exc_info=True)

  def _event_ts_ms(self, payload: Optional[bytes],
                   transport_ms: Optional[int]) -> Optional[int]:
    if self._event_time == 'kafka':
      return transport_ms
    return payload_event_time_ms(payload, self._event_time_field)

  # -- the read, one RawBatch per consume() call --------------------------------
  def _claim_batch(self, msgs, entry, tracker, wm, topic: str, partition: int):
    """Claims a consume() call's records and turns them into one RawBatch.

    The same offsets, claims, timestamps and watermark updates as the
    record-at-a-time loop in `_read`, in plain integers and with one claim
    for the whole batch (the largest offset below the restriction's stop;
    an OffsetRestrictionTracker claims every offset up to it). Returns
    (element or None when nothing was claimed, records, last offset, done),
    done when the restriction ends inside this batch (a bounded stop, or a
    checkpoint took the rest, which the residual re-reads).
    """
    offsets, payloads, transport = [], [], []
    for msg in msgs:
      if not _is_record(msg, topic, partition):
        continue
      offsets.append(msg.offset())
      payloads.append(msg.value() or b'')
      transport.append(_kafka_timestamp_ms(msg))
    if not offsets:
      return None, 0, None, False
    entry[1] = offsets[-1] + 1
    stop = tracker.current_restriction().stop
    keep = len(offsets)
    done = offsets[-1] >= stop
    if done:
      keep = bisect.bisect_left(offsets, stop)
    if keep == 0 or not tracker.try_claim(offsets[keep - 1]):
      if keep == 0:
        tracker.try_claim(stop)  # the range is done (as the record loop)
      return None, 0, None, True
    if done:
      tracker.try_claim(stop)  # the range is done (as the record loop)
    if keep < len(offsets):
      offsets, payloads, transport = (offsets[:keep], payloads[:keep],
                                      transport[:keep])
    hi = wm.own_watermark_us()
    ooo_us = self._ooo.micros
    watermarks = []
    low = None
    for payload, transport_ms in zip(payloads, transport):
      watermarks.append(None if hi is None else hi // 1000)
      us, hi = _stamp_us(self._event_ts_ms(payload, transport_ms),
                         transport_ms, hi, ooo_us)
      if low is None or us < low:
        low = us
    if hi is not None:
      wm.advance_to(Timestamp(micros=hi))
    wm.mark_activity(time.time())
    if self._bounded:
      watermarks = [None] * len(offsets)
    element = TimestampedValue(
        RawBatch(topic, partition, offsets, payloads, watermarks, transport),
        Timestamp(micros=low))
    return element, len(offsets), offsets[-1], done

  # -- the read ---------------------------------------------------------------
  def _read(self, spec: PartitionSpec, tracker, wm: PartitionWatermarkEstimator,
            finalizer):
    from confluent_kafka import TopicPartition
    rng = tracker.current_restriction()
    topic, partition = spec.topic, spec.partition
    bounded = rng.stop < UNBOUNDED_STOP
    if rng.start >= rng.stop:
      tracker.try_claim(rng.stop)
      return
    entry = self._consumer_at(topic, partition, rng.start)
    consumer = entry[0]
    started = time.monotonic()
    last_claimed = None
    read = 0
    done = False

    while True:
      msgs = _consume(consumer,
                      min(self._consume_batch, self._max_records - read) or 1,
                      self._poll_timeout_s)
      got_data = False
      if self._emit_batches:
        element, n, last, done = self._claim_batch(msgs, entry, tracker, wm,
                                                   topic, partition)
        if element is not None:
          got_data = True
          read += n
          last_claimed = last
          yield element
      else:
        for msg in msgs:
          if not _is_record(msg, topic, partition):
            continue
          offset = msg.offset()
          entry[1] = offset + 1
          if not tracker.try_claim(offset):
            done = True  # end of the range (bounded stop, or checkpointed)
            break
          got_data = True
          last_claimed = offset
          read += 1
          transport_ms = _kafka_timestamp_ms(msg)
          payload = msg.value() if msg.value() is not None else b''
          current_us = wm.own_watermark_us()
          us, watermark_us = _stamp_us(
              self._event_ts_ms(payload, transport_ms), transport_ms,
              current_us, self._ooo.micros)
          if watermark_us is not None:
            wm.advance_to(Timestamp(micros=watermark_us))
          wm.mark_activity(time.time())
          yield TimestampedValue(
              RawRecord(
                  payload=payload,
                  source=topic,
                  partition=partition,
                  position=offset,
                  source_watermark_ms=(None if self._bounded or
                                       current_us is None else
                                       current_us // 1000),
                  transport_time_ms=transport_ms),
              Timestamp(micros=us))
      if done:
        break

      if bounded:
        # Finished when the consumer has moved to (or past) the stop offset;
        # control records (transactions) have offsets but no message.
        pos = consumer.position([TopicPartition(topic, partition)])[0].offset
        if max(pos, entry[1] or -1) >= rng.stop:
          tracker.try_claim(rng.stop)
          done = True
          break
        continue  # a bounded read runs to its stop in one call

      if not got_data:
        now = time.time()
        backlog = False
        try:
          _, high = consumer.get_watermark_offsets(
              TopicPartition(topic, partition), cached=True)
          backlog = high is not None and high >= 0 and (entry[1] or 0) < high
        except Exception:  # pylint: disable=broad-except
          pass
        last = wm.last_activity()
        if backlog or last is None:
          wm.mark_activity(now)  # (re)start the idle clock
        elif now - last >= self._idle_timeout_s:
          wm.advance_to(Timestamp.of(now) - self._idle_lag)
        break
      if (read >= self._max_records or
          time.monotonic() - started >= self._max_read_s):
        break

    if not bounded:
      wm.hold_at(Timestamp(micros=_HOLDS.report(
          self._source_id, (topic, partition), wm.own_watermark_us())))
    if self._commit and last_claimed is not None:
      finalizer.register(
          lambda t=topic, p=partition, o=last_claimed + 1: self._commit_offset(
              t, p, o))
    else:
      # Prism finalizes every bundle of a stage that needs finalization; a
      # bundle that registered nothing has already been released by the SDK
      # and the finalize request logs a spurious error. A no-op keeps it
      # quiet.
      finalizer.register(_noop)
    if not done and not bounded:
      # Self-checkpoint: lets the runner commit the output, report the
      # watermark and finalize the bundle; resume right away if there was
      # data, after a short pause if the partition was idle.
      tracker.defer_remainder(Duration(seconds=0 if read else IDLE_RESUME_S))

  def process(
      self,
      spec: PartitionSpec,
      # Positional params (element, finalizer) must precede the ones Beam
      # injects by keyword (tracker, watermark estimator).
      finalizer=beam.DoFn.BundleFinalizerParam,
      tracker=beam.DoFn.RestrictionParam(_PartitionRestrictionProvider()),
      wm=beam.DoFn.WatermarkEstimatorParam(
          _PartitionWatermarkEstimatorProvider())):
    yield from self._read(spec, tracker, wm, finalizer)


class _ReadPartitionUnboundedFn(_ReadPartitionFn):
  @beam.DoFn.unbounded_per_element()
  def process(
      self,
      spec: PartitionSpec,
      # Positional params (element, finalizer) must precede the ones Beam
      # injects by keyword (tracker, watermark estimator).
      finalizer=beam.DoFn.BundleFinalizerParam,
      tracker=beam.DoFn.RestrictionParam(_PartitionRestrictionProvider()),
      wm=beam.DoFn.WatermarkEstimatorParam(
          _PartitionWatermarkEstimatorProvider())):
    yield from self._read(spec, tracker, wm, finalizer)


# ---------------------------------------------------------------------------
# The PTransform
# ---------------------------------------------------------------------------
class ReadFromKafkaNative(beam.PTransform):
  """Reads a Kafka topic into ``RawRecord``s, timestamped at event time.

  Args:
    bootstrap_servers: ``host:port[,host:port]``.
    topic: the topic to read (all its partitions, or ``partitions``).
    group_id: consumer group: start offsets come from it, and offsets are
      committed to it after each bundle is finalized.
    consumer_config: extra librdkafka properties (dict); values
      ``env:NAME`` / ``file:PATH`` are read on the worker (use them for
      secrets; literal secrets are refused).
    consumer_config_file: a ``key=value`` properties file read on the worker.
    bounded: read up to the end offsets seen at start, then finish.
    event_time: ``'payload'`` (the JSON field ``event_time_field``) or
      ``'kafka'`` (the Kafka record timestamp).
    idle_timeout_s: wall-clock seconds without records (and no backlog)
      after which a partition's watermark follows the clock.
    idle_lag_s: how far behind wall-clock an idle partition's watermark
      stays (default: ``idle_timeout_s``).
    max_out_of_orderness_s: the watermark trails the highest event time
      seen by this much (default 0: out-of-order records are late data).
    start_offset: ``'earliest'`` or ``'latest'`` for partitions without a
      committed offset.
    commit_offsets: commit consumed offsets to ``group_id`` on bundle
      finalization (default True).
    partitions: optional list of partition numbers to read.
    ignore_committed: start every partition at the start of its retention,
      whatever the group committed (a recovery replay, see --recover).
    emit_batches: emit one ``RawBatch`` per partition read (up to
      BATCH_RECORDS records) instead of one ``RawRecord`` per record: the
      input of the vectorized streaming engine. Same offsets, watermarks,
      claims and commits.
  """
  def __init__(
      self,
      bootstrap_servers: str,
      topic: str,
      group_id: str,
      consumer_config: Optional[Mapping[str, Any]] = None,
      bounded: bool = False,
      event_time: str = 'payload',
      idle_timeout_s: float = 10.0,
      idle_lag_s: Optional[float] = None,
      max_out_of_orderness_s: float = 0.0,
      start_offset: str = 'earliest',
      commit_offsets: bool = True,
      consumer_config_file: Optional[str] = None,
      partitions: Optional[Iterable[int]] = None,
      event_time_field: str = 'event_time',
      poll_timeout_s: float = 0.5,
      max_read_s: float = 1.0,
      max_records_per_read: int = 10000,
      metadata_timeout_s: float = 30.0,
      ignore_committed: bool = False,
      emit_batches: bool = False):
    super().__init__()
    self._emit_batches = emit_batches
    self._ignore_committed = ignore_committed
    if event_time not in ('payload', 'kafka'):
      raise ValueError("event_time must be 'payload' or 'kafka'")
    if start_offset not in ('earliest', 'latest'):
      raise ValueError("start_offset must be 'earliest' or 'latest'")
    if not group_id:
      raise ValueError('group_id is required')
    check_no_literal_secrets(consumer_config)
    self._bootstrap = bootstrap_servers
    self._topic = topic
    self._group_id = group_id
    self._config = dict(consumer_config or {})
    self._config_file = consumer_config_file
    self._bounded = bounded
    self._event_time = event_time
    self._event_time_field = event_time_field
    self._idle_timeout_s = idle_timeout_s
    self._idle_lag_s = idle_timeout_s if idle_lag_s is None else idle_lag_s
    self._ooo_s = max_out_of_orderness_s
    self._start_offset = start_offset
    self._commit = commit_offsets
    self._partitions = None if partitions is None else sorted(partitions)
    self._poll_timeout_s = poll_timeout_s
    self._max_read_s = max_read_s
    self._max_records = max_records_per_read
    self._metadata_timeout_s = metadata_timeout_s
    # Ties this source's partitions together in WatermarkHolds.
    self._source_id = uuid.uuid4().hex

  def expand(self, pbegin):
    read_cls = _ReadPartitionFn if self._bounded else _ReadPartitionUnboundedFn
    return (
        pbegin
        | 'Impulse' >> beam.Impulse()
        | 'ListPartitions' >> beam.ParDo(
            _ListPartitionsFn(
                self._bootstrap, self._topic, self._group_id, self._config,
                self._config_file, self._bounded, self._start_offset,
                self._partitions, self._metadata_timeout_s,
                self._ignore_committed, self._source_id))
        | 'DistributePartitions' >> beam.Reshuffle()
        | 'ReadPartitions' >> beam.ParDo(
            read_cls(
                self._bootstrap, self._group_id, self._config,
                self._config_file, self._bounded, self._event_time,
                self._event_time_field, self._idle_timeout_s,
                self._idle_lag_s, self._ooo_s, self._poll_timeout_s,
                self._max_read_s, self._max_records, self._commit,
                self._emit_batches, self._source_id)))
