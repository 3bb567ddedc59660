"""File sink: results and top products as Parquet, dead letters as JSON Lines.

Under the output directory:
  sales_by_category.parquet   one row per window, scope and category
  top_products.parquet        top-N products per window
  dead_letters.jsonl          one JSON object per dead letter
Each is a single file replaced whole by every run (one_file.py). Meant for
bounded runs; a streaming run writes to a database or Kafka sink instead.

The directory is a path, never a pattern: ``*``, ``?``, ``[``, ``]``, ``{``
and ``}`` make a path a glob to Beam's FileSystems (as --input uses them),
and Beam's own file sink, which wrote these files before one_file.py, deleted
whatever such a name matched. A directory holding them is refused
(``check_output_dir``).
"""
from __future__ import annotations

import functools
from typing import Dict

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from transforms.sinks.mined import MINED_TABLES, parquet_row
from transforms.sinks.one_file import (OneFile, WriteWholeFiles,
                                       json_lines_encoder, parquet_encoder)
from transforms.sinks.rows import (DEAD_LETTERS, RESULTS, TABLE_NAMES,
                                   TOP_PRODUCTS, dead_letter_dict, result_dict)

_MONEY = pa.decimal128(20, 2)
_WINDOW_FIELDS = [
    ('window_start', pa.timestamp('ms', tz='UTC')),
    ('window_end', pa.timestamp('ms', tz='UTC')),
    ('customer_id', pa.string()),
    ('day', pa.string()),  # local YYYY-MM-DD of window_start (--timezone)
]
_PANE_FIELDS = [
    ('pane_timing', pa.string()),
    ('pane_index', pa.int64()),
    ('is_final', pa.bool_()),
]
RESULTS_SCHEMA = pa.schema(_WINDOW_FIELDS + [
    ('category', pa.string()),
    ('rank', pa.int64()),  # by revenue within the window; null for __all__
    ('orders', pa.int64()),
    ('units', pa.int64()),
    ('revenue_usd', _MONEY),
    ('distinct_customers', pa.int64()),
    ('avg_order_value_usd', _MONEY),
] + _PANE_FIELDS)
TOP_PRODUCTS_SCHEMA = pa.schema(_WINDOW_FIELDS + [
    ('rank', pa.int64()),
    ('product_id', pa.string()),
    ('product_name', pa.string()),
    ('category', pa.string()),
    ('orders', pa.int64()),
    ('units', pa.int64()),
    ('revenue_usd', _MONEY),
] + _PANE_FIELDS)

RESULTS_FILE = f'{TABLE_NAMES[RESULTS]}.parquet'
TOP_PRODUCTS_FILE = f'{TABLE_NAMES[TOP_PRODUCTS]}.parquet'
DEAD_LETTERS_FILE = f'{TABLE_NAMES[DEAD_LETTERS]}.jsonl'
OUTPUT_FILES = (RESULTS_FILE, TOP_PRODUCTS_FILE, DEAD_LETTERS_FILE)
# Parquet types of the mined tables' logical types (transforms/sinks/mined.py)
_ARROW_TYPES = {'time': pa.timestamp('ms', tz='UTC'), 'text': pa.string(),
                'bigint': pa.int64(), 'float': pa.float64(), 'money': _MONEY,
                'bool': pa.bool_()}


def mined_schema(kind: str) -> pa.Schema:
  return pa.schema([(name, _ARROW_TYPES[logical])
                    for name, logical in MINED_TABLES[kind].types.items()])

# Characters a glob (Beam's FileSystems.match: fnmatch, and braces on some
# file systems) gives a meaning to.
GLOB_CHARACTERS = '*?[]{}'


def check_output_dir(output_dir: str) -> str:
  """Returns output_dir, or raises ValueError if it is empty or holds a
  glob character (module docstring)."""
  text = str(output_dir or '')
  if not text.strip():
    raise ValueError('--output: empty directory name')
  found = sorted({c for c in text if c in GLOB_CHARACTERS})
  if found:
    raise ValueError(
        f'--output {text!r} holds glob characters ({" ".join(found)}), '
        f'which make it a pattern, not a directory; use a directory name '
        f'without them')
  return text


def _parquet_row(row) -> Dict:
  out = result_dict(row)
  out['window_start'] = out.pop('window_start_ms')
  out['window_end'] = out.pop('window_end_ms')
  return out


class WriteOutputFiles(beam.PTransform):
  """{'results', 'top_products', 'dead_letters'} -> files in output_dir;
  each mined kind given (transforms/sinks/mined.py) -> <table>.parquet."""

  def __init__(self, output_dir: str) -> None:
    super().__init__()
    self._output_dir = check_output_dir(output_dir)

  def expand(self, outputs: Dict[str, beam.PCollection]) -> None:
    def path(name: str) -> str:
      return FileSystems.join(self._output_dir, name)

    files = {
        RESULTS: OneFile(path(RESULTS_FILE), parquet_encoder(RESULTS_SCHEMA),
                         _parquet_row),
        TOP_PRODUCTS: OneFile(path(TOP_PRODUCTS_FILE),
                              parquet_encoder(TOP_PRODUCTS_SCHEMA),
                              _parquet_row),
        DEAD_LETTERS: OneFile(path(DEAD_LETTERS_FILE),
                              json_lines_encoder(dead_letter_dict)),
    }
    for kind, spec in MINED_TABLES.items():
      if kind in outputs:
        files[kind] = OneFile(path(f'{spec.table}.parquet'),
                              parquet_encoder(mined_schema(kind)),
                              functools.partial(parquet_row, kind))
    ({name: outputs[name] for name in files}
     | 'WriteFiles' >> WriteWholeFiles(files))
