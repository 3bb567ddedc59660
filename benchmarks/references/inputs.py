"""Reading the inputs of a reference run: the FX rates (exact, scaled
integers), the catalog, and the JSON Lines file, either decoded in Python
into per-field type tags and texts (polars and pandas) or split into an
Arrow table of lines (DuckDB)."""
from __future__ import annotations

import csv
import json
from decimal import Decimal
from typing import Any, Dict, List, Tuple

from benchmarks.references.contract import FIELDS, RATE_SCALE, Unsupported


def load_rates(path: str) -> Dict[str, int]:
  """currency -> rate scaled by 10**RATE_SCALE (exact)."""
  out = {}
  with open(path, newline='', encoding='utf-8') as f:
    for row in csv.DictReader(f):
      rate = Decimal(row['usd_per_unit'].strip()).scaleb(RATE_SCALE)
      if rate != rate.to_integral_value():
        raise Unsupported('FX rate with more than 8 decimals')
      out[row['currency'].strip().upper()] = int(rate)
  return out


def load_catalog(path: str) -> Dict[str, str]:
  with open(path, newline='', encoding='utf-8') as f:
    return {row['product_id'].strip(): (row['category'] or '').strip()
            or 'unknown' for row in csv.DictReader(f)}


def read_lines(path: str) -> List[Tuple[int, bytes]]:
  with open(path, 'rb') as f:
    data = f.read()
  out = []
  for number, line in enumerate(data.split(b'\n'), start=1):
    if line.strip():
      out.append((number, line))
  return out


def decode_fields(path: str) -> Dict[str, List[Any]]:
  """Per line: position, malformed flag, and per field a type tag and text.

  Tags: absent, null, str, int, float, bool, other. Text: the string, or the
  number as Python prints it (str(int), repr(float)), else None.
  """
  cols: Dict[str, List[Any]] = {'pos': [], 'malformed': []}
  for f in FIELDS:
    cols[f + '_t'] = []
    cols[f + '_v'] = []
  loads = json.loads
  for number, line in read_lines(path):
    try:
      obj = loads(line.decode('utf-8'))
    except (ValueError, RecursionError):
      obj = None
    cols['pos'].append(number)
    is_obj = isinstance(obj, dict)
    cols['malformed'].append(not is_obj)
    for f in FIELDS:
      v = obj.get(f, _ABSENT) if is_obj else _ABSENT
      if v is _ABSENT:
        tag, text = 'absent', None
      elif v is None:
        tag, text = 'null', None
      elif isinstance(v, bool):
        tag, text = 'bool', None
      elif isinstance(v, str):
        tag, text = 'str', v
      elif isinstance(v, int):
        tag, text = 'int', str(v)
      elif isinstance(v, float):
        tag, text = 'float', repr(v)
      else:
        tag, text = 'other', None
      cols[f + '_t'].append(tag)
      cols[f + '_v'].append(text)
  return cols


_ABSENT = object()


def arrow_lines(path: str):
  """(pos, line) of every line of a file as an Arrow table (numpy split;
  the lines are views of one buffer, without their newline)."""
  import numpy as np
  import pyarrow as pa
  import pyarrow.compute as pc
  with open(path, 'rb') as f:
    data = f.read()
  nl = np.flatnonzero(np.frombuffer(data, np.uint8) == 10)
  starts = np.concatenate([[0], nl + 1])
  if len(data) and data.endswith(b'\n'):
    starts = starts[:-1]
  offsets = np.append(starts, len(data)).astype(np.int64)
  lines = pa.Array.from_buffers(pa.large_binary(), len(starts),
                                [None, pa.py_buffer(offsets),
                                 pa.py_buffer(data)])
  text = pc.replace_substring_regex(pc.cast(lines, pa.large_string()),
                                    '\n$', '')
  return pa.table({'pos': np.arange(1, len(starts) + 1), 'line': text})
