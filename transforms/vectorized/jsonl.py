"""JSON Lines without Python objects: the columnar parse of the common line.

Most lines of a JSON Lines file written by one producer share one shape: a
flat object of printable-ASCII strings and plain numbers with the schema's
keys in schema order. For such lines the value of each field is cut out of
the bytes with numpy and typed with Arrow kernels, without decoding the line
into Python objects; every other line (dirty, unusual or of another shape)
takes the decoded path (columns.check_chunk), so the result is always the
record path's. `check_jsonl_decoded` decodes every line instead: the
reference the tests hold the fast path to.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.event_time import MAX_EPOCH_MS, iso_ms_columns
from transforms.records import DeadLetter, Order
from transforms.validate import FIELD_NAMES, MAX_QUANTITY, MIN_QUANTITY
from transforms.vectorized.columns import (BLANK, COUNTRY_TEXT, EPOCH_TEXT,
                                           POSITION_BITS, PRICE_TEXT,
                                           PRICE_TYPE, PRINTABLE_ID, QTY_TEXT,
                                           VALID_SCHEMA, Checked, Rates,
                                           as_mask, currency_codes,
                                           empty_valid, check_chunk,
                                           matches, price_in_range)
from transforms.vectorized.decoding import decode_jsonl, decode_numbered


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
# Most lines of a JSON Lines file written by one producer share one shape: a
# flat object of printable-ASCII strings and plain numbers with the schema's
# keys in schema order. For such lines the value of each field can be cut out
# of the bytes directly and typed with Arrow kernels, without decoding the
# line into Python objects. `_SHAPE` accepts exactly those lines:
#
#   {"order_id":V,"customer_id":V,"product_id":V,"quantity":V,
#    "unit_price":V,"currency":V,"event_time":V[,"country":V][,"channel":S]}
#
# V = a JSON string without escapes, of printable ASCII, not starting with ':'
#     | a JSON number | null | true | false;  S = such a string.
#
# In such a line `":` occurs only where a key ends (string values hold no
# quote, and a value that is a string does not start with ':'), and every key
# occurs once, so the markers give each value's exact bytes; the value then
# means what orjson/json would decode it to. A shaped line whose values pass
# the same vectorized checks as `fast_columns` is valid with exactly
# check_order's values; every other line (dirty, unusual or of another shape)
# takes the decoded path (`check_chunk`), so the result is the record path's.

_STR_BODY = r'[ !#-\[\]-~]'
_S = r'"(?:[ !#-9;-\[\]-~]' + _STR_BODY + r'*)?"'
_V = (r'(?:' + _S + r'|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?'
      r'|null|true|false)')
# The schema's required keys in schema order (country, optional, follows).
_KEYS = FIELD_NAMES[:FIELD_NAMES.index('country')]
_SHAPE = (r'^\{' + ','.join(f'"{k}":{_V}' for k in _KEYS) +
          r'(?:,"country":' + _V + r')?(?:,"channel":' + _S + r')?\}\n?$')
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


def _shaped_columns(buf: np.ndarray, padded: np.ndarray, markers: np.ndarray, first: np.ndarray,
                    count: np.ndarray, close: np.ndarray, rates: Rates
                    ) -> Tuple[np.ndarray, Dict[str, pa.Array]]:
  """(ok mask, normalised columns) of shaped lines, like fast_columns.

  markers: sorted byte positions of '":' (the key's closing quote); a line's
  markers are markers[first:first + count]; close: the position of its '}'.
  """
  n = len(first)
  ok = np.ones(n, bool)
  key_at = [markers[first + j] for j in range(7)]
  has8 = count >= 8
  m8 = markers[np.where(has8, first + 7, first)]
  country = has8 & (buf[m8 - 6] == ord('o'))  # "country" vs "channel"
  after = [key_at[j + 1] - len(_KEYS[j + 1]) - 2 for j in range(6)]
  after.append(np.where(has8, m8 - 9, close))

  spans: Dict[str, Tuple[np.ndarray, np.ndarray]] = {}

  def token(j_start: np.ndarray, j_stop: np.ndarray, name: str = ''
            ) -> Tuple[np.ndarray, pa.Array, pa.Array]:
    """(is string, string content or null, number text or null)."""
    begin = j_start + 2
    too_long = (j_stop - begin) > _MAX_TOKEN
    ok[too_long] = False
    stop = np.where(too_long, begin, j_stop)
    is_str = buf[begin] == 34
    shift = is_str.astype(np.int64)
    first, last = begin + shift, np.maximum(stop - shift, begin + shift)
    spans[name] = (first, last - first)
    s, num = _gather(buf, first, last, is_str)
    return is_str, s, num

  cols: Dict[str, pa.Array] = {}
  for j, name in enumerate(_KEYS[:3]):
    _, s, _ = token(key_at[j], after[j])
    ok &= as_mask(pc.match_substring_regex(s, PRINTABLE_ID))
    cols[name] = pc.utf8_trim(s, ' ')

  _, s, num = token(key_at[3], after[3])
  q_text = pc.coalesce(
      pc.if_else(matches(s, QTY_TEXT), pc.utf8_trim(s, ' '), None),
      pc.if_else(matches(num, _JSON_QTY), num, None))
  quantity = pc.cast(q_text, pa.int64())
  quantity = pc.if_else(
      pc.and_(pc.greater_equal(quantity, MIN_QUANTITY),
              pc.less_equal(quantity, MAX_QUANTITY)), quantity, None)
  ok &= as_mask(pc.is_valid(quantity))
  cols['quantity'] = quantity

  _, s, num = token(key_at[4], after[4])
  p_text = pc.coalesce(
      pc.if_else(matches(s, PRICE_TEXT), pc.utf8_trim(s, ' '), None),
      pc.if_else(matches(num, _JSON_PRICE), num, None))
  price = pc.cast(p_text, PRICE_TYPE)
  ok &= as_mask(price_in_range(price))

  _, s, _ = token(key_at[5], after[5])
  currency_ok, code = currency_codes(s, rates)
  ok &= currency_ok
  cols['price'] = price
  cols['currency'] = code

  is_str, s, num = token(key_at[6], after[6], 'event_time')
  t_int = pc.cast(pc.if_else(matches(num, _JSON_EPOCH), num, None), pa.int64())
  epoch_ok = matches(s, EPOCH_TEXT)
  t_epoch = pc.cast(pc.utf8_trim(pc.if_else(epoch_ok, s, None), ' '),
                    pa.int64())
  t_epoch = pc.coalesce(t_int, t_epoch)
  t_epoch = pc.if_else(pc.less_equal(t_epoch, MAX_EPOCH_MS), t_epoch, None)
  t_begin, t_length = spans['event_time']
  iso_ok, iso_ms = iso_ms_columns(padded, t_begin, t_length)
  iso_ok &= is_str
  event_ms = pc.coalesce(t_epoch, pa.array(iso_ms, pa.int64(), mask=~iso_ok))
  ok &= as_mask(pc.is_valid(event_ms))
  cols['event_ms'] = event_ms

  if country.any():
    c_stop = np.where(count >= 9, markers[np.minimum(first + 8,
                                                     len(markers) - 1)] - 9,
                      close)
    c_stop = np.where(country, c_stop, m8 + 2)
    is_str, s, num = token(m8, c_stop)
    c_ok = pc.or_(pc.match_substring_regex(s, BLANK),
                  pc.match_substring_regex(s, COUNTRY_TEXT))
    is_null = as_mask(pc.equal(num, 'null')) | (~country)
    ok &= is_null | as_mask(c_ok)
  return ok, cols


def check_jsonl_bytes(data: bytes, first_line: int, source: str,
                      source_rank: int, rates: Rates) -> Checked:
  """Validates a chunk of JSON Lines (whole lines, numbered from
  first_line) without decoding the lines of the common shape."""
  buf = np.frombuffer(data, np.uint8)
  newlines = np.flatnonzero(buf == 10)
  starts = np.concatenate([[0], newlines + 1]).astype(np.int64)
  ends = np.append(newlines, len(buf)).astype(np.int64)  # exclusive, no \n
  if len(buf) == 0 or data.endswith(b'\n'):
    starts, ends = starts[:-1], ends[:-1]
  n = len(starts)
  if n == 0:
    return Checked(empty_valid(), [], [], 0)
  if len(data) >= 1 << 31:
    raise ValueError('chunk too large')
  offsets = np.append(starts, min(len(buf), int(ends[-1]) + 1))
  lines = pa.Array.from_buffers(pa.string(), n, [
      None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)])
  shaped = as_mask(pc.match_substring_regex(lines, _SHAPE))
  idx = np.flatnonzero(shaped)
  ok_rows = np.zeros(0, np.int64)
  cols: Dict[str, pa.Array] = {}
  if len(idx):
    colons = np.flatnonzero(buf == 58)
    colons = colons[colons > 0]
    markers = colons[buf[colons - 1] == 34] - 1
    first = np.searchsorted(markers, starts[idx])
    last = np.searchsorted(markers, ends[idx])
    padded = np.concatenate([buf, np.zeros(_MAX_TOKEN + 8, np.uint8)])
    ok, cols = _shaped_columns(buf, padded, markers, first, last - first,
                               ends[idx] - 1, rates)
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
