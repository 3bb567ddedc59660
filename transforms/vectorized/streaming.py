"""The vectorized (Arrow) streaming graph: the same rules on Kafka batches.

    Kafka (RawBatch: one partition read per element)
      -> check the batch (Arrow): dead letters, and the late rule on every
         record against the source watermark it was read at
      -> (bucket = hash(order_id) % B, valid rows as Arrow IPC)
      -> stateful dedupe per bucket (ids seen within the TTL)
         + pre-aggregation per time unit (partials)
      -> ApplyWindowPolicy (the record path's windows and triggers)
      -> CombinePerKey(merge partials) -> the record path's row emitter

Every rule is the record path's (transforms/parse.py, lateness.py,
dedupe.py, currency.py, enrich.py, aggregate.py) applied to columns; the
windows, triggers, panes and rows are the record path's own transforms
applied to partial aggregates, so a run converges to the same rows
(tests/integration/test_stream_equals_batch.py runs both engines).

Dedupe state per bucket (instead of one key per order_id, whose state
round-trip per record is what limits the record path; see benchmarks):
- `seen`: a bag of Arrow IPC chunks (order_id, expiry_ms); one chunk is
  appended per element, so a write costs what the element added.
- `token`: a random value rewritten with every change of `seen`. The DoFn
  keeps the decoded ids of a bucket in memory together with the token it
  wrote last; when the stored token differs (another worker wrote, or the
  runner restored older state after a failure), the cache is rebuilt from
  the bag. So the in-memory copy is only ever used when it is exactly the
  stored state, and each element costs one small state read instead of the
  whole bag.
- An event-time timer at the earliest expiry, rounded up to a grid of
  TTL/16, drops the expired ids and rewrites the bag as one chunk. An id
  is therefore remembered for at least the TTL and at most TTL + TTL/16
  (the record path: exactly the TTL); within a batch of one partition the
  first offset is the first seen.
"""
from __future__ import annotations

import os
import pickle
from typing import Any, Dict, Iterable, List, Tuple

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam.coders import BytesCoder, VarIntCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import (BagStateSpec,
                                              ReadModifyWriteStateSpec,
                                              TimerSpec, on_timer)

from pipelines.options import SalesConfig
from pipelines.sales import with_sinks
from transforms.currency import ReadFxRates
from transforms.dedupe import DEFAULT_TTL_SECONDS
from transforms.enrich import RefreshingCatalog
from transforms.lateness import LATE_REASON
from transforms.parse import DEAD_LETTERS, METRICS_NAMESPACE, payload_text
from transforms.records import DeadLetter, RawBatch
from transforms.vectorized.aggregate import keep_first_seen
from transforms.vectorized.columns import (_SLOW, POSITION_BITS, check_chunk,
                                           check_jsonl_bytes)
from transforms.vectorized.graph import (AggregatePartials, CheckRowsFn,
                                         bucket_parts,
                                         table_from_bytes, table_to_bytes,
                                         unit_partials)
from transforms.windowing import FIXED, SESSIONS, SLIDING


DEFAULT_STREAM_BUCKETS = 4
_INDEX_MASK = (1 << POSITION_BITS) - 1


def arrow_streaming_applies(config: SalesConfig) -> bool:
  """Whether `--engine arrow` runs this configuration vectorized in
  streaming: an unbounded Kafka read with event time from the payload."""
  return (config.engine == 'arrow' and not config.bounded and
          config.source == 'kafka' and not config.kafka_bounded and
          config.event_time_from == 'payload')


def expiry_ms(policy, event_ms: np.ndarray) -> np.ndarray:
  """policy.earliest_expiry_ms for an array of event times (int64 ms).

  Computed as Beam does it, on the microseconds of the element's timestamp
  `event_ms / 1000.0` (truncated, as apache_beam.utils.timestamp does), so
  that even a session's end agrees to the millisecond."""
  t = np.asarray(event_ms, np.int64)
  us = (t / 1000.0 * 1000000).astype(np.int64)
  if policy.kind == FIXED:
    size = policy.size_seconds * 1000000
    end = us - np.mod(us, size) + size
  elif policy.kind == SLIDING:
    size = policy.size_seconds * 1000000
    period = policy.period_seconds * 1000000
    start = us - np.mod(us, period)  # the latest window holding t
    steps = (start - us + size - 1) // period  # back to the earliest one
    end = start - steps * period + size
  elif policy.kind == SESSIONS:
    end = us + policy.gap_seconds * 1000000
  else:
    raise ValueError(policy.kind)
  return end // 1000 + policy.effective_lateness_seconds() * 1000


# --- 1. check a batch ------------------------------------------------------


