"""The partitions to read: one ``PartitionSpec`` each, and its restriction.

ListPartitions runs once when the pipeline starts. It asks the broker for
the topic's partitions, the consumer group's committed offsets (the start;
a partition with no committed offset starts at ``start_offset``, default
``earliest``) and, in bounded mode, the end (high-watermark) offsets seen at
that moment.

A partition's restriction is an ``OffsetRange(start, stop)`` of Kafka
offsets: ``stop`` is the end offset seen at start (bounded mode) or
``UNBOUNDED_STOP`` (unbounded). Dynamic splits of an unbounded range are
refused (only checkpoints are accepted): splitting a partition's future
offsets in two would only create an idle reader.
"""
from __future__ import annotations

import logging
import time
from typing import Iterable, List, NamedTuple, Optional, Tuple

import apache_beam as beam
from apache_beam.io.restriction_trackers import OffsetRange

from transforms.kafka_client import KafkaConnection
from transforms.sources.kafka.client import retry_retriable
from transforms.sources.kafka.config import consumer_config
from transforms.sources.kafka.watermark import HOLDS
from transforms.sources.unbounded import UNBOUNDED_STOP
from transforms.sources.unbounded import UnboundedRestrictionProvider

_LOG = logging.getLogger(__name__)


class PartitionSpec(NamedTuple):
  """One partition to read: the element the splittable DoFn receives."""
  topic: str
  partition: int
  start_offset: int
  stop_offset: Optional[int]  # None = unbounded


class PartitionRestrictionProvider(UnboundedRestrictionProvider):
  """A partition's offsets from its start to its stop (or unbounded)."""
  def initial_restriction(self, element: PartitionSpec):
    stop = (
        UNBOUNDED_STOP if element.stop_offset is None else max(
            element.start_offset, element.stop_offset))
    return OffsetRange(element.start_offset, stop)


class PartitionQuery(NamedTuple):
  """Which partitions of which topic a source reads, and from where."""
  topic: str
  group_id: str
  bounded: bool
  start_offset: str  # 'earliest' or 'latest': where no offset is committed
  partitions: Optional[List[int]]  # None = every partition of the topic
  ignore_committed: bool = False  # a recovery replays the whole retention
  source_id: str = ''  # ties the source's partitions in WatermarkHolds


class ListPartitionsFn(beam.DoFn):
  """Impulse -> one PartitionSpec per partition (start/stop offsets)."""
  def __init__(self, connection: KafkaConnection, query: PartitionQuery,
               metadata_timeout_s: float):
    self._connection = connection
    self._query = query
    self._timeout = metadata_timeout_s

  def process(self, unused_impulse) -> Iterable[PartitionSpec]:
    from confluent_kafka import Consumer, TopicPartition
    topic = self._query.topic
    consumer = Consumer(consumer_config(self._connection, self._query.group_id))
    try:
      deadline = time.monotonic() + self._timeout
      parts = self._wait_for_partitions(consumer, deadline)
      committed = retry_retriable(
          lambda: consumer.committed(
              [TopicPartition(topic, p) for p in parts],
              timeout=self._timeout), deadline)
      for tp in committed:
        low, high = consumer.get_watermark_offsets(
            TopicPartition(topic, tp.partition), timeout=self._timeout)
        yield self._spec(tp.partition, tp.offset, low, high)
    finally:
      consumer.close()

  def _wait_for_partitions(self, consumer, deadline: float) -> List[int]:
    """The partitions to read, once the topic exists (until ``deadline``)."""
    while True:
      md = consumer.list_topics(self._query.topic, timeout=self._timeout)
      tmd = md.topics.get(self._query.topic)
      if tmd is not None and tmd.error is None and tmd.partitions:
        break
      if time.monotonic() >= deadline:
        raise RuntimeError(
            'Kafka topic %r not found at %s: %s' %
            (self._query.topic, self._connection.bootstrap_servers,
             tmd.error if tmd else 'missing'))
      time.sleep(0.5)
    parts = sorted(tmd.partitions)
    if self._query.partitions is not None:
      parts = [p for p in parts if p in set(self._query.partitions)]
    return parts

  def _start(self, committed: int, low: int, high: int) -> Tuple[int, str]:
    """Where a partition's read starts, and why."""
    if self._query.ignore_committed:
      return low, 'start of retention (recovery replay)'
    if committed >= 0:
      return min(max(committed, low), high), 'committed'
    if self._query.start_offset == 'latest':
      return high, 'latest'
    return low, 'earliest'

  def _spec(self, partition: int, committed: int, low: int,
            high: int) -> PartitionSpec:
    start, how = self._start(committed, low, high)
    stop = high if self._query.bounded else None
    _LOG.info(
        'Kafka %s[%d]: start at %d (%s), stop at %s', self._query.topic,
        partition, start, how, stop if stop is not None else 'never')
    if not self._query.bounded:
      HOLDS.register(self._query.source_id, (self._query.topic, partition))
    return PartitionSpec(self._query.topic, partition, start, stop)


def committed_partitions(bootstrap_servers: str, topic: str, group_id: str,
                         consumer_config_file: Optional[str] = None,
                         timeout_s: float = 15.0) -> List[int]:
  """The partitions of ``topic`` on which ``group_id`` has committed an
  offset: a job of that group has read (and finalized) records there
  before. An unknown topic has none."""
  from confluent_kafka import Consumer, TopicPartition
  consumer = Consumer(consumer_config(
      KafkaConnection(bootstrap_servers, properties_file=consumer_config_file),
      group_id))
  try:
    md = consumer.list_topics(topic, timeout=timeout_s)
    tmd = md.topics.get(topic)
    if tmd is None or tmd.error is not None or not tmd.partitions:
      return []
    deadline = time.monotonic() + timeout_s
    committed = retry_retriable(
        lambda: consumer.committed(
            [TopicPartition(topic, p) for p in sorted(tmd.partitions)],
            timeout=timeout_s), deadline)
    return [tp.partition for tp in committed if tp.offset >= 0]
  finally:
    consumer.close()
