"""Arrow tables of valid orders as they cross a shuffle.

- `table_to_bytes` / `table_from_bytes`: an Arrow IPC stream of exactly a
  table's rows (pickling a sliced table would carry its parent's buffers).
- `ArrowTableCoder`: Beam's coder of pa.Table elements (registered), so that
  a runner measures a table's size from its buffers instead of encoding it.
- `bucket_of` / `bucket_parts`: a stable (process-independent) hash of
  order_id -> bucket, so that every copy of an order meets in one bucket.
- `Part`: what a bucket's element carries, (rows, exotic orders) coded as
  (IPC bytes or the name of a spill file holding them, pickled list).
"""
from __future__ import annotations

import pickle
from typing import Any, Iterable, List, Sequence, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam import coders
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

SHUFFLE_COMPRESSION = 'zstd'  # valid rows cross the shuffle ~3x smaller
SPILLED = b'spilled:'

Part = Tuple[bytes, bytes]  # (rows: IPC bytes or SPILLED + file name, exotic)
Rows = Tuple[pa.Table, List[Any]]  # valid rows and their exotic orders

_MIX1 = np.uint64(0xbf58476d1ce4e5b9)
_MIX2 = np.uint64(0x94d049bb133111eb)
_WEIGHTS = np.array([0x9e3779b97f4a7c15 * (2 * i + 1) % (1 << 64)
                     for i in range(16)], np.uint64)


def table_to_bytes(table: pa.Table, compress: bool = True) -> bytes:
  sink = pa.BufferOutputStream()
  options = pa.ipc.IpcWriteOptions(
      compression=SHUFFLE_COMPRESSION if compress else None)
  with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
    writer.write_table(table)
  return sink.getvalue().to_pybytes()


def table_from_bytes(data: bytes) -> pa.Table:
  return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


class ArrowTableCoder(coders.Coder):
  """pa.Table <-> an IPC stream. Beam's worker samples the size of the
  first elements of every output by encoding them: with the default
  (pickle) coder each bucket's table was copied whole twice for a metric
  (193 MB per 1M orders); here the estimate is the size of its buffers."""

  def encode(self, value: pa.Table) -> bytes:
    return table_to_bytes(value, compress=False)

  def decode(self, encoded: bytes) -> pa.Table:
    return table_from_bytes(encoded)

  def estimate_size(self, value: pa.Table) -> int:
    return value.get_total_buffer_size()

  def is_deterministic(self) -> bool:
    return False

  def to_type_hint(self):
    return pa.Table


coders.registry.register_coder(pa.Table, ArrowTableCoder)


def bucket_of(ids: pa.Array, buckets: int) -> np.ndarray:
  """A stable hash of each string (its length, first and last 8 bytes),
  modulo `buckets`; the same in every process (unlike Python's hash()).

  h = sum(head[j] * W[j]) + sum(tail[j] * W[8 + j]) (mod 2**64), head[j]
  the string's byte j and tail[j] its byte len-1-j (0 past either end),
  then h ^= len * MIX2 and a splitmix64 finish. The bytes are read as
  8-byte windows of the data, zero-padded on both sides."""
  if isinstance(ids, pa.ChunkedArray):
    ids = ids.combine_chunks()
  n = len(ids)
  if buckets == 1 or n == 0:
    return np.zeros(n, np.int64)
  offsets = np.frombuffer(ids.buffers()[1], np.int32)[
      ids.offset:ids.offset + n + 1].astype(np.int64)
  data = ids.buffers()[2]
  body = (np.frombuffer(data, np.uint8) if data is not None else
          np.zeros(0, np.uint8))
  padded = np.zeros(len(body) + 16, np.uint8)
  padded[8:8 + len(body)] = body
  windows = np.lib.stride_tricks.sliding_window_view(padded, 8)
  starts, ends = offsets[:-1], offsets[1:]
  length = ends - starts
  past_end = np.arange(8)[None, :] >= length[:, None]
  head = np.where(past_end, 0, windows[starts + 8])  # bytes 0..7
  tail = np.where(past_end, 0, windows[ends][:, ::-1])  # bytes len-1..len-8
  with np.errstate(over='ignore'):
    h = (head.astype(np.uint64) @ _WEIGHTS[:8] +
         tail.astype(np.uint64) @ _WEIGHTS[8:])
    h ^= length.astype(np.uint64) * _MIX2
    h ^= h >> np.uint64(30)
    h *= _MIX1
    h ^= h >> np.uint64(27)
    h *= _MIX2
    h ^= h >> np.uint64(31)
  return (h % np.uint64(buckets)).astype(np.int64)


def split_buckets(table: pa.Table, buckets: int
                  ) -> Iterable[Tuple[int, pa.Table]]:
  if table.num_rows == 0:
    return
  b = bucket_of(table.column('order_id'), buckets)
  # numpy's stable sort is a radix sort for 16-bit keys: 6x a 64-bit sort.
  order = np.argsort(b.astype(np.uint16) if buckets <= 1 << 16 else b,
                     kind='stable')
  sorted_b = b[order]
  table = table.take(pa.array(order))
  bounds = np.searchsorted(sorted_b, np.arange(buckets + 1))
  for i in range(buckets):
    lo, hi = int(bounds[i]), int(bounds[i + 1])
    if hi > lo:
      yield i, table.slice(lo, hi - lo)


def with_exotic_offset(table: pa.Table, offset: int) -> pa.Table:
  """The table's `exotic` indexes moved by offset (lists concatenated)."""
  return table.set_column(
      table.schema.get_field_index('exotic'), 'exotic',
      pc.add(table['exotic'], pa.scalar(offset, pa.int32())))


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


def encode_part(table: pa.Table, exotic: List[Any], spill_name: str = '',
                compress: bool = True) -> Part:
  """A bucket's rows for the shuffle; with spill_name they are written to
  that file and only its name crosses the shuffle."""
  data = table_to_bytes(table, compress=compress and not spill_name)
  if spill_name:
    with FileSystems.create(
        spill_name, compression_type=CompressionTypes.UNCOMPRESSED) as f:
      f.write(data)
    data = SPILLED + spill_name.encode('utf-8')
  return data, pickle.dumps(exotic) if exotic else b''


def decode_part(part: Part) -> Tuple[pa.Table, List[Any]]:
  """The rows and exotic orders of an encoded part (a spill file is read
  and removed)."""
  data, exotic = part
  if data.startswith(SPILLED):
    name = data[len(SPILLED):].decode('utf-8')
    with FileSystems.open(
        name, compression_type=CompressionTypes.UNCOMPRESSED) as f:
      data = f.read()
    FileSystems.delete([name])
  return table_from_bytes(data), pickle.loads(exotic) if exotic else []


def concat_parts(parts: Iterable[Tuple[pa.Table, List[Any]]]
                 ) -> Tuple[pa.Table, List[Any]]:
  """One table of several parts, their exotic lists joined and renumbered."""
  tables, exotic = [], []
  for table, extra in parts:
    if extra:
      table = with_exotic_offset(table, len(exotic))
      exotic.extend(extra)
    tables.append(table)
  return pa.concat_tables(tables).combine_chunks(), exotic
