"""Deduplicate on columns: (bucket, Part) -> (first-seen rows, exotic).

Same order_id = same event; keep the first seen (transforms/dedupe.py
states the rule for the record path). Every copy of an order hashes to one
bucket (tables.bucket_of), so a bucket decides alone:
- bounded: GroupByKey by bucket, then per bucket one row per order_id, the
  smallest k (k = source rank << 40 | position: the first copy in read
  order).
- streaming: a stateful DoFn per bucket remembers the ids it has passed,
  each until the watermark passes `forget_at_ms` (the record path's rule).
  State: `seen`, a bag of Arrow IPC chunks (order_id, forget_at_ms), one
  appended per element, so a write costs what the element added; `token`,
  a random value rewritten with every change of `seen`. The DoFn keeps the
  decoded ids of a bucket and its next compaction time in memory with the
  token it wrote last; when the stored token differs (another worker
  wrote, or the runner restored older state after a failure) both are read
  again from the store, so the copy in memory is only used when it is
  exactly the stored state (and an element costs one state read, the
  token's). A timer at the earliest forget time drops the forgotten ids
  and rewrites the bag.
Every dropped copy is counted (`duplicates`).
"""
from __future__ import annotations

import os
from typing import Any, Dict, Iterable, List, Optional, Tuple

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.coders import BytesCoder, VarIntCoder
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import (BagStateSpec,
                                              ReadModifyWriteStateSpec,
                                              TimerSpec, on_timer)

from transforms import metrics
from transforms.dedupe import DeduplicateOrders, forget_at_ms
from transforms.vectorized.tables import (Part, Rows, concat_parts,
                                          decode_part, table_from_bytes,
                                          table_to_bytes)


def keep_first_seen(table: pa.Table) -> Tuple[pa.Table, int]:
  """(one row per order_id with the smallest k, number of dropped copies),
  the rows in their order; k is unique per row (source rank, position)."""
  counts = table.group_by('order_id', use_threads=False).aggregate(
      [('k', 'min'), ('k', 'count')])
  if counts.num_rows == table.num_rows:
    return table, 0
  dups = counts.filter(pc.greater(counts['k_count'], 1))
  is_dup = pc.is_in(table['order_id'], value_set=dups['order_id']
                    ).to_numpy(zero_copy_only=False)
  copies = np.flatnonzero(is_dup)
  ids, ks = (pc.take(table[c], copies) for c in ('order_id', 'k'))
  first_k = pc.take(dups['k_min'],
                    pc.index_in(ids, value_set=dups['order_id']))
  keep = ~is_dup
  keep[copies[pc.equal(ks, first_k).to_numpy(zero_copy_only=False)]] = True
  return table.filter(pa.array(keep)), table.num_rows - counts.num_rows


@beam.typehints.with_output_types(Rows)  # tables.ArrowTableCoder
class KeepFirstOfBucketFn(beam.DoFn):
  """(bucket, [Part]) -> the bucket's first-seen rows (bounded runs)."""

  def __init__(self) -> None:
    self._duplicates = metrics.counter(metrics.DUPLICATES)

  def process(self, keyed: Tuple[int, Iterable[Part]]) -> Iterable[Rows]:
    _, parts = keyed
    table, exotic = concat_parts(decode_part(p) for p in parts)
    table, dropped = keep_first_seen(table)
    if dropped:
      self._duplicates.inc(dropped)
    yield table, exotic


def _ids_chunk(ids: List[str], forget_at: List[int]) -> bytes:
  return table_to_bytes(pa.table({'order_id': pa.array(ids, pa.string()),
                                  'forget_at_ms': pa.array(forget_at,
                                                           pa.int64())}),
                        compress=False)


class _CachedBucket:
  """A bucket's state as the DoFn holds it in memory: the token it was
  written with (None while it is being changed), the ids with their forget
  times (ms), and the next compaction time (ms, None if none is set)."""
  __slots__ = ('token', 'ids', 'next_ms')

  def __init__(self, token: Optional[bytes], ids: Dict[str, int],
               next_ms: Optional[int]) -> None:
    self.token, self.ids, self.next_ms = token, ids, next_ms


