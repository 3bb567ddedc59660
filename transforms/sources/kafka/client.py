"""Calls on a confluent-kafka consumer, and what its messages say."""
from __future__ import annotations

import logging
import time
from typing import List, Optional

_LOG = logging.getLogger(__name__)


def retry_retriable(fn, deadline: float):
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


def is_record(msg, topic: str, partition: int) -> bool:
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


def consume(consumer, num_messages: int, timeout_s: float) -> list:
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


def kafka_timestamp_ms(msg) -> Optional[int]:
  """The record's Kafka timestamp in epoch ms, or None."""
  return kafka_timestamps_ms([msg])[0]


def kafka_timestamps_ms(msgs: list) -> List[Optional[int]]:
  """Each record's Kafka timestamp in epoch ms, or None."""
  from confluent_kafka import TIMESTAMP_NOT_AVAILABLE
  out: List[Optional[int]] = []
  for ts_type, ts in (msg.timestamp() for msg in msgs):
    out.append(None if ts_type == TIMESTAMP_NOT_AVAILABLE or ts is None or
               ts < 0 else ts)
  return out


def reached(consumer, topic: str, partition: int, next_offset: Optional[int],
            stop: int) -> bool:
  """Whether the consumer has moved to (or past) the stop offset; control
  records (transactions) have offsets but no message."""
  from confluent_kafka import TopicPartition
  pos = consumer.position([TopicPartition(topic, partition)])[0].offset
  return max(pos, next_offset or -1) >= stop


def has_backlog(consumer, topic: str, partition: int,
                next_offset: Optional[int]) -> bool:
  """Whether the broker (as last seen) holds records beyond next_offset."""
  from confluent_kafka import TopicPartition
  try:
    _, high = consumer.get_watermark_offsets(
        TopicPartition(topic, partition), cached=True)
    return high is not None and high >= 0 and (next_offset or 0) < high
  except Exception:  # pylint: disable=broad-except
    return False
