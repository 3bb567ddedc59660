"""Records as batches: a record-at-a-time source feeding the columnar steps.

A source that emits RawRecord (Pub/Sub, Beam's own Pub/Sub read) is wrapped
so that the records of one bundle leave as one RawBatch per (source,
partition): the same payloads, positions, watermarks and transport times,
stamped at the earliest of their timestamps. A bundle's output is held
until the bundle ends, and the runner holds the watermark until then, so
no record becomes late by being batched.
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Tuple

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

import transforms.raw_batch_coder  # noqa: F401  (RawBatch's coder)
from transforms.records import RawBatch, RawRecord

MAX_BATCH = 50_000  # records per RawBatch


class _Pending:
  __slots__ = ('records', 'earliest')

  def __init__(self) -> None:
    self.records: List[RawRecord] = []
    self.earliest: Optional[Timestamp] = None


def as_batch(records: List[RawRecord]) -> RawBatch:
  """One RawBatch holding exactly these records (of one source, partition)."""
  return RawBatch(
      records[0].source, records[0].partition,
      [r.position for r in records],
      [r.payload if isinstance(r.payload, bytes) else
       str(r.payload).encode('utf-8') for r in records],
      [r.source_watermark_ms for r in records],
      [r.transport_time_ms for r in records])


class BatchRecordsFn(beam.DoFn):
  """RawRecord -> RawBatch per bundle and (source, partition)."""

  def start_bundle(self) -> None:
    self._pending: Dict[Tuple[str, Optional[int]], _Pending] = {}

  def process(self, record: RawRecord,
              timestamp=beam.DoFn.TimestampParam) -> Iterable:
    pending = self._pending.setdefault((record.source, record.partition),
                                       _Pending())
    pending.records.append(record)
    if pending.earliest is None or timestamp < pending.earliest:
      pending.earliest = timestamp
    if len(pending.records) >= MAX_BATCH:
      yield beam.window.TimestampedValue(as_batch(pending.records),
                                         pending.earliest)
      del self._pending[(record.source, record.partition)]

  def finish_bundle(self) -> Iterable[WindowedValue]:
    for pending in self._pending.values():
      yield WindowedValue(as_batch(pending.records), pending.earliest,
                          [GlobalWindow()])
    self._pending = {}


class RecordsAsBatches(beam.PTransform):
  """PBegin -> PCollection[RawBatch] of a RawRecord source."""

  def __init__(self, source: beam.PTransform) -> None:
    super().__init__()
    self._source = source

  def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
    # The source's own steps, expanded in this scope: they keep the names a
    # record source has (ReadOrders/ReadMessages, ...), which a running
    # Dataflow job's update matches by.
    records = self._source.expand(pbegin)
    return records | 'BatchPerBundle' >> beam.ParDo(
        BatchRecordsFn()).with_output_types(RawBatch)  # RawBatchCoder
