"""The positioned consumers of a source, shared by a worker's reads.

A runner may hand consecutive reads of one partition to different
instances of the reading DoFn: the Python SDK keeps a bundle's DoFns
aside until the runner finalizes the bundle, and Flink finalizes only when
a checkpoint completes, so each bundle in between gets fresh instances.
A consumer per DoFn instance was then at the wrong offset (or new) for
nearly every read: re-assigned, its first poll came back empty, the read
counted as idle, and a partition moved on only after a checkpoint.

So the consumers live here, one pool per source and worker process: a
read checks out the consumer positioned where it starts (its prefetched
records are ready), or any idle one (re-assigned), or a new one, and
checks it in when it ends. The pool also commits the finalized offsets,
forward only, with one committing client. ``POOLS`` is the process's one
table of pools (as ``watermark.HOLDS``), counted by the DoFn instances
that use each: the last ``release`` closes its consumers.
"""
from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any, Dict, Iterator, List, Optional, Tuple

_LOG = logging.getLogger(__name__)


class PartitionConsumer:
  """A partition's consumer and the next offset it will deliver."""
  __slots__ = ('consumer', 'next_offset')

  def __init__(self, consumer):
    self.consumer = consumer
    self.next_offset: Optional[int] = None


class ConsumerPool:
  """One source's idle consumers by partition, and its offset commits."""

  def __init__(self, conf: Dict[str, Any]):
    self._conf = conf
    self._lock = threading.Lock()
    self._idle: Dict[Tuple[str, int], List[PartitionConsumer]] = {}
    self._committed: Dict[Tuple[str, int], int] = {}
    self._committer = None
    self._closed = False

  def _take(self, key: Tuple[str, int], offset: int
            ) -> Optional[PartitionConsumer]:
    """The idle consumer positioned at ``offset``, else any idle one."""
    with self._lock:
      idle = self._idle.get(key) or []
      for i, entry in enumerate(idle):
        if entry.next_offset == offset:
          return idle.pop(i)
      return idle.pop() if idle else None

  @contextlib.contextmanager
  def checkout(self, topic: str, partition: int,
               offset: int) -> Iterator[PartitionConsumer]:
    """A consumer of the partition that delivers ``offset`` next, for one
    read; back in the pool when the read ends, however it ends (its
    ``next_offset`` says where it stands)."""
    from confluent_kafka import Consumer, TopicPartition
    key = (topic, partition)
    entry = self._take(key, offset)
    if entry is None:
      entry = PartitionConsumer(Consumer(self._conf))
    try:
      if entry.next_offset != offset:
        entry.consumer.assign([TopicPartition(topic, partition, offset)])
        entry.next_offset = offset
      yield entry
    finally:
      with self._lock:
        if not self._closed:
          self._idle.setdefault(key, []).append(entry)
          entry = None
      if entry is not None:
        _close(entry.consumer)

  def commit(self, topic: str, partition: int, offset: int) -> None:
    """Commits ``offset`` (the next to read) for the consumer group, unless
    a later one is committed already. Best effort, like any finalization:
    a later bundle commits a later offset, and a restart re-reads at most
    the uncommitted records."""
    from confluent_kafka import Consumer, TopicPartition
    key = (topic, partition)
    with self._lock:
      if self._closed or self._committed.get(key, -1) >= offset:
        return
      try:
        if self._committer is None:
          self._committer = Consumer(self._conf)
        self._committer.commit(
            offsets=[TopicPartition(topic, partition, offset)],
            asynchronous=False)
        self._committed[key] = offset
      except Exception:  # pylint: disable=broad-except
        _LOG.warning('Committing %s[%d]@%d failed', topic, partition, offset,
                     exc_info=True)

  def close(self) -> None:
    with self._lock:
      self._closed = True
      consumers = [e.consumer for idle in self._idle.values() for e in idle]
      consumers.append(self._committer)
      self._idle, self._committer = {}, None
    for consumer in consumers:
      if consumer is not None:
        _close(consumer)


def _close(consumer) -> None:
  with contextlib.suppress(Exception):  # best effort, shutting down
    consumer.close()


class ConsumerPools:
  """The worker process's pools, by source, counted by their users."""

  def __init__(self) -> None:
    self._lock = threading.Lock()
    self._pools: Dict[tuple, Tuple[ConsumerPool, int]] = {}

  def acquire(self, key: tuple, conf: Dict[str, Any]) -> ConsumerPool:
    """The pool of the source ``key`` (made with ``conf`` if new)."""
    with self._lock:
      pool, users = self._pools.get(key, (None, 0))
      if pool is None:
        pool = ConsumerPool(conf)
      self._pools[key] = (pool, users + 1)
      return pool

  def release(self, key: tuple) -> None:
    """One user less; the last one closes the pool."""
    with self._lock:
      pool, users = self._pools.get(key, (None, 0))
      if pool is None:
        return
      if users > 1:
        self._pools[key] = (pool, users - 1)
        return
      del self._pools[key]
    pool.close()


POOLS = ConsumerPools()
