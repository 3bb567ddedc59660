"""JSON Lines without Python objects: the columnar parse of the common line.

Most lines of a JSON Lines file written by one producer share one shape
(shape.py). For such lines the value of each field is cut out of the bytes
(shape.scan_lines) and typed with Arrow kernels, without decoding the line
into Python objects; every other line (dirty, unusual or of another shape)
takes the decoded path (columns.check_chunk), so the result is always the
record path's. `check_jsonl_decoded` decodes every line instead: the
reference the tests hold the fast path to.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.event_time import MAX_EPOCH_MS, iso_ms_columns
from transforms.records import DeadLetter, Order
from transforms.validate import MAX_QUANTITY, MIN_QUANTITY
from transforms.vectorized.columns import (BLANK, COUNTRY_TEXT, EPOCH_TEXT,
                                           POSITION_BITS, PRICE_TEXT,
                                           PRICE_TYPE, PRINTABLE_ID, QTY_TEXT,
                                           VALID_SCHEMA, Checked, Rates,
                                           as_mask, currency_codes,
                                           empty_valid, check_chunk,
                                           matches, price_in_range)
from transforms.vectorized.decoding import decode_jsonl, decode_numbered
from transforms.vectorized.shape import SPANNED, scan_lines


def check_jsonl_decoded(data: bytes, first_line: int, source: str,
                        source_rank: int, rates: Rates) -> Checked:
  """check_jsonl_bytes by decoding every line (the reference the tests
  hold the fast path to)."""
  objs, numbers, raws = decode_jsonl(data, first_line)
  return check_chunk(objs, numbers, StrippedLines(raws), source,
                     source_rank, rates)


class StrippedLines:
  """raws[i].rstrip(b'\\r\\n'), computed only for the rows that need it."""

  def __init__(self, raws: List[bytes]) -> None:
    self._raws = raws

  def __getitem__(self, i: int) -> bytes:
    return self._raws[i].rstrip(b'\r\n')


# --- JSON Lines without Python objects -------------------------------------------
#
# A line of the common shape (shape.py) has each value's exact bytes cut out
# by scan_lines; a shaped line whose values pass the same vectorized checks
# as `fast_columns` is valid with exactly check_order's values; every other
# line (dirty, unusual or of another shape) takes the decoded path
# (`check_chunk`), so the result is the record path's.

_MAX_TOKEN = 64  # longer values take the decoded path

_JSON_QTY = r'^[1-9][0-9]{0,4}$'
_JSON_PRICE = r'^(0|[1-9][0-9]{0,6})(\.[0-9]{1,6})?$'  # <= 13 digits: exact
_JSON_EPOCH = r'^(0|[1-9][0-9]{0,14})$'


def _gather(buf: np.ndarray, start: np.ndarray, stop: np.ndarray,
            is_str: np.ndarray) -> Tuple[pa.Array, pa.Array]:
  """buf[start[i]:stop[i]] for every i (ASCII bytes; the spans in order and
  apart: stop[i] <= start[i + 1]) as two string arrays sharing one buffer:
  (the rows where is_str, the others), each null elsewhere.

  The spans and the gaps between them are the values of one binary array
  over buf, no byte copied; Arrow's `take` of every other value then copies
  just the spans' bytes."""
  n = len(start)
  if n == 0:
    values = pa.array([], pa.binary())
  else:
    bounds = np.empty(2 * n, np.int32)
    bounds[0::2] = start
    bounds[1::2] = stop
    spans_and_gaps = pa.Array.from_buffers(
        pa.binary(), 2 * n - 1, [None, pa.py_buffer(bounds), pa.py_buffer(buf)])
    values = pc.take(spans_and_gaps,
                     pa.array(np.arange(0, 2 * n, 2, dtype=np.int32)),
                     boundscheck=False)
  _, offsets, data = values.buffers()
  strs = pa.Array.from_buffers(pa.string(), n, [
      pa.py_buffer(np.packbits(is_str, bitorder='little')), offsets, data])
  nums = pa.Array.from_buffers(pa.string(), n, [
      pa.py_buffer(np.packbits(~is_str, bitorder='little')), offsets, data])
  return strs, nums


