"""The common line shape of JSON Lines, cut into value spans.

Most lines of a JSON Lines file written by one producer share one shape: a
flat object of printable-ASCII strings and plain numbers with the schema's
keys in schema order. `SHAPE` accepts exactly those lines:

  {"order_id":V,"customer_id":V,"product_id":V,"quantity":V,
   "unit_price":V,"currency":V,"event_time":V[,"country":V][,"channel":S]}

V = a JSON string without escapes, of printable ASCII, not starting with ':'
    | a JSON number | null | true | false;  S = such a string.

In such a line each value's bytes are known without decoding it (string
values hold no quote, and a value that is a string does not start with ':',
so `":` occurs only where a key ends), and the value means what orjson/json
would decode it to. `scan_lines` gives every line's extent and, for the
lines of this shape, the span of each value: in C (`shape_scan.c`, built by
setup.py) when it is built, else by the regex and numpy
(`scan_lines_regex`), with the same result (tests/transforms/test_shape.py).
"""
from __future__ import annotations

from typing import NamedTuple, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.validate import FIELD_NAMES

try:  # the C scan (setup.py builds it; optional, like any compiler)
  from transforms.vectorized import shape_scan
except ImportError:  # not built: the regex below, same result
  shape_scan = None

_STR_BODY = r'[ !#-\[\]-~]'
_S = r'"(?:[ !#-9;-\[\]-~]' + _STR_BODY + r'*)?"'
_V = (r'(?:' + _S + r'|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?'
      r'|null|true|false)')
# The schema's required keys in schema order (country, optional, follows).
REQUIRED = FIELD_NAMES[:FIELD_NAMES.index('country')]
# The keys whose value spans a scan gives: the required ones and country.
SPANNED = REQUIRED + ('country',)
SHAPE = (r'^\{' + ','.join(f'"{k}":{_V}' for k in REQUIRED) +
         r'(?:,"country":' + _V + r')?(?:,"channel":' + _S + r')?\}\n?$')
_KEY_BYTES = tuple(k.encode() for k in SPANNED + ('channel',))

NATIVE = shape_scan is not None  # whether scan_lines runs in C


class Lines(NamedTuple):
  """A chunk's lines and the value spans of those of the common shape.

  starts, ends: every line's first byte and end (its newline, or the end of
  the data); rows: the indexes of the shaped lines, in order; begins,
  stops: (len(SPANNED), len(rows)): value j of shaped line rows[k] is
  data[begins[j, k]:stops[j, k]] (a JSON string with its quotes); a line
  without country has an empty span at its closing brace.
  """
  starts: np.ndarray
  ends: np.ndarray
  rows: np.ndarray
  begins: np.ndarray
  stops: np.ndarray


def scan_lines(data: bytes) -> Lines:
  """The chunk's Lines: in C when built, else `scan_lines_regex`."""
  if shape_scan is None:
    return scan_lines_regex(data)
  n = data.count(b'\n') + 1
  starts, ends, rows = (np.empty(n, np.int64) for _ in range(3))
  begins = np.empty((len(SPANNED), n), np.int64)
  stops = np.empty((len(SPANNED), n), np.int64)
  lines, shaped = shape_scan.scan(data, _KEY_BYTES, starts, ends, rows,
                                  begins, stops)
  return Lines(starts[:lines], ends[:lines], rows[:shaped],
               begins[:, :shaped], stops[:, :shaped])


def scan_lines_regex(data: bytes) -> Lines:
  """scan_lines by RE2 (`SHAPE`) and numpy: the exact fallback."""
  starts, ends = _line_extents(data)
  n = len(starts)
  empty = np.zeros((len(SPANNED), 0), np.int64)
  if n == 0:
    return Lines(starts, ends, np.zeros(0, np.int64), empty, empty)
  offsets = np.append(starts, min(len(data), int(ends[-1]) + 1))
  text = pa.Array.from_buffers(pa.string(), n, [
      None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)])
  rows = np.flatnonzero(pc.fill_null(
      pc.match_substring_regex(text, SHAPE), False).to_numpy(
          zero_copy_only=False))
  if len(rows) == 0:
    return Lines(starts, ends, rows, empty, empty)
  begins, stops = _spans(np.frombuffer(data, np.uint8), starts[rows],
                         ends[rows])
  return Lines(starts, ends, rows, begins, stops)


def _line_extents(data: bytes) -> Tuple[np.ndarray, np.ndarray]:
  buf = np.frombuffer(data, np.uint8)
  newlines = np.flatnonzero(buf == 10)
  starts = np.concatenate([[0], newlines + 1]).astype(np.int64)
  ends = np.append(newlines, len(buf)).astype(np.int64)
  if len(buf) == 0 or data.endswith(b'\n'):
    starts, ends = starts[:-1], ends[:-1]
  return starts, ends


def _spans(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray
           ) -> Tuple[np.ndarray, np.ndarray]:
  """The value spans of shaped lines from the positions of `":` (the
  closing quote of each key): a line's keys are markers[first:first +
  count]; its closing brace is at its end - 1."""
  colons = np.flatnonzero(buf == 58)
  colons = colons[colons > 0]
  markers = colons[buf[colons - 1] == 34] - 1
  first = np.searchsorted(markers, starts)
  count = np.searchsorted(markers, ends) - first
  close = ends - 1
  n_req = len(REQUIRED)
  key_at = [markers[first + j] for j in range(n_req)]
  has8 = count > n_req
  m8 = markers[np.where(has8, first + n_req, first)]
  country = has8 & (buf[m8 - 6] == ord('o'))  # "country" vs "channel"
  begins = np.empty((len(SPANNED), len(starts)), np.int64)
  stops = np.empty_like(begins)
  for j in range(n_req):
    begins[j] = key_at[j] + 2
  for j in range(n_req - 1):
    stops[j] = key_at[j + 1] - len(REQUIRED[j + 1]) - 2
  # After the last required value: ',"country":' or ',"channel":' (7-letter
  # keys both), or the closing brace.
  stops[n_req - 1] = np.where(has8, m8 - 9, close)
  after_country = np.where(
      count > n_req + 1,
      markers[np.minimum(first + n_req + 1, len(markers) - 1)] - 9, close)
  begins[n_req] = np.where(country, m8 + 2, close)
  stops[n_req] = np.where(country, after_country, close)
  return begins, stops

