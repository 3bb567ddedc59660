"""Sampling while the pipeline runs: the Sampler thread reads the SQLite
sink's order total every 25 ms and the consumer group's committed offsets
every 100 ms into timelines; sustained_rate, timeline and percentile turn
those timelines into the numbers the benchmark reports."""
from __future__ import annotations

import math
import os
import sqlite3
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

SAMPLE_S = 0.025
COMMIT_SAMPLE_EVERY = 4  # committed offsets every 4th sample (100 ms)


class Sampler(threading.Thread):
  """Samples the sink total and the committed offsets into a timeline."""

  def __init__(self, db_path: str, bootstrap: str, topic: str, group: str,
               partitions: int):
    super().__init__(daemon=True)
    self.db_path = db_path
    self.bootstrap = bootstrap
    self.topic = topic
    self.group = group
    self.partitions = partitions
    self.sink: List[Tuple[float, int]] = []        # (t, orders in sink)
    self.commits: List[Tuple[float, List[int]]] = []  # (t, offset per partition)
    self._halt = threading.Event()
    self._conn = None

  def sink_total(self) -> int:
    if self._conn is None:
      if not os.path.exists(self.db_path):
        return 0
      self._conn = sqlite3.connect(f'file:{self.db_path}?mode=ro', uri=True,
                                   timeout=1.0, check_same_thread=False)
    try:
      row = self._conn.execute(
          "SELECT COALESCE(SUM(orders), 0) FROM sales_by_category "
          "WHERE category = '__all__' AND customer_id = ''").fetchone()
      return int(row[0])
    except sqlite3.Error:
      return self.sink[-1][1] if self.sink else 0

  def run(self) -> None:
    from confluent_kafka import Consumer, TopicPartition
    consumer = Consumer({'bootstrap.servers': self.bootstrap,
                         'group.id': self.group,
                         'enable.auto.commit': False})
    tps = [TopicPartition(self.topic, p) for p in range(self.partitions)]
    i = 0
    try:
      while not self._halt.is_set():
        t = time.monotonic()
        self.sink.append((t, self.sink_total()))
        if i % COMMIT_SAMPLE_EVERY == 0:
          try:
            got = consumer.committed(tps, timeout=5)
            self.commits.append(
                (time.monotonic(), [max(tp.offset, 0) for tp in got]))
          except Exception:  # pylint: disable=broad-except
            pass
        i += 1
        self._halt.wait(max(0.0, SAMPLE_S - (time.monotonic() - t)))
    finally:
      consumer.close()
      if self._conn is not None:
        self._conn.close()

  def stop(self) -> None:
    self._halt.set()
    self.join(10)

  def latest_sink(self) -> int:
    return self.sink[-1][1] if self.sink else 0

  def latest_committed(self) -> int:
    return sum(self.commits[-1][1]) if self.commits else 0


def sustained_rate(samples: List[Tuple[float, int]], start_t: Optional[float],
                   end_value: int) -> Dict[str, Any]:
  """``end_value`` events over the time from ``start_t`` (the last sample
  before the first offset commit, i.e. before the first record was
  consumed, conservatively) to the first sample at or above ``end_value``."""
  last = next(((t, v) for t, v in samples if v >= end_value), None)
  if start_t is None or last is None or last[0] <= start_t:
    return {'events_per_s': None, 'seconds': None}
  seconds = last[0] - start_t
  return {'events_per_s': round(end_value / seconds),
          'seconds': round(seconds, 2), 'events': end_value}


def timeline(sampler: 'Sampler', launched: float, end: float,
             step_s: float = 1.0) -> List[Tuple[float, int, int]]:
  """(seconds after launch, committed offsets, sink orders) every step_s."""
  out = []
  commits = list(sampler.commits)
  sink = list(sampler.sink)
  t = launched
  ci = si = 0
  c = v = 0
  while t <= end + step_s:
    while ci < len(commits) and commits[ci][0] <= t:
      c = sum(commits[ci][1])
      ci += 1
    while si < len(sink) and sink[si][0] <= t:
      v = sink[si][1]
      si += 1
    out.append((round(t - launched, 1), c, v))
    t += step_s
  return out


def percentile(values: List[float], q: float) -> Optional[float]:
  if not values:
    return None
  ordered = sorted(values)
  k = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
  return ordered[k]