class _CheckBatchFn(CheckRowsFn):
  """RawBatch -> DeadLetters (tagged) and (bucket, (rows IPC, exotic))."""

  def __init__(self, policy, buckets: int) -> None:
    super().__init__(buckets)
    self._policy = policy

  def _check(self, batch: RawBatch):
    """Validates the batch; positions in the result are batch indexes."""
    n = len(batch.payloads)
    data = b'\n'.join(batch.payloads)
    if data.count(b'\n') == n - 1:
      checked = check_jsonl_bytes(data + b'\n', 0, batch.source, 0,
                                  self._rates, self._schema)
      if checked.read == n:
        return checked
    # A payload with a newline, or a blank one (which a file would skip):
    # every record through the record path's decoder.
    return check_chunk([_SLOW] * n, list(range(n)), batch.payloads,
                       batch.source, 0, self._rates, self._schema)

  def process(self, batch: RawBatch, fx_rates: Dict) -> Iterable:
    self._prepare(fx_rates)
    checked = self._check(batch)
    self._read.inc(checked.read)
    offsets = np.asarray(batch.offsets, np.int64)
    reasons: Dict[str, int] = {}
    for letter in checked.dead:
      reasons[letter.reason] = reasons.get(letter.reason, 0) + 1
      yield beam.pvalue.TaggedOutput(DEAD_LETTERS, letter._replace(
          partition=batch.partition, position=int(offsets[letter.position])))
    table = checked.table
    if table.num_rows:
      index = table['k'].to_numpy() & _INDEX_MASK
      watermarks = np.array(
          [-1 if w is None else w for w in batch.watermarks_ms], np.int64)
      row_wm = watermarks[index]
      expiry = expiry_ms(self._policy, table['event_ms'].to_numpy())
      late = (row_wm >= 0) & (expiry <= row_wm)
      for i in np.flatnonzero(late).tolist():
        j = int(index[i])
        reasons[LATE_REASON] = reasons.get(LATE_REASON, 0) + 1
        yield beam.pvalue.TaggedOutput(DEAD_LETTERS, DeadLetter(
            reason=LATE_REASON,
            detail=(f'window closed at {int(expiry[i])} ms; source watermark '
                    f'was {int(row_wm[i])} ms'),
            payload=payload_text(batch.payloads[j]), source=batch.source,
            partition=batch.partition, position=int(offsets[j])))
      if late.any():
        table = table.filter(pa.array(~late))
        index = index[~late]
      # k: the Kafka offset, so that keep_first_seen keeps the first offset.
      table = table.set_column(table.schema.get_field_index('k'), 'k',
                               pa.array(offsets[index], pa.int64()))
    for reason, count in reasons.items():
      Metrics.counter(METRICS_NAMESPACE, f'dead_letter:{reason}').inc(count)
    self._valid.inc(table.num_rows)
    for bucket, part, exotic in bucket_parts(table, checked.exotic,
                                             self._buckets):
      yield bucket, (table_to_bytes(part, compress=False),
                     pickle.dumps(exotic) if exotic else b'')


# --- 2. dedupe per bucket and pre-aggregate -----------------------------------


def _ids_chunk(ids: List[str], expiries: List[int]) -> bytes:
  return table_to_bytes(pa.table({'order_id': pa.array(ids, pa.string()),
                                  'expiry_ms': pa.array(expiries, pa.int64())}),
                        compress=False)


