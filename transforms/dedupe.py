"""Deduplication: same order_id = same event; keep the first seen.

Two strategies behind one transform, chosen at the pipeline's edge:
- bounded: exact. Group by order_id and keep the smallest
  (source, partition, position), i.e. the first copy in read order. The
  group is stamped at its earliest element (not at the end of the global
  window, a GroupByKey's default), so that re-stamping the kept copy at its
  event time moves it forward in time, never behind the watermark: a runner
  that drops late data in batch (Prism) would otherwise drop every order at
  the windowed aggregation (docs/running.md).
- streaming: exact within a time-to-live of event time. A stateful DoFn
  keyed by order_id remembers that the id was seen, and an event-time timer
  at `forget_at_ms` (first event time + TTL, rounded up to TTL/16) clears
  the state, so memory stays bounded by the ids of the last TTL of event
  time.
Every dropped copy is counted (`duplicates`).
"""
from __future__ import annotations

from typing import Iterable, Tuple

import apache_beam as beam
from apache_beam.coders import BooleanCoder
from apache_beam.transforms import window
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import (ReadModifyWriteStateSpec,
                                              TimerSpec, on_timer)

from transforms import metrics
from transforms.records import Order

DEFAULT_TTL_SECONDS = 24 * 3600


def forget_at_ms(event_time_ms: int, ttl_ms: int) -> int:
  """When an order_id first seen at event_time_ms is forgotten: once the
  watermark passes event time + TTL, rounded up to a grid of TTL/16 (at
  least 1 s) so that one timer serves the ids of a whole grid step. An id is
  remembered for at least the TTL and at most TTL + TTL/16; both the record
  and the columnar dedupe keep this rule."""
  grid = max(1000, ttl_ms // 16)
  return -(-(event_time_ms + ttl_ms) // grid) * grid


def read_order_key(order: Order) -> Tuple[str, int, int]:
  """Sort key of 'first seen': where the copy was read."""
  partition = -1 if order.partition is None else order.partition
  return (order.source, partition, order.position)


class _KeepFirstOfGroup(beam.DoFn):
  """(order_id, copies) -> the first-read copy, re-stamped at event time."""

  def __init__(self) -> None:
    self._duplicates = metrics.counter(metrics.DUPLICATES)

  def process(self, keyed: Tuple[str, Iterable[Order]]) -> Iterable:
    _, copies = keyed
    copies = list(copies)
    if len(copies) > 1:
      self._duplicates.inc(len(copies) - 1)
    first = min(copies, key=read_order_key)
    # The group is stamped at its earliest copy (DeduplicateOrders.expand);
    # the kept copy's event time is that or later, and must come back
    # before windowing.
    yield window.TimestampedValue(first, first.event_time_ms / 1000.0)


class _DedupeWithTtlFn(beam.DoFn):
  """Stateful: emits an order_id's first arrival, drops later ones until TTL."""

  SEEN = ReadModifyWriteStateSpec('seen', BooleanCoder())
  EXPIRY = TimerSpec('expiry', TimeDomain.WATERMARK)

  def __init__(self, ttl_seconds: float) -> None:
    self._ttl_seconds = ttl_seconds
    self._duplicates = metrics.counter(metrics.DUPLICATES)

  def process(self,
              keyed: Tuple[str, Order],
              seen=beam.DoFn.StateParam(SEEN),
              expiry=beam.DoFn.TimerParam(EXPIRY)) -> Iterable[Order]:
    _, order = keyed
    if seen.read():
      self._duplicates.inc()
      return
    seen.write(True)
    expiry.set(forget_at_ms(order.event_time_ms,
                            int(self._ttl_seconds * 1000)) / 1000.0)
    yield order

  @on_timer(EXPIRY)
  def expire(self, seen=beam.DoFn.StateParam(SEEN)) -> Iterable[Order]:
    seen.clear()
    return []


class DeduplicateOrders(beam.PTransform):
  """PCollection[Order] -> PCollection[Order], one per order_id.

  bounded=True: exact over the whole input. bounded=False: exact within
  `ttl_seconds` of event time after an id's first copy.
  """

  def __init__(self, bounded: bool,
               ttl_seconds: float = DEFAULT_TTL_SECONDS) -> None:
    super().__init__()
    self._bounded = bounded
    self._ttl_seconds = ttl_seconds

  def key(self, orders: beam.PCollection) -> beam.PCollection:
    """The elements keyed so that every copy of an order shares a key."""
    return orders | 'KeyByOrderId' >> beam.Map(
        lambda o: (o.order_id, o)).with_output_types(Tuple[str, Order])

  def keep_first_fn(self) -> beam.DoFn:
    """(key, copies) -> the first-seen copies (bounded)."""
    return _KeepFirstOfGroup()

  def ttl_fn(self) -> beam.DoFn:
    """Stateful per key: drops copies seen within the TTL (streaming)."""
    return _DedupeWithTtlFn(self._ttl_seconds)

  def expand(self, orders: beam.PCollection) -> beam.PCollection:
    keyed = self.key(orders)
    if self._bounded:
      return (keyed
              | 'StampGroupsAtEarliest' >> beam.WindowInto(
                  window.GlobalWindows(), timestamp_combiner=(
                      window.TimestampCombiner.OUTPUT_AT_EARLIEST))
              | 'GroupCopies' >> beam.GroupByKey()
              | 'KeepFirstSeen' >> beam.ParDo(self.keep_first_fn()))
    return keyed | 'DropSeenWithinTtl' >> beam.ParDo(self.ttl_fn())
