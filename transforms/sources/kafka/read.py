"""ReadPartitions: a splittable DoFn that reads one partition's offsets.

Every emitted record's offset is claimed on the restriction tracker, so a
runner can checkpoint and resume a partition at an exact offset. Unbounded
reads self-checkpoint (``defer_remainder``) after each short read so the
runner gets to report the watermark and finalize bundles. Records are
stamped and the partition's watermark moved as watermark.py says.

Offsets commit (consumer group): offsets are committed only from the
bundle finalizer (``beam.DoFn.BundleFinalizerParam``), i.e. after the runner
has durably committed the bundle's output, and only forward. A restarted
pipeline with the same ``group_id`` starts from the committed offsets.
Within one run the restriction (not the group offset) is the source of
truth, so a runner retry re-reads exactly the uncommitted offsets; across a
crash or cancel, records of bundles that were not finalized yet are read
again (at-least-once across restarts; the pipeline de-duplicates by
order_id). The consumers, and the commits, are the worker's pool of this
source's positioned consumers (consumers.py), not a DoFn instance's.
"""
from __future__ import annotations

import bisect
import logging
import time
from typing import List, NamedTuple, Optional, Tuple

import apache_beam as beam
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Duration
from apache_beam.utils.timestamp import Timestamp

from transforms.kafka_client import KafkaConnection
from transforms.records import RawBatch, RawRecord
from transforms.sources.batch_time import payload_event_times_ms
from transforms.sources.batch_time import stamp_batch
from transforms.sources.kafka.client import consume
from transforms.sources.kafka.client import has_backlog
from transforms.sources.kafka.client import is_record
from transforms.sources.kafka.client import kafka_timestamp_ms
from transforms.sources.kafka.client import kafka_timestamps_ms
from transforms.sources.kafka.client import reached
from transforms.sources.kafka.config import consumer_config
from transforms.sources.kafka.consumers import POOLS
from transforms.sources.kafka.consumers import PartitionConsumer
from transforms.sources.kafka.partitions import PartitionRestrictionProvider
from transforms.sources.kafka.partitions import PartitionSpec
from transforms.sources.kafka.watermark import HOLDS
from transforms.sources.kafka.watermark import PartitionWatermarkEstimator
from transforms.sources.kafka.watermark import partition_watermark_provider
from transforms.sources.unbounded import WatermarkRule
from transforms.sources.unbounded import is_unbounded
from transforms.sources.unbounded import register_finalization
from transforms.sources.unbounded import self_checkpoint
from transforms.sources.unbounded import stamp_us

_LOG = logging.getLogger(__name__)

# The longest read (bundle) of a partition in batch mode.
BATCH_MAX_READ_S = 0.25

# Records per RawBatch element (emit_batches=True): at most one consume() call.
BATCH_RECORDS = 50000

# The process() parameters Beam fills in: the restriction and the watermark.
_TRACKER = beam.DoFn.RestrictionParam(PartitionRestrictionProvider())
_WATERMARK = beam.DoFn.WatermarkEstimatorParam(partition_watermark_provider())


class _Progress:
  """What one read (one process call) has claimed so far."""
  __slots__ = ('read', 'last_claimed', 'done')

  def __init__(self):
    self.read = 0
    self.last_claimed: Optional[int] = None
    # The restriction is finished (bounded stop reached, or checkpointed).
    self.done = False

  def claimed(self, count: int, last_offset: int) -> None:
    self.read += count
    self.last_claimed = last_offset


class PartitionReading(NamedTuple):
  """How a source's partitions are read: ReadPartitionFn's settings."""
  connection: KafkaConnection  # the brokers, and the client's properties
  group_id: str  # the consumer group: its offsets are committed
  bounded: bool  # read to the end offsets seen at start, then finish
  event_time: str  # 'payload' (event_time_field) or 'kafka' (record time)
  event_time_field: str  # the payload's JSON field of the event time
  watermark: WatermarkRule  # the idle rule and the allowed out-of-orderness
  poll_timeout_s: float  # one consume() call's timeout
  max_read_s: float  # the longest read (bundle) before a self-checkpoint
  max_records_per_read: int  # the most records one read claims
  commit_offsets: bool  # commit to group_id on bundle finalization
  emit_batches: bool = False  # a RawBatch per consume() call, not RawRecords
  source_id: str = ''  # ties the source's partitions in WatermarkHolds