class _DedupeBucketFn(beam.DoFn):
  """(bucket, (rows, exotic)) -> first-seen rows as (scope, partial) per
  time unit; see the module docstring for the state and its cache."""

  SEEN = BagStateSpec('seen', BytesCoder())
  TOKEN = ReadModifyWriteStateSpec('token', BytesCoder())
  NEXT_COMPACTION = ReadModifyWriteStateSpec('next_compaction', VarIntCoder())
  COMPACT = TimerSpec('compact', TimeDomain.WATERMARK)

  def __init__(self, policy, ttl_seconds: float, catalog_path: str,
               catalog_refresh_seconds: float) -> None:
    self._policy = policy
    self._ttl_ms = int(ttl_seconds * 1000)
    self._grid_ms = max(1000, self._ttl_ms // 16)
    self._catalog_path = catalog_path
    self._catalog_refresh = catalog_refresh_seconds
    self._duplicates = Metrics.counter(METRICS_NAMESPACE, 'duplicates')
    self._cache_misses = Metrics.counter(METRICS_NAMESPACE,
                                         'dedupe_cache_rebuilds')

  def setup(self) -> None:
    self._catalog_source = RefreshingCatalog(self._catalog_path,
                                             self._catalog_refresh)
    # bucket -> [token, {order_id: expiry_ms}]
    self._cache: Dict[Any, List[Any]] = {}

  def start_bundle(self) -> None:
    self._catalog = self._catalog_source.refresh()

  def _seen(self, bucket, seen_state, token_state) -> Dict[str, int]:
    token = token_state.read()
    cached = self._cache.get(bucket)
    if cached is not None and cached[0] == token:
      return cached[1]
    ids: Dict[str, int] = {}
    if token is not None:
      self._cache_misses.inc()
      for chunk in seen_state.read():
        t = table_from_bytes(chunk)
        ids.update(zip(t['order_id'].to_pylist(), t['expiry_ms'].to_pylist()))
    self._cache[bucket] = [token, ids]
    return ids

  def _stored(self, bucket, token_state) -> None:
    token = os.urandom(12)
    token_state.write(token)
    self._cache[bucket][0] = token

  def process(self, keyed: Tuple[int, Tuple[bytes, bytes]],
              seen_state=beam.DoFn.StateParam(SEEN),
              token_state=beam.DoFn.StateParam(TOKEN),
              next_state=beam.DoFn.StateParam(NEXT_COMPACTION),
              compact=beam.DoFn.TimerParam(COMPACT)) -> Iterable:
    bucket, (data, exotic_bytes) = keyed
    table = table_from_bytes(data)
    exotic = pickle.loads(exotic_bytes) if exotic_bytes else []
    table, dropped = keep_first_seen(table)
    seen = self._seen(bucket, seen_state, token_state)
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
    expiries = (table['event_ms'].to_numpy() + self._ttl_ms).tolist()
    self._cache[bucket][0] = None  # not the stored state until _stored()
    seen.update(zip(new_ids, expiries))
    seen_state.add(_ids_chunk(new_ids, expiries))
    self._stored(bucket, token_state)
    due = self._due(min(expiries))
    scheduled = next_state.read()
    if scheduled is None or due < scheduled:
      compact.set(due / 1000.0)
      next_state.write(due)
    yield from unit_partials(table, exotic, self._catalog, self._policy)

  def _due(self, expiry: int) -> int:
    return -(-expiry // self._grid_ms) * self._grid_ms

  @on_timer(COMPACT)
  def expire(self, key=beam.DoFn.KeyParam,
             fired=beam.DoFn.TimestampParam,
             seen_state=beam.DoFn.StateParam(SEEN),
             token_state=beam.DoFn.StateParam(TOKEN),
             next_state=beam.DoFn.StateParam(NEXT_COMPACTION),
             compact=beam.DoFn.TimerParam(COMPACT)) -> Iterable:
    now_ms = int(fired.micros // 1000)
    seen = self._seen(key, seen_state, token_state)
    kept = {i: e for i, e in seen.items() if e > now_ms}
    self._cache[key][0] = None  # not the stored state until _stored()
    seen_state.clear()
    next_state.clear()
    self._cache[key][1] = kept
    if kept:
      seen_state.add(_ids_chunk(list(kept), list(kept.values())))
      due = self._due(min(kept.values()))
      compact.set(due / 1000.0)
      next_state.write(due)
    self._stored(key, token_state)
    return []


# --- the graph -------------------------------------------------------------------


def build_vectorized_streaming_graph(
    pipeline: beam.Pipeline, config: SalesConfig, source: beam.PTransform,
    sinks=(), buckets: int = DEFAULT_STREAM_BUCKETS
) -> Dict[str, beam.PCollection]:
  """Same outputs as pipelines.sales.build_sales_graph; `source` must emit
  RawBatch elements (ReadFromKafkaNative(emit_batches=True))."""
  policy = config.window
  fx_rates = beam.pvalue.AsDict(
      pipeline | 'ReadFxRates' >> ReadFxRates(config.fx_rates))
  checked = (
      pipeline
      | 'ReadOrders' >> source
      | 'CheckBatches' >> beam.ParDo(
          _CheckBatchFn(policy, buckets), fx_rates=fx_rates).with_outputs(
              DEAD_LETTERS, main='valid'))
  ttl = config.dedupe_ttl_seconds or DEFAULT_TTL_SECONDS
  aggregates = (
      checked['valid']
      | 'AsBytes' >> beam.Map(lambda kv: kv).with_output_types(
          Tuple[int, Tuple[bytes, bytes]])
      | 'DedupeAndPreAggregate' >> beam.ParDo(_DedupeBucketFn(
          policy, ttl, config.catalog, config.catalog_refresh_seconds))
      | 'AggregatePartials' >> AggregatePartials(policy, config.top_n,
                                                 bounded=False))
  return with_sinks(aggregates, checked[DEAD_LETTERS], sinks)