class _Value:
  """The values at spans [begin, stop) of the data: a string's content
  without its quotes, a number's (or literal's) text; a value longer than
  _MAX_TOKEN bytes is too long and empty."""

  def __init__(self, buf: np.ndarray, begin: np.ndarray, stop: np.ndarray
               ) -> None:
    self.too_long = (stop - begin) > _MAX_TOKEN
    stop = np.where(self.too_long, begin, stop)
    self.is_str = buf[begin] == 34
    shift = self.is_str.astype(np.int64)
    self.first = begin + shift
    self.length = np.maximum(stop - shift, self.first) - self.first
    self.text, self.number = _gather(buf, self.first,
                                     self.first + self.length, self.is_str)


def _event_ms(buf: np.ndarray, padded: np.ndarray, begin: np.ndarray,
              stop: np.ndarray) -> pa.Array:
  """The event time (epoch ms) of each value by the fast rules: a JSON
  integer, an epoch in a string, an ISO-8601 string; null where they do not
  accept it (the decoded path decides)."""
  value = _Value(buf, begin, stop)
  s, num = value.text, value.number
  t_int = pc.cast(pc.if_else(matches(num, _JSON_EPOCH), num, None), pa.int64())
  epoch_ok = matches(s, EPOCH_TEXT)
  t_epoch = pc.cast(pc.utf8_trim(pc.if_else(epoch_ok, s, None), ' '),
                    pa.int64())
  t_epoch = pc.coalesce(t_int, t_epoch)
  t_epoch = pc.if_else(pc.less_equal(t_epoch, MAX_EPOCH_MS), t_epoch, None)
  iso_ok, iso_ms = iso_ms_columns(padded, value.first, value.length)
  iso_ok &= value.is_str
  return pc.coalesce(t_epoch, pa.array(iso_ms, pa.int64(), mask=~iso_ok))


def shaped_event_times(payloads: Sequence[bytes]
                       ) -> Optional[Tuple[np.ndarray, pa.Array]]:
  """(rows, event ms): the payloads of the common shape (their indexes) and
  each one's event time by the fast rules, null where they do not accept
  it; None if a payload holds a newline. For a reader's event times
  (transforms/sources/batch_time.py)."""
  # The zeros after the last line are iso_ms_columns' room (_padded).
  data = b'\n'.join([*payloads, bytes(_MAX_TOKEN + 8)])
  if data.count(b'\n') != len(payloads):
    return None
  lines = scan_lines(data)
  buf = np.frombuffer(data, np.uint8)
  j = SPANNED.index('event_time')
  return lines.rows, _event_ms(buf, buf, lines.begins[j], lines.stops[j])


def _padded(buf: np.ndarray) -> np.ndarray:
  """buf and zeros after it, for reads of up to _MAX_TOKEN + 8 bytes past a
  value's start (iso_ms_columns)."""
  return np.concatenate([buf, np.zeros(_MAX_TOKEN + 8, np.uint8)])


def _shaped_columns(buf: np.ndarray, padded: np.ndarray, begins: np.ndarray,
                    stops: np.ndarray, rates: Rates
                    ) -> Tuple[np.ndarray, Dict[str, pa.Array]]:
  """(ok mask, normalised columns) of shaped lines, like fast_columns.

  begins, stops: the lines' value spans (shape.Lines), one row per key of
  shape.SPANNED.
  """
  n = begins.shape[1]
  ok = np.ones(n, bool)

  def token(name: str) -> Tuple[np.ndarray, pa.Array, pa.Array]:
    """The key's value: (is string, string content or null, number text or
    null)."""
    j = SPANNED.index(name)
    value = _Value(buf, begins[j], stops[j])
    ok[value.too_long] = False
    return value.is_str, value.text, value.number

  cols: Dict[str, pa.Array] = {}
  for name in ('order_id', 'customer_id', 'product_id'):
    _, s, _ = token(name)
    ok &= as_mask(pc.match_substring_regex(s, PRINTABLE_ID))
    cols[name] = pc.utf8_trim(s, ' ')

  _, s, num = token('quantity')
  q_text = pc.coalesce(
      pc.if_else(matches(s, QTY_TEXT), pc.utf8_trim(s, ' '), None),
      pc.if_else(matches(num, _JSON_QTY), num, None))
  quantity = pc.cast(q_text, pa.int64())
  quantity = pc.if_else(
      pc.and_(pc.greater_equal(quantity, MIN_QUANTITY),
              pc.less_equal(quantity, MAX_QUANTITY)), quantity, None)
  ok &= as_mask(pc.is_valid(quantity))
  cols['quantity'] = quantity

  _, s, num = token('unit_price')
  p_text = pc.coalesce(
      pc.if_else(matches(s, PRICE_TEXT), pc.utf8_trim(s, ' '), None),
      pc.if_else(matches(num, _JSON_PRICE), num, None))
  price = pc.cast(p_text, PRICE_TYPE)
  ok &= as_mask(price_in_range(price))

  _, s, _ = token('currency')
  currency_ok, code = currency_codes(s, rates)
  ok &= currency_ok
  cols['price'] = price
  cols['currency'] = code

  j = SPANNED.index('event_time')
  event_ms = _event_ms(buf, padded, begins[j], stops[j])
  ok &= as_mask(pc.is_valid(event_ms))
  cols['event_ms'] = event_ms

  j = SPANNED.index('country')
  country = stops[j] > begins[j]  # an absent country: an empty span
  if country.any():
    is_str, s, num = token('country')
    c_ok = pc.or_(pc.match_substring_regex(s, BLANK),
                  pc.match_substring_regex(s, COUNTRY_TEXT))
    is_null = as_mask(pc.equal(num, 'null')) | (~country)
    ok &= is_null | as_mask(c_ok)
  return ok, cols