class ReadPartitionFn(beam.DoFn):
  """Reads one partition's offset range (see the module docstring)."""
  def __init__(self, settings: PartitionReading):
    self._settings = settings
    self._idle_lag = Duration(seconds=settings.watermark.idle_lag_s)
    self._ooo = Duration(seconds=settings.watermark.max_out_of_orderness_s)
    # Records asked of librdkafka per consume() call; one batch element each.
    self._consume_batch = BATCH_RECORDS if settings.emit_batches else 500
    # The budget of one read (see _read_until_pause).
    self._max_read_s = settings.max_read_s
    self._max_records = settings.max_records_per_read
    if settings.emit_batches:
      # A bundle's output moves on only when the bundle ends: batches make
      # short bundles cheap, so they buy latency with them.
      self._max_read_s = min(self._max_read_s, BATCH_MAX_READ_S)
      self._max_records = max(self._max_records, BATCH_RECORDS)

  # -- lifecycle ------------------------------------------------------------
  def _pool_key(self) -> tuple:
    return (self._settings.source_id, self._settings.group_id,
            self._settings.connection.bootstrap_servers)

  def setup(self):
    self._pool = POOLS.acquire(
        self._pool_key(),
        consumer_config(self._settings.connection, self._settings.group_id))

  def teardown(self):
    if getattr(self, '_pool', None) is not None:
      self._pool = None
      POOLS.release(self._pool_key())

  def _event_times_ms(self, payloads: List[bytes],
                      transport: List[Optional[int]]) -> List[Optional[int]]:
    """Each record's event time: its Kafka time, or its payload's."""
    if self._settings.event_time == 'kafka':
      return transport
    return payload_event_times_ms(payloads, self._settings.event_time_field)

  # -- one RawRecord per record ----------------------------------------------
  def _claim_records(self, msgs, entry: PartitionConsumer, tracker,
                     wm: PartitionWatermarkEstimator, spec: PartitionSpec,
                     progress: _Progress):
    """Claims a consume() call's records one by one, yielding each."""
    for msg in msgs:
      if not is_record(msg, spec.topic, spec.partition):
        continue
      offset = msg.offset()
      entry.next_offset = offset + 1
      if not tracker.try_claim(offset):
        progress.done = True  # end of the range (bounded stop, or checkpoint)
        return
      progress.claimed(1, offset)
      yield self._stamp_record(msg, offset, wm, spec)

  def _stamp_record(self, msg, offset: int, wm: PartitionWatermarkEstimator,
                    spec: PartitionSpec) -> TimestampedValue:
    """A record at its timestamp; the partition's watermark follows it."""
    transport_ms = kafka_timestamp_ms(msg)
    payload = msg.value() if msg.value() is not None else b''
    current_us = wm.own_watermark_us()
    us, watermark_us = stamp_us(
        self._event_times_ms([payload], [transport_ms])[0], transport_ms,
        current_us, self._ooo.micros)
    if watermark_us is not None:
      wm.advance_to(Timestamp(micros=watermark_us))
    wm.mark_activity(time.time())
    return TimestampedValue(
        RawRecord(
            payload=payload,
            source=spec.topic,
            partition=spec.partition,
            position=offset,
            source_watermark_ms=(
                None if self._settings.bounded or current_us is None
                else current_us // 1000),
            transport_time_ms=transport_ms),
        Timestamp(micros=us))

  # -- one RawBatch per consume() call ---------------------------------------
  def _claim_batch(self, msgs, entry: PartitionConsumer, tracker,
                   wm: PartitionWatermarkEstimator, spec: PartitionSpec,
                   progress: _Progress):
    """Claims a consume() call's records and yields them as one RawBatch.

    The same offsets, claims, timestamps and watermark updates as
    `_claim_records`, in plain integers and with one claim for the whole
    batch (`_claim_offsets`).
    """
    records = [msg for msg in msgs
               if is_record(msg, spec.topic, spec.partition)]
    offsets = [msg.offset() for msg in records]
    payloads = [msg.value() or b'' for msg in records]
    transport = kafka_timestamps_ms(records)
    if not offsets:
      return
    entry.next_offset = offsets[-1] + 1
    keep = _claim_offsets(offsets, tracker, progress)
    if not keep:
      return
    if keep < len(offsets):
      offsets, payloads, transport = (offsets[:keep], payloads[:keep],
                                      transport[:keep])
    watermarks, low_us = self._stamp_batch(payloads, transport, wm)
    progress.claimed(len(offsets), offsets[-1])
    yield TimestampedValue(
        RawBatch(spec.topic, spec.partition, offsets, payloads, watermarks,
                 transport),
        Timestamp(micros=low_us))

  def _stamp_batch(self, payloads: List[bytes],
                   transport: List[Optional[int]],
                   wm: PartitionWatermarkEstimator) -> Tuple[list, int]:
    """(each record's watermark before it, in ms, the lowest timestamp in
    micros); the partition's watermark follows the records."""
    stamps = stamp_batch(self._event_times_ms(payloads, transport), transport,
                         wm.own_watermark_us(), self._ooo.micros)
    if stamps.watermark_us is not None:
      wm.advance_to(Timestamp(micros=stamps.watermark_us))
    wm.mark_activity(time.time())
    if self._settings.bounded:
      return [None] * len(payloads), stamps.low_us
    return stamps.watermarks_ms, stamps.low_us

  # -- the read ---------------------------------------------------------------
  def _read(self, spec: PartitionSpec, tracker,
            wm: PartitionWatermarkEstimator, finalizer):
    rng = tracker.current_restriction()
    if rng.start >= rng.stop:
      tracker.try_claim(rng.stop)
      return
    progress = _Progress()
    with self._pool.checkout(spec.topic, spec.partition, rng.start) as entry:
      yield from self._read_until_pause(spec, tracker, wm, rng, progress,
                                        entry)
    self._end_read(spec, tracker, wm, finalizer, rng, progress)

  def _read_until_pause(self, spec: PartitionSpec, tracker,
                        wm: PartitionWatermarkEstimator, rng,
                        progress: _Progress, entry: PartitionConsumer):
    """Consumes and claims until the range ends, the partition is caught
    up (unbounded: a poll brought nothing, or the broker held nothing more
    when the last one did), or the read's record or time budget is spent."""
    bounded = not is_unbounded(rng)
    claim = (self._claim_batch if self._settings.emit_batches
             else self._claim_records)
    started = time.monotonic()
    while True:
      msgs = consume(entry.consumer,
                     min(self._consume_batch, self._max_records - progress.read)
                     or 1, self._settings.poll_timeout_s)
      before = progress.read
      yield from claim(msgs, entry, tracker, wm, spec, progress)
      if progress.done:
        return
      if bounded:
        if reached(entry.consumer, spec.topic, spec.partition,
                   entry.next_offset, rng.stop):
          tracker.try_claim(rng.stop)
          progress.done = True
          return
        continue  # a bounded read runs to its stop in one call
      if progress.read == before:
        wm.idle_tick(time.time(), self._settings.watermark.idle_timeout_s,
                     self._idle_lag,
                     backlog=has_backlog(entry.consumer, spec.topic,
                                         spec.partition, entry.next_offset))
        return
      if (progress.read >= self._max_records or
          time.monotonic() - started >= self._max_read_s):
        return
      if not has_backlog(entry.consumer, spec.topic, spec.partition,
                         entry.next_offset):
        # Caught up: hand what was read on now. Polling again would hold
        # it in this bundle for a whole poll timeout (the read resumes at
        # once, self_checkpoint).
        return

  def _end_read(self, spec: PartitionSpec, tracker,
                wm: PartitionWatermarkEstimator, finalizer, rng,
                progress: _Progress) -> None:
    """Reports the held watermark, registers the offset commit and
    self-checkpoints an unbounded read that has not finished."""
    bounded = not is_unbounded(rng)
    if not bounded:
      wm.hold_at(Timestamp(micros=HOLDS.report(
          self._settings.source_id, (spec.topic, spec.partition),
          wm.own_watermark_us())))
    commit = None
    if self._settings.commit_offsets and progress.last_claimed is not None:
      commit = lambda pool=self._pool, t=spec.topic, p=spec.partition, o=(
          progress.last_claimed + 1): pool.commit(t, p, o)
    register_finalization(finalizer, commit)
    if not progress.done and not bounded:
      self_checkpoint(tracker, had_data=progress.read > 0)

  # Positional params (element, finalizer) must precede the ones Beam
  # injects by keyword (tracker, watermark estimator).
  def process(self, spec: PartitionSpec,
              finalizer=beam.DoFn.BundleFinalizerParam, tracker=_TRACKER,
              wm=_WATERMARK):
    yield from self._read(spec, tracker, wm, finalizer)


class ReadPartitionUnboundedFn(ReadPartitionFn):
  """`ReadPartitionFn` for an unbounded read (the runner streams)."""
  @beam.DoFn.unbounded_per_element()
  def process(self, spec: PartitionSpec,
              finalizer=beam.DoFn.BundleFinalizerParam, tracker=_TRACKER,
              wm=_WATERMARK):
    yield from self._read(spec, tracker, wm, finalizer)


def _claim_offsets(offsets: List[int], tracker, progress: _Progress) -> int:
  """Claims a batch's offsets with one claim (the largest below the
  restriction's stop; an OffsetRestrictionTracker claims every offset up to
  it) and returns how many were claimed. ``progress.done`` when the
  restriction ends inside this batch (a bounded stop, or a checkpoint took
  the rest, which the residual re-reads)."""
  stop = tracker.current_restriction().stop
  keep = len(offsets)
  if offsets[-1] >= stop:
    progress.done = True
    keep = bisect.bisect_left(offsets, stop)
  if keep == 0 or not tracker.try_claim(offsets[keep - 1]):
    if keep == 0:
      tracker.try_claim(stop)  # the range is done (as the record loop)
    progress.done = True
    return 0
  if progress.done:
    tracker.try_claim(stop)  # the range is done (as the record loop)
  return keep
