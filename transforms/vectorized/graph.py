"""The vectorized (Arrow) batch graph, a drop-in for build_sales_graph.

    files -> plan chunks -> Reshuffle -> parse+validate chunk (Arrow)
          -> dead letters (DeadLetter, as the record path)
          -> (bucket = hash(order_id) % B, table) -> GroupByKey
          -> keep first seen + pre-aggregate (pyarrow group_by)
          -> (scope, SalesSummary partial) stamped at its time unit
          -> ApplyWindowPolicy -> CombinePerKey(merge) -> the record path's
             row emitter -> results, top_products

Windowing, triggers and row emission are the record path's own transforms,
applied to partial aggregates; so a bounded run yields exactly the record
path's rows. Unbounded runs and non-file sources use the record path.
"""
from __future__ import annotations

import gzip
import io
from typing import Any, Dict, Iterable, List, Sequence, Tuple

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.transforms import window

from pipelines.options import SalesConfig
from transforms.aggregate import (RESULTS, TOP_PRODUCTS, SalesSummary,
                                  _EmitRowsFn)
from transforms.currency import ReadFxRates
from transforms.enrich import load_catalog
from transforms.parse import DEAD_LETTERS, METRICS_NAMESPACE
from transforms.sources.files import (_READERS, JSONL, detect_format,
                                      expand_patterns)
from transforms.vectorized.aggregate import (keep_first_seen,
                                             partial_summaries, split_buckets)
from transforms.vectorized.columns import (check_chunk, check_jsonl,
                                           prepare_rates, valid_schema)
from transforms.windowing import ApplyWindowPolicy

DEFAULT_CHUNK_BYTES = 8 << 20
DEFAULT_BUCKETS = 4
RECORD_BATCH = 65536


def _open(path: str):
  return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


class _PlanChunksFn(beam.DoFn):
  """(rank, path) -> chunk descriptors: newline-aligned byte ranges of a JSON
  Lines file with the line number of their first line; gzip files are
  decompressed here and emitted as bytes; other formats as one whole file."""

  def __init__(self, input_format: str, chunk_bytes: int) -> None:
    self._input_format = input_format
    self._chunk_bytes = chunk_bytes

  def process(self, ranked: Tuple[int, str]) -> Iterable[Tuple]:
    rank, path = ranked
    fmt = self._input_format or detect_format(path)
    if fmt != JSONL:
      yield ('file', path, rank, fmt)
      return
    gz = path.lower().endswith('.gz')
    with _open(path) as raw:
      stream = gzip.GzipFile(fileobj=raw) if gz else raw
      offset, line, carry = 0, 1, b''
      while True:
        block = stream.read(self._chunk_bytes)
        data = carry + block
        if not block:
          if data:
            yield self._chunk(gz, path, rank, offset, data, line)
          return
        cut = data.rfind(b'\n') + 1
        if cut == 0:
          carry = data
          continue
        chunk, carry = data[:cut], data[cut:]
        yield self._chunk(gz, path, rank, offset, chunk, line)
        offset += len(chunk)
        line += chunk.count(b'\n')

  @staticmethod
  def _chunk(gz: bool, path: str, rank: int, offset: int, data: bytes,
             line: int) -> Tuple:
    if gz:
      return ('bytes', path, rank, data, line)
    return ('range', path, rank, (offset, len(data)), line)


class _CheckChunkFn(beam.DoFn):
  """A chunk -> DeadLetters (tagged) and (bucket, (valid table, exotic))."""

  def __init__(self, buckets: int) -> None:
    self._buckets = buckets
    self._read = Metrics.counter(METRICS_NAMESPACE, 'records_read')
    self._valid = Metrics.counter(METRICS_NAMESPACE, 'records_parsed_valid')
    self._rates_key = None
    self._rates = None

  def _prepare(self, fx_rates: Dict) -> None:
    key = tuple(sorted(fx_rates.items()))
    if key != self._rates_key:
      self._rates = prepare_rates(dict(fx_rates))
      self._schema = valid_schema(self._rates)
      self._rates_key = key

  def process(self, chunk: Tuple, fx_rates: Dict) -> Iterable:
    self._prepare(fx_rates)
    kind, path, rank = chunk[0], chunk[1], chunk[2]
    if kind == 'range':
      (offset, length), line = chunk[3], chunk[4]
      with _open(path) as f:
        f.seek(offset)
        data = f.read(length)
      yield from self._emit(check_jsonl(data, line, path, rank, self._rates,
                                        self._schema))
    elif kind == 'bytes':
      yield from self._emit(check_jsonl(chunk[3], chunk[4], path, rank,
                                        self._rates, self._schema))
    else:
      yield from self._file(path, rank, chunk[3])

  def _file(self, path: str, rank: int, fmt: str) -> Iterable:
    with _open(path) as f:
      stream = gzip.GzipFile(fileobj=f) if path.lower().endswith('.gz') else f
      batch: List[Any] = []
      for record in _READERS[fmt](path, stream):
        batch.append(record)
        if len(batch) >= RECORD_BATCH:
          yield from self._records(batch, path, rank)
          batch = []
      if batch:
        yield from self._records(batch, path, rank)

  def _records(self, records: Sequence, path: str, rank: int) -> Iterable:
    errors = {i: r.decode_error for i, r in enumerate(records)
              if r.decode_error is not None}
    objs = [None if r.decode_error is not None else r.payload
            for r in records]
    checked = check_chunk(objs, [r.position for r in records],
                          [r.payload for r in records], path, rank,
                          self._rates, self._schema, errors)
    yield from self._emit(checked)

  def _emit(self, checked) -> Iterable:
    self._read.inc(checked.read)
    self._valid.inc(checked.table.num_rows)
    reasons: Dict[str, int] = {}
    for letter in checked.dead:
      reasons[letter.reason] = reasons.get(letter.reason, 0) + 1
      yield beam.pvalue.TaggedOutput(DEAD_LETTERS, letter)
    for reason, count in reasons.items():
      Metrics.counter(METRICS_NAMESPACE, f'dead_letter:{reason}').inc(count)
    for bucket, part in split_buckets(checked.table, self._buckets):
      if checked.exotic:
        used = sorted(set(pc.drop_null(part['exotic']).to_pylist()))
        remap = {old: new for new, old in enumerate(used)}
        exotic = [checked.exotic[i] for i in used]
        part = part.set_column(
            part.schema.get_field_index('exotic'), 'exotic',
            pa.array([None if i is None else remap[i]
                      for i in part['exotic'].to_pylist()], pa.int32()))
      else:
        exotic = []
      yield bucket, (part, exotic)


