"""ReadFromKafkaNative: the PTransform (see the package docstring)."""
from __future__ import annotations

import uuid
from typing import Any, Iterable, Mapping, Optional

import apache_beam as beam

from transforms.kafka_client import KafkaConnection
import transforms.raw_batch_coder  # noqa: F401  (RawBatch's coder)
from transforms.records import RawBatch
from transforms.sources.kafka.partitions import (ListPartitionsFn,
                                                 PartitionQuery)
from transforms.sources.kafka.read import PartitionReading
from transforms.sources.kafka.read import ReadPartitionFn
from transforms.sources.kafka.read import ReadPartitionUnboundedFn
from transforms.sources.unbounded import WatermarkRule


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
      poll_timeout_s: float = 0.1,
      max_read_s: float = 1.0,
      max_records_per_read: int = 10000,
      metadata_timeout_s: float = 30.0,
      ignore_committed: bool = False,
      emit_batches: bool = False):
    super().__init__()
    if event_time not in ('payload', 'kafka'):
      raise ValueError("event_time must be 'payload' or 'kafka'")
    if start_offset not in ('earliest', 'latest'):
      raise ValueError("start_offset must be 'earliest' or 'latest'")
    if not group_id:
      raise ValueError('group_id is required')
    connection = KafkaConnection(bootstrap_servers, consumer_config,
                                 consumer_config_file)
    # Ties this source's partitions together in WatermarkHolds.
    source_id = uuid.uuid4().hex
    query = PartitionQuery(
        topic, group_id, bounded, start_offset,
        None if partitions is None else sorted(partitions),
        ignore_committed, source_id)
    self._list_partitions = ListPartitionsFn(connection, query,
                                             metadata_timeout_s)
    read_cls = ReadPartitionFn if bounded else ReadPartitionUnboundedFn
    reading = PartitionReading(
        connection, group_id, bounded, event_time, event_time_field,
        WatermarkRule.of(idle_timeout_s, idle_lag_s, max_out_of_orderness_s),
        poll_timeout_s, max_read_s, max_records_per_read, commit_offsets,
        emit_batches, source_id)
    self._read_partitions = read_cls(reading)
    self._emit_batches = emit_batches

  def expand(self, pbegin):
    return (
        pbegin
        | 'Impulse' >> beam.Impulse()
        | 'ListPartitions' >> beam.ParDo(self._list_partitions)
        | 'DistributePartitions' >> beam.Reshuffle()
        | 'ReadPartitions' >> (
            beam.ParDo(self._read_partitions).with_output_types(RawBatch)
            if self._emit_batches else  # sized by RawBatchCoder
            beam.ParDo(self._read_partitions)))
