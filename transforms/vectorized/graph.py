"""The vectorized (Arrow) batch graph, a drop-in for build_sales_graph.

    files -> plan chunks -> Reshuffle -> parse+validate chunk (Arrow)
          -> dead letters (DeadLetter, as the record path)
          -> (bucket = hash(order_id) % B, valid rows as Arrow IPC bytes, or
              the name of a spill file holding them) -> GroupByKey
          -> keep first seen + pre-aggregate (pyarrow group_by)
          -> (scope, partial) stamped at its time unit: for fixed and
             sliding windows a Partial (three small IPC tables), for
             sessions and exotic rows a SalesSummary
          -> ApplyWindowPolicy -> CombinePerKey(merge) -> the record path's
             row emitter -> results, top_products

Windowing, triggers and row emission are the record path's own transforms,
applied to partial aggregates; so a bounded run yields exactly the record
path's rows. Unbounded Kafka reads run the streaming variant
(transforms/vectorized/streaming.py); other sources use the record path.

What crosses a shuffle is bytes with a bytes coder, never pickled Arrow
tables (a pickled slice carries its parent's whole buffers). B grows with
the input (BYTES_PER_BUCKET), and with an in-process runner (whose shuffle
is held in memory) the valid rows go through local spill files, so that the
peak memory does not grow with the input's size.
"""
from __future__ import annotations

import pickle
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.transforms import window

from pipelines.options import SalesConfig
from pipelines.sales import build_sales_graph, with_sinks
from transforms.aggregate import (RESULTS, TOP_PRODUCTS, SalesSummary,
                                  _EmitRowsFn)
from transforms.currency import ReadFxRates
from transforms.enrich import load_catalog
from transforms.parse import DEAD_LETTERS, METRICS_NAMESPACE
from transforms.sources.files import (JSONL, detect_format, expand_patterns,
                                      open_decompressed, read_error,
                                      read_file_records)
from transforms.vectorized.aggregate import (keep_first_seen,
                                             partial_summaries, partial_tables,
                                             split_buckets,
                                             summary_of_partials)
from transforms.vectorized.columns import (check_chunk, check_jsonl,
                                           prepare_rates, valid_schema)
from transforms.windowing import SESSIONS, ApplyWindowPolicy

DEFAULT_CHUNK_BYTES = 8 << 20
DEFAULT_BUCKETS = 0  # 0: by input size, BYTES_PER_BUCKET each, at least 4
MIN_BUCKETS = 4
BYTES_PER_BUCKET = 64 << 20
SHUFFLE_COMPRESSION = 'zstd'  # valid rows cross the shuffle ~3x smaller
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
    try:
      yield from self._plan(path, rank)
    except Exception as e:  # pylint: disable=broad-except
      raise read_error(path, fmt, e) from e

  def _plan(self, path: str, rank: int) -> Iterable[Tuple]:
    gz = path.lower().endswith('.gz')
    with open_decompressed(path) as stream:
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


class CheckRowsFn(beam.DoFn):
  """Base of the DoFns that validate rows into Arrow tables: the read and
  valid counters, and the FX side input prepared once per rates table."""

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


class _CheckChunkFn(CheckRowsFn):
  """A chunk -> DeadLetters (tagged) and (bucket, (valid rows, exotic)).

  The valid rows are an Arrow IPC stream, or with `spill_dir` the name of a
  file holding it (so that the shuffle carries only names)."""

  def __init__(self, buckets: int, spill_dir: str = '') -> None:
    super().__init__(buckets)
    self._spill_dir = spill_dir

  def process(self, chunk: Tuple, fx_rates: Dict) -> Iterable:
    self._prepare(fx_rates)
    kind, path, rank = chunk[0], chunk[1], chunk[2]
    if kind == 'range':
      (offset, length), line = chunk[3], chunk[4]
      with _open(path) as f:
        f.seek(offset)
        data = f.read(length)
      yield from self._emit(check_jsonl(data, line, path, rank, self._rates,
                                        self._schema), f'{rank}-{line}')
    elif kind == 'bytes':
      yield from self._emit(check_jsonl(chunk[3], chunk[4], path, rank,
                                        self._rates, self._schema),
                            f'{rank}-{chunk[4]}')
    else:
      yield from self._file(path, rank, chunk[3])

  def _file(self, path: str, rank: int, fmt: str) -> Iterable:
    batch: List[Any] = []
    for record in read_file_records(path, fmt):
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
    yield from self._emit(checked, f'{rank}-{records[0].position}')

  def _emit(self, checked, part_id: str) -> Iterable:
    self._read.inc(checked.read)
    self._valid.inc(checked.table.num_rows)
    reasons: Dict[str, int] = {}
    for letter in checked.dead:
      reasons[letter.reason] = reasons.get(letter.reason, 0) + 1
      yield beam.pvalue.TaggedOutput(DEAD_LETTERS, letter)
    for reason, count in reasons.items():
      Metrics.counter(METRICS_NAMESPACE, f'dead_letter:{reason}').inc(count)
    for bucket, part, exotic in bucket_parts(checked.table, checked.exotic,
                                             self._buckets):
      data = table_to_bytes(part, compress=not self._spill_dir)
      if self._spill_dir:
        name = FileSystems.join(self._spill_dir,
                                f'b{bucket:05d}-{part_id}.arrows')
        with FileSystems.create(
            name, compression_type=CompressionTypes.UNCOMPRESSED) as f:
          f.write(data)
        data = _SPILLED + name.encode('utf-8')
      yield bucket, (data, pickle.dumps(exotic) if exotic else b'')