class _DedupeAndSummarizeFn(beam.DoFn):
  """(bucket, [(table, exotic)]) -> (scope, SalesSummary) per time unit."""

  def __init__(self, policy) -> None:
    self._policy = policy
    self._duplicates = Metrics.counter(METRICS_NAMESPACE, 'duplicates')

  def process(self, keyed: Tuple[int, Iterable], catalog: Dict) -> Iterable:
    _, parts = keyed
    tables, exotic = [], []
    for table, extra in parts:
      if extra:
        table = table.set_column(
            table.schema.get_field_index('exotic'), 'exotic',
            pc.add(table['exotic'], pa.scalar(len(exotic), pa.int32())))
        exotic.extend(extra)
      tables.append(table)
    table = pa.concat_tables(tables).combine_chunks()
    table, dropped = keep_first_seen(table)
    if dropped:
      self._duplicates.inc(dropped)
    for unit, scope, summary in partial_summaries(table, exotic, catalog,
                                                  self._policy):
      yield window.TimestampedValue((scope, summary), unit / 1000.0)


class MergeSummariesFn(beam.CombineFn):
  """Merges partial SalesSummary objects (the accumulator is one, too)."""

  def create_accumulator(self) -> SalesSummary:
    return SalesSummary()

  def add_input(self, acc: SalesSummary, summary: SalesSummary
                ) -> SalesSummary:
    acc.merge(summary)
    return acc

  def merge_accumulators(self, accs: Iterable[SalesSummary]) -> SalesSummary:
    merged = SalesSummary()
    for acc in accs:
      merged.merge(acc)
    return merged

  def extract_output(self, acc: SalesSummary) -> SalesSummary:
    return acc


class ReadCheckedChunks(beam.PTransform):
  """PBegin -> {'valid': (bucket, (table, exotic)), 'dead_letters': ...}."""

  def __init__(self, paths: List[str], input_format: str, fx_rates,
               buckets: int, chunk_bytes: int) -> None:
    super().__init__()
    self._paths = paths
    self._input_format = input_format
    self._fx_rates = fx_rates
    self._buckets = buckets
    self._chunk_bytes = chunk_bytes

  def expand(self, pbegin):
    return (
        pbegin
        | 'RankedPaths' >> beam.Create(list(enumerate(self._paths)))
        | 'PlanChunks' >> beam.ParDo(
            _PlanChunksFn(self._input_format, self._chunk_bytes))
        | 'SpreadChunks' >> beam.Reshuffle()
        | 'CheckChunks' >> beam.ParDo(
            _CheckChunkFn(self._buckets), fx_rates=self._fx_rates
        ).with_outputs(DEAD_LETTERS, main='valid'))


def build_vectorized_graph(pipeline: beam.Pipeline, config: SalesConfig,
                           source: beam.PTransform,
                           sinks: Sequence[Tuple[str, beam.PTransform]] = (),
                           buckets: int = DEFAULT_BUCKETS,
                           chunk_bytes: int = DEFAULT_CHUNK_BYTES
                           ) -> Dict[str, beam.PCollection]:
  """Same signature and outputs as pipelines.sales.build_sales_graph."""
  if config.source != 'files' or not config.bounded or (
      config.event_time_from != 'payload'):
    from pipelines.sales import build_sales_graph
    return build_sales_graph(pipeline, config, source, sinks)
  policy = config.window
  fx_rates = beam.pvalue.AsDict(
      pipeline | 'ReadFxRates' >> ReadFxRates(config.fx_rates))
  catalog = beam.pvalue.AsSingleton(
      pipeline
      | 'CatalogPath' >> beam.Create([config.catalog])
      | 'LoadCatalog' >> beam.Map(load_catalog))
  paths = expand_patterns(config.inputs)
  checked = pipeline | 'ReadAndCheck' >> ReadCheckedChunks(
      paths, config.input_format, fx_rates, buckets, chunk_bytes)
  aggregates = (
      checked['valid']
      | 'ShuffleByOrderId' >> beam.GroupByKey()
      | 'DedupeAndPreAggregate' >> beam.ParDo(
          _DedupeAndSummarizeFn(policy), catalog=catalog)
      | 'ApplyWindowPolicy' >> ApplyWindowPolicy(policy)
      | 'MergeSummaries' >> beam.CombinePerKey(MergeSummariesFn())
      | 'EmitRows' >> beam.ParDo(_EmitRowsFn(config.top_n)).with_outputs(
          TOP_PRODUCTS, main=RESULTS))
  outputs = {
      RESULTS: aggregates[RESULTS],
      TOP_PRODUCTS: aggregates[TOP_PRODUCTS],
      DEAD_LETTERS: checked[DEAD_LETTERS],
  }
  for name, sink in sinks:
    outputs | name >> sink  # pylint: disable=expression-not-assigned
  return outputs