def check_jsonl_bytes(data: bytes, first_line: int, source: str,
                      source_rank: int, rates: Rates) -> Checked:
  """Validates a chunk of JSON Lines (whole lines, numbered from
  first_line) without decoding the lines of the common shape."""
  if len(data) >= 1 << 31:
    raise ValueError('chunk too large')
  lines = scan_lines(data)
  starts, ends, idx = lines.starts, lines.ends, lines.rows
  n = len(starts)
  if n == 0:
    return Checked(empty_valid(), [], [], 0)
  ok_rows = np.zeros(0, np.int64)
  cols: Dict[str, pa.Array] = {}
  if len(idx):
    buf = np.frombuffer(data, np.uint8)
    ok, cols = _shaped_columns(buf, _padded(buf), lines.begins, lines.stops, rates)
    ok_rows = idx[ok]
    mask = pa.array(ok)
    cols = {name: pc.filter(a, mask) for name, a in cols.items()}
  slow = np.ones(n, bool)
  slow[ok_rows] = False
  slow_idx = np.flatnonzero(slow)
  objs, numbers, raws = decode_numbered(
      (first_line + i, data[starts[i]:ends[i]]) for i in slow_idx.tolist())
  parts = []
  k = (np.int64(source_rank) << POSITION_BITS) | (
      ok_rows.astype(np.int64) + first_line)
  if len(ok_rows):
    parts.append(pa.table({
        'order_id': cols['order_id'], 'customer_id': cols['customer_id'],
        'product_id': cols['product_id'], 'quantity': cols['quantity'],
        'price': cols['price'], 'currency': cols['currency'],
        'event_ms': cols['event_ms'], 'k': pa.array(k, pa.int64()),
        'exotic': pa.nulls(len(ok_rows), pa.int32()),
    }, schema=VALID_SCHEMA))
  exotic: List[Order] = []
  dead: List[DeadLetter] = []
  if objs:
    rest = check_chunk(objs, numbers, StrippedLines(raws), source,
                       source_rank, rates)
    parts.append(rest.table)
    exotic, dead = rest.exotic, rest.dead
  if not parts:
    parts.append(empty_valid())
  table = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
  return Checked(table, exotic, dead, len(ok_rows) + len(objs))


def split_lines(data: bytes, first_line: int, pieces: int
                ) -> List[Tuple[bytes, int]]:
  """Whole lines numbered from first_line -> at most `pieces` runs of whole
  lines of about equal size, each with the number of its first line (so
  that checking each piece numbers every line as checking all would)."""
  out: List[Tuple[bytes, int]] = []
  begin, size = 0, len(data)
  for i in range(pieces - 1, 0, -1):
    cut = data.find(b'\n', begin + (size - begin) // (i + 1))
    if cut < 0 or cut + 1 >= size:
      break
    out.append((data[begin:cut + 1], first_line))
    first_line += data.count(b'\n', begin, cut + 1)
    begin = cut + 1
  out.append((data[begin:], first_line))
  return out