def bucket_parts(table: pa.Table, exotic: Sequence[Any], buckets: int
                 ) -> Iterable[Tuple[int, pa.Table, List[Any]]]:
  """(bucket, rows, their exotic orders) per non-empty bucket of order_id;
  each part's `exotic` column is renumbered into its own list."""
  for bucket, part in split_buckets(table, buckets):
    mine: List[Any] = []
    if exotic:
      used = sorted(set(pc.drop_null(part['exotic']).to_pylist()))
      remap = {old: new for new, old in enumerate(used)}
      mine = [exotic[i] for i in used]
      part = part.set_column(
          part.schema.get_field_index('exotic'), 'exotic',
          pa.array([None if i is None else remap[i]
                    for i in part['exotic'].to_pylist()], pa.int32()))
    yield bucket, part, mine


def unit_partials(table: pa.Table, exotic: Sequence[Any], catalog: Dict,
                  policy) -> Iterable[window.TimestampedValue]:
  """Deduplicated rows -> (scope, partial) per time unit, stamped at the
  unit's start: a Partial for fixed and sliding windows, a SalesSummary for
  sessions and exotic rows (aggregate.partial_tables/partial_summaries)."""
  if policy.kind != SESSIONS:
    if exotic:
      is_exotic = pc.is_valid(table['exotic'])
      for unit, scope, summary in partial_summaries(
          table.filter(is_exotic), exotic, catalog, policy):
        yield window.TimestampedValue((scope, summary), unit / 1000.0)
      table = table.filter(pc.invert(is_exotic))
    for unit, partial in partial_tables(table, catalog, policy):
      yield window.TimestampedValue(('', partial), unit / 1000.0)
    return
  for unit, scope, summary in partial_summaries(table, exotic, catalog,
                                                policy):
    yield window.TimestampedValue((scope, summary), unit / 1000.0)


_SPILLED = b'spilled:'


def _load_part(data: bytes) -> pa.Table:
  if data.startswith(_SPILLED):
    name = data[len(_SPILLED):].decode('utf-8')
    with _open(name) as f:
      content = f.read()
    FileSystems.delete([name])
    return table_from_bytes(content)
  return table_from_bytes(data)


def table_to_bytes(table: pa.Table, compress: bool = True) -> bytes:
  """An Arrow IPC stream of exactly the table's rows (pickling a sliced table
  would carry its parent's whole buffers)."""
  sink = pa.BufferOutputStream()
  options = pa.ipc.IpcWriteOptions(
      compression=SHUFFLE_COMPRESSION if compress else None)
  with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
    writer.write_table(table)
  return sink.getvalue().to_pybytes()


def buckets_for(paths: Sequence[str]) -> int:
  """Enough buckets that one holds about BYTES_PER_BUCKET of input, so the
  dedupe step's working set stays the same as the input grows."""
  total = 0
  for path in paths:
    try:
      total += FileSystems.match([path])[0].metadata_list[0].size_in_bytes
    except Exception:  # pylint: disable=broad-except
      pass
  return max(MIN_BUCKETS, -(-total // BYTES_PER_BUCKET))


def table_from_bytes(data: bytes) -> pa.Table:
  return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


class _DedupeAndSummarizeFn(beam.DoFn):
  """(bucket, [(table, exotic)]) -> (scope, SalesSummary) per time unit."""

  def __init__(self, policy) -> None:
    self._policy = policy
    self._duplicates = Metrics.counter(METRICS_NAMESPACE, 'duplicates')

  def process(self, keyed: Tuple[int, Iterable], catalog: Dict) -> Iterable:
    _, parts = keyed
    tables, exotic = [], []
    for data, extra_bytes in parts:
      table = _load_part(data)
      extra = pickle.loads(extra_bytes) if extra_bytes else []
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
    yield from unit_partials(table, exotic, catalog, self._policy)


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


class MergePartialsFn(beam.CombineFn):
  """Merges Partials (aggregate.partial_tables) and SalesSummary partials
  (exotic rows) into one SalesSummary per window."""

  def create_accumulator(self) -> Tuple[List, SalesSummary]:
    return [], SalesSummary()

  def add_input(self, acc: Tuple[List, SalesSummary], value: Any
                ) -> Tuple[List, SalesSummary]:
    if isinstance(value, SalesSummary):
      acc[1].merge(value)
    else:
      acc[0].append(value)
    return acc

  def merge_accumulators(self, accs: Iterable[Tuple[List, SalesSummary]]
                         ) -> Tuple[List, SalesSummary]:
    partials: List = []
    merged = SalesSummary()
    for acc in accs:
      partials.extend(acc[0])
      merged.merge(acc[1])
    return partials, merged

  def extract_output(self, acc: Tuple[List, SalesSummary]) -> SalesSummary:
    if not acc[1].categories:  # no exotic rows: sizes of sets suffice
      return summary_of_partials(acc[0], customer_sets=False)
    summary = summary_of_partials(acc[0])
    summary.merge(acc[1])
    return summary


class ReadCheckedChunks(beam.PTransform):
  """PBegin -> {'valid': (bucket, (table, exotic)), 'dead_letters': ...}."""

  def __init__(self, paths: List[str], input_format: str, fx_rates,
               buckets: int, chunk_bytes: int, spill_dir: str = '') -> None:
    super().__init__()
    self._spill_dir = spill_dir
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
            _CheckChunkFn(self._buckets, self._spill_dir),
            fx_rates=self._fx_rates
        ).with_outputs(DEAD_LETTERS, main='valid'))


