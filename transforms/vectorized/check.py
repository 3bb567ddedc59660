"""ParseOrders on columns: chunks of a file or batches of a stream ->
dead letters, and valid rows as Arrow tables per bucket of order_id.

    FileChunk | RawBatch -> validate (columns.py: the fast checks, and the
                            record path's check_order for every other row)
                         -> [streaming] the late rule against the watermark
                            each record was read at
                         -> DeadLetter (tagged), (bucket, Part)

Every rule is the record path's (validate.py, lateness.py, currency.py):
the fast checks only accept values whose meaning is unambiguous, and the
dead letters carry exactly the record path's reason and detail.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import (TYPE_CHECKING, Any, Callable, Dict, Iterable, List,
                    Optional, Sequence)

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from transforms import metrics
from transforms.currency import FxRates
from transforms.lateness import late_rejection
from transforms.parse import DEAD_LETTERS, VALID, payload_text
from transforms.records import DeadLetter, RawBatch
from transforms.sources.files import read_file_records
from transforms.vectorized.ahead import OneAhead, done
from transforms.vectorized.chunks import FileChunk
from transforms.vectorized.columns import (POSITION_BITS, Checked,
                                           PreparedRates, check_chunk)
from transforms.vectorized.decoding import UNDECODED, decode_each
from transforms.vectorized.jsonl import check_jsonl_bytes, split_lines
from transforms.vectorized.tables import bucket_parts, encode_part
from transforms.windowing import WindowPolicy

if TYPE_CHECKING:
  from transforms.pseudonymize import Pseudonymizer

RECORD_BATCH = 65536  # records of a non-JSON-Lines file checked at once
# A chunk of JSON Lines is checked in this many pieces at once, one thread
# each: the checks run in numpy and Arrow kernels, which release the GIL
# (docs/performance.md).
PARSE_THREADS = max(1, min(4, os.cpu_count() or 1))
_INDEX_MASK = (1 << POSITION_BITS) - 1


class CheckOrdersFn(beam.DoFn):
  """FileChunk or RawBatch -> DeadLetters (tagged) and (bucket, Part).

  late_policy: in streaming, records beyond the policy's allowed lateness of
  the watermark they were read at become `late` dead letters.
  spill_dir: write each part's rows to a file there; only its name crosses
  the shuffle (for runners whose shuffle is held in memory).
  pseudonymizer: customer ids leave as pseudonyms, in the rows and in the
  dead letters (transforms/pseudonymize.py).
  """

  def __init__(self, buckets: int, late_policy: Optional[WindowPolicy] = None,
               spill_dir: str = '', event_time_from: str = 'payload',
               pseudonymizer: Optional['Pseudonymizer'] = None) -> None:
    self._buckets = buckets
    self._pseudonymizer = pseudonymizer
    self._late_policy = late_policy
    self._spill_dir = spill_dir
    self._transport_time = event_time_from == 'transport'
    self._read = metrics.counter(metrics.RECORDS_READ)
    self._progress = metrics.ReadProgress()
    self._valid = metrics.counter(metrics.RECORDS_VALID)
    self._prepared = PreparedRates()
    self._pool: Optional[ThreadPoolExecutor] = None
    self._ahead = OneAhead()

  def setup(self) -> None:
    if PARSE_THREADS > 1:
      self._pool = ThreadPoolExecutor(PARSE_THREADS,
                                      thread_name_prefix='check-jsonl')

  def teardown(self) -> None:
    if self._pool is not None:
      self._pool.shutdown(wait=False)
      self._pool = None

  def start_bundle(self) -> None:
    self._ahead.reset()

  def process(self, element: Any, fx_rates: Dict,
              window=beam.DoFn.WindowParam,
              timestamp=beam.DoFn.TimestampParam) -> Iterable:
    self._rates = self._prepared.of(fx_rates)
    if isinstance(element, RawBatch):
      yield from self._batch(element)
    elif element.fmt == 'jsonl':
      yield from self._jsonl(element, window, timestamp)
    else:
      yield from self._whole_file(element)

  def finish_bundle(self) -> Iterable:
    yield from self._ahead.release()

  # --- a chunk of a JSON Lines file --------------------------------------------

  def _jsonl(self, chunk: FileChunk, window: Any, timestamp: Any
             ) -> Iterable:
    """The chunk in pieces (runs of its lines), each checked on a thread of
    the pool while the chunk before it is emitted (ahead.py); each piece
    becomes its own parts."""
    pieces = split_lines(chunk.read(), chunk.first_line,
                         PARSE_THREADS if self._pool is not None else 1)
    rates = self._rates

    def check(piece) -> Checked:
      return check_jsonl_bytes(piece[0], piece[1], chunk.path, chunk.rank,
                               rates)

    def emit(first_line: int) -> Callable[[Checked], Iterable]:
      return lambda checked: self._emit(checked, checked.dead, checked.table,
                                        f'{chunk.rank}-{first_line}')

    work = [(self._pool.submit(check, piece) if self._pool is not None
             else done(check(piece)), emit(piece[1])) for piece in pieces]
    yield from self._ahead.hold(work, window, timestamp)

  # --- a file of Avro, Parquet or CSV records --------------------------------

  def _whole_file(self, chunk: FileChunk) -> Iterable:
    batch: List[Any] = []
    for record in read_file_records(chunk.path, chunk.fmt):
      batch.append(record)
      if len(batch) >= RECORD_BATCH:
        yield from self._records(batch, chunk)
        batch = []
    if batch:
      yield from self._records(batch, chunk)

  def _records(self, records: Sequence, chunk: FileChunk) -> Iterable:
    errors = {i: r.decode_error for i, r in enumerate(records)
              if r.decode_error is not None}
    objs = [None if r.decode_error is not None else r.payload
            for r in records]
    checked = check_chunk(objs, [r.position for r in records],
                          [r.payload for r in records], chunk.path,
                          chunk.rank, self._rates, errors)
    yield from self._emit(checked, checked.dead, checked.table,
                          f'{chunk.rank}-{records[0].position}')

  # --- a batch of one stream partition ----------------------------------------

  def _check_batch(self, batch: RawBatch) -> Checked:
    """Validates the batch; positions in the result are batch indexes."""
    n = len(batch.payloads)
    if self._transport_time:
      return check_chunk(decode_each(batch.payloads), list(range(n)),
                         batch.payloads, batch.source, 0, self._rates,
                         event_time_overrides=batch.transport_ms)
    data = b'\n'.join(batch.payloads)
    if data.count(b'\n') == n - 1:
      checked = check_jsonl_bytes(data + b'\n', 0, batch.source, 0,
                                  self._rates)
      if checked.read == n:
        return checked
    # A payload with a newline, or a blank one (which a file would skip):
    # every record through the record path's decoder.
    return check_chunk([UNDECODED] * n, list(range(n)), batch.payloads,
                       batch.source, 0, self._rates)

  def _batch(self, batch: RawBatch) -> Iterable:
    checked = self._check_batch(batch)
    offsets = np.asarray(batch.offsets, np.int64)
    dead = [letter._replace(partition=batch.partition,
                            position=int(offsets[letter.position]))
            for letter in checked.dead]
    table = checked.table
    if table.num_rows:
      index = table['k'].to_numpy() & _INDEX_MASK
      if self._late_policy is not None:
        late = self._late_rows(batch, table, index)
        for i in np.flatnonzero(late[0]).tolist():
          j = int(index[i])
          rejection = late_rejection(int(late[1][i]), int(late[2][i]))
          dead.append(DeadLetter(
              reason=rejection.reason, detail=rejection.detail,
              payload=payload_text(batch.payloads[j]), source=batch.source,
              partition=batch.partition, position=int(offsets[j])))
        if late[0].any():
          table = table.filter(pa.array(~late[0]))
          index = index[~late[0]]
      # k: (partition, offset), so that the dedupe keeps the first read, as
      # the record path's (source, partition, position) does.
      k = (np.int64(batch.partition or 0) << POSITION_BITS) | offsets[index]
      table = table.set_column(table.schema.get_field_index('k'), 'k',
                               pa.array(k, pa.int64()))
    # A spill file per (bucket, batch): the partition and its first offset.
    yield from self._emit(checked, dead, table,
                          f'p{batch.partition}-{batch.offsets[0]}')

  def _late_rows(self, batch: RawBatch, table: pa.Table, index: np.ndarray):
    """(is late, expiry ms, watermark ms) per valid row."""
    watermarks = np.array(
        [-1 if w is None else w for w in batch.watermarks_ms], np.int64)
    row_wm = watermarks[index]
    expiry = self._late_policy.earliest_expiry_ms_array(
        table['event_ms'].to_numpy())
    return (row_wm >= 0) & (expiry <= row_wm), expiry, row_wm

  # --- out ----------------------------------------------------------------------

  def _emit(self, checked: Checked, dead: List[DeadLetter], table: pa.Table,
            part_id: str) -> Iterable:
    exotic = checked.exotic
    if self._pseudonymizer is not None:
      table, exotic, dead = self._pseudonymized(table, exotic, dead)
    self._read.inc(checked.read)
    self._progress.add(checked.read)
    self._valid.inc(table.num_rows)
    metrics.count_reasons(letter.reason for letter in dead)
    for letter in dead:
      yield beam.pvalue.TaggedOutput(DEAD_LETTERS, letter)
    for bucket, part, part_exotic in bucket_parts(table, exotic,
                                                  self._buckets):
      spill_name = ''
      if self._spill_dir:
        spill_name = FileSystems.join(self._spill_dir,
                                      f'b{bucket:05d}-{part_id}.arrows')
      # A stream's small batches are not worth a codec's time.
      yield bucket, encode_part(part, part_exotic, spill_name,
                                compress=self._late_policy is None)

  def _pseudonymized(self, table: pa.Table, exotic: List,
                     dead: List[DeadLetter]):
    """(table, exotic orders, dead letters) with every customer id replaced
    by its pseudonym: the one place the columnar parse applies it."""
    pseudonymizer = self._pseudonymizer
    column = table.schema.get_field_index('customer_id')
    table = table.set_column(column, 'customer_id',
                             pseudonymizer.ids(table.column(column)))
    exotic = [order._replace(customer_id=pseudonymizer.one(order.customer_id))
              for order in exotic]
    return table, exotic, [pseudonymizer.dead_letter(d) for d in dead]


class ParseOrderBatches(beam.PTransform):
  """PCollection[FileChunk | RawBatch] ->
  {'valid': (bucket, Part), 'dead_letters': DeadLetter}.

  With a `pseudonymizer`, every customer id leaves as its pseudonym.
  """

  def __init__(self, fx_rates: FxRates, buckets: int,
               late_policy: Optional[WindowPolicy] = None,
               spill_dir: str = '', event_time_from: str = 'payload',
               pseudonymizer: Optional['Pseudonymizer'] = None) -> None:
    super().__init__()
    self._fx_rates = fx_rates
    self._fn = CheckOrdersFn(buckets, late_policy, spill_dir, event_time_from,
                             pseudonymizer)

  def expand(self, elements: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
    # The rates positionally: as a keyword, Beam 2.77 also fills the
    # parameter's slot before process's window and timestamp defaults
    # ("got multiple values for argument").
    return elements | 'ValidateRecords' >> beam.ParDo(
        self._fn, self._fx_rates).with_outputs(DEAD_LETTERS, main=VALID)