@beam.typehints.with_output_types(Rows)  # tables.ArrowTableCoder
class DedupeBucketFn(beam.DoFn):
  """(bucket, Part) -> first-seen rows within the TTL (streaming); see the
  module docstring for the state and its cache."""

  SEEN = BagStateSpec('seen', BytesCoder())
  TOKEN = ReadModifyWriteStateSpec('token', BytesCoder())
  NEXT_COMPACTION = ReadModifyWriteStateSpec('next_compaction', VarIntCoder())
  COMPACT = TimerSpec('compact', TimeDomain.WATERMARK)

  def __init__(self, ttl_seconds: float) -> None:
    self._ttl_ms = int(ttl_seconds * 1000)
    self._duplicates = metrics.counter(metrics.DUPLICATES)
    self._cache_misses = metrics.counter(metrics.DEDUPE_CACHE_REBUILDS)

  def setup(self) -> None:
    self._cache: Dict[Any, _CachedBucket] = {}

  def _cached(self, bucket, seen_state, token_state, next_state
              ) -> _CachedBucket:
    """The bucket's cache entry, read from the store unless the stored
    token is the one the entry was written with."""
    token = token_state.read()
    cached = self._cache.get(bucket)
    if cached is not None and cached.token == token:
      return cached
    ids: Dict[str, int] = {}
    if token is not None:
      self._cache_misses.inc()
      for chunk in seen_state.read():
        t = table_from_bytes(chunk)
        ids.update(zip(t['order_id'].to_pylist(),
                       t['forget_at_ms'].to_pylist()))
    entry = self._cache[bucket] = _CachedBucket(token, ids,
                                                 next_state.read())
    return entry

  def _stored(self, bucket, token_state) -> None:
    token = os.urandom(12)
    token_state.write(token)
    self._cache[bucket].token = token

  @staticmethod
  def _schedule(entry: _CachedBucket, due: int, compact, next_state
                ) -> None:
    """The bucket's next compaction at `due` (ms), stored and cached."""
    compact.set(due / 1000.0)
    next_state.write(due)
    entry.next_ms = due

  def process(self, keyed: Tuple[int, Part],
              seen_state=beam.DoFn.StateParam(SEEN),
              token_state=beam.DoFn.StateParam(TOKEN),
              next_state=beam.DoFn.StateParam(NEXT_COMPACTION),
              compact=beam.DoFn.TimerParam(COMPACT)) -> Iterable[Rows]:
    bucket, part = keyed
    table, exotic = decode_part(part)
    table, dropped = keep_first_seen(table)
    entry = self._cached(bucket, seen_state, token_state, next_state)
    seen = entry.ids
    ids = table['order_id'].to_pylist()
    fresh = np.fromiter((i not in seen for i in ids), bool, len(ids))
    dropped += len(ids) - int(fresh.sum())
    if dropped:
      self._duplicates.inc(dropped)
    if not fresh.all():
      table = table.filter(pa.array(fresh))
    if table.num_rows == 0:
      return
    new_ids = table['order_id'].to_pylist()
    # forget_at_ms is plain integer arithmetic: it takes an array as well.
    forget_at = forget_at_ms(table['event_ms'].to_numpy(),
                             self._ttl_ms).tolist()
    entry.token = None  # not the stored state until _stored()
    seen.update(zip(new_ids, forget_at))
    seen_state.add(_ids_chunk(new_ids, forget_at))
    due = min(forget_at)
    if entry.next_ms is None or due < entry.next_ms:
      self._schedule(entry, due, compact, next_state)
    self._stored(bucket, token_state)
    yield table, exotic

  @on_timer(COMPACT)
  def expire(self, key=beam.DoFn.KeyParam,
             fired=beam.DoFn.TimestampParam,
             seen_state=beam.DoFn.StateParam(SEEN),
             token_state=beam.DoFn.StateParam(TOKEN),
             next_state=beam.DoFn.StateParam(NEXT_COMPACTION),
             compact=beam.DoFn.TimerParam(COMPACT)) -> Iterable:
    now_ms = int(fired.micros // 1000)
    entry = self._cached(key, seen_state, token_state, next_state)
    kept = {i: f for i, f in entry.ids.items() if f > now_ms}
    entry.token = None  # not the stored state until _stored()
    seen_state.clear()
    next_state.clear()
    entry.ids, entry.next_ms = kept, None
    if kept:
      seen_state.add(_ids_chunk(list(kept), list(kept.values())))
      self._schedule(entry, min(kept.values()), compact, next_state)
    self._stored(key, token_state)
    return []


class DeduplicateBatches(DeduplicateOrders):
  """PCollection[(bucket, Part)] -> PCollection[Rows], one row per order_id:
  DeduplicateOrders' rule (exact when bounded, within the TTL when not) on
  buckets of rows."""

  def key(self, parts: beam.PCollection) -> beam.PCollection:
    # Already keyed by bucket; typed so that the runner codes bytes.
    return parts | 'AsParts' >> beam.Map(lambda kv: kv).with_output_types(
        Tuple[int, Tuple[bytes, bytes]])

  def keep_first_fn(self) -> beam.DoFn:
    return KeepFirstOfBucketFn()

  def ttl_fn(self) -> beam.DoFn:
    return DedupeBucketFn(self._ttl_seconds)