_IN_PROCESS_RUNNERS = ('fnapirunner', 'directrunner', 'bundlebaseddirectrunner')


def _in_process_runner(pipeline: beam.Pipeline) -> bool:
  from apache_beam.options.pipeline_options import StandardOptions
  runner = pipeline.options.view_as(StandardOptions).runner
  if runner is None:
    runner = type(pipeline.runner).__name__
  if not isinstance(runner, str):
    runner = type(runner).__name__
  return runner.rsplit('.', 1)[-1].lower() in _IN_PROCESS_RUNNERS


def _spill_dir() -> str:
  """A private temporary directory, removed when this process ends."""
  import atexit
  import shutil
  import tempfile
  path = tempfile.mkdtemp(prefix='sales-arrow-spill-')
  atexit.register(shutil.rmtree, path, True)
  return path


def build_vectorized_graph(pipeline: beam.Pipeline, config: SalesConfig,
                           source: beam.PTransform,
                           sinks: Sequence[Tuple[str, beam.PTransform]] = (),
                           buckets: int = DEFAULT_BUCKETS,
                           chunk_bytes: int = DEFAULT_CHUNK_BYTES,
                           spill: Optional[bool] = None
                           ) -> Dict[str, beam.PCollection]:
  """Same signature and outputs as pipelines.sales.build_sales_graph.

  spill: pass the valid rows from the parse step to the dedupe step through
  local files, so that the shuffle carries only file names (default: when
  the runner runs in this process, whose shuffle is held in memory; other
  runners' shuffles spill to disk by themselves).
  """
  from transforms.vectorized.streaming import (
      arrow_streaming_applies, build_vectorized_streaming_graph)
  if arrow_streaming_applies(config):
    return build_vectorized_streaming_graph(pipeline, config, source, sinks)
  if config.source != 'files' or not config.bounded or (
      config.event_time_from != 'payload'):
    return build_sales_graph(pipeline, config, source, sinks)
  policy = config.window
  fx_rates = beam.pvalue.AsDict(
      pipeline | 'ReadFxRates' >> ReadFxRates(config.fx_rates))
  catalog = beam.pvalue.AsSingleton(
      pipeline
      | 'CatalogPath' >> beam.Create([config.catalog])
      | 'LoadCatalog' >> beam.Map(load_catalog))
  paths = expand_patterns(config.inputs)
  if not buckets:
    buckets = buckets_for(paths)
  if spill is None:
    spill = _in_process_runner(pipeline)
  spill_dir = _spill_dir() if spill else ''
  checked = pipeline | 'ReadAndCheck' >> ReadCheckedChunks(
      paths, config.input_format, fx_rates, buckets, chunk_bytes, spill_dir)
  aggregates = (
      checked['valid']
      | 'AsBytes' >> beam.Map(lambda kv: kv).with_output_types(
          Tuple[int, Tuple[bytes, bytes]])
      | 'ShuffleByOrderId' >> beam.GroupByKey()
      | 'DedupeAndPreAggregate' >> beam.ParDo(
          _DedupeAndSummarizeFn(policy), catalog=catalog)
      | 'AggregatePartials' >> AggregatePartials(policy, config.top_n,
                                                 bounded=True))
  return with_sinks(aggregates, checked[DEAD_LETTERS], sinks)


class AggregatePartials(beam.PTransform):
  """(scope, partial) stamped per time unit -> {'results', 'top_products'}:
  the record path's windows, triggers and row emitter on partials."""

  def __init__(self, policy, top_n: int, bounded: bool) -> None:
    super().__init__()
    self._policy = policy
    self._top_n = top_n
    self._bounded = bounded

  def expand(self, partials: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
    return (
        partials
        | 'ApplyWindowPolicy' >> ApplyWindowPolicy(self._policy)
        | 'MergeSummaries' >> beam.CombinePerKey(
            MergeSummariesFn() if self._policy.kind == SESSIONS else
            MergePartialsFn())
        | 'EmitRows' >> beam.ParDo(
            _EmitRowsFn(self._top_n, bounded=self._bounded)).with_outputs(
                TOP_PRODUCTS, main=RESULTS))

