"""File sink: results and top products as Parquet, dead letters as JSON Lines.

Under the output directory:
  sales_by_category.parquet   one row per window, scope and category
  top_products.parquet        top-N products per window
  dead_letters.jsonl          one JSON object per dead letter
Each is a single file (one shard), rewritten by every run. Meant for bounded
runs; a streaming run writes to a database or Kafka sink instead.

The directory is a path, never a pattern: Beam's file sink matches the final
names as a glob and deletes what matches before it renames its files into
place, so ``*``, ``?``, ``[``, ``]``, ``{`` or ``}`` in it would delete files
in other directories. Such a directory is refused (``check_output_dir``).
"""
from __future__ import annotations

import json
from typing import Dict

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from transforms.sinks.mined import MINED_TABLES, parquet_row
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
  glob character (Beam would delete whatever the pattern matches)."""
  text = str(output_dir or '')
  if not text.strip():
    raise ValueError('--output: empty directory name')
  found = sorted({c for c in text if c in GLOB_CHARACTERS})
  if found:
    raise ValueError(
        f'--output {text!r} holds glob characters ({" ".join(found)}) that '
        f'Beam\'s file sink would expand, deleting the files they match; '
        f'use a directory name without them')
  return text


def _parquet_row(row) -> Dict:
  out = result_dict(row)
  out['window_start'] = out.pop('window_start_ms')
  out['window_end'] = out.pop('window_end_ms')
  return out


def _one_file(output_dir: str, name: str) -> Dict:
  return dict(file_path_prefix=FileSystems.join(output_dir, name),
              num_shards=1, shard_name_template='')


class WriteOutputFiles(beam.PTransform):
  """{'results', 'top_products', 'dead_letters'} -> files in output_dir;
  each mined kind given (transforms/sinks/mined.py) -> <table>.parquet."""

  def __init__(self, output_dir: str) -> None:
    super().__init__()
    self._output_dir = check_output_dir(output_dir)

  def expand(self, outputs: Dict[str, beam.PCollection]) -> None:
    out = self._output_dir
    (outputs[RESULTS]
     | 'ResultsToDicts' >> beam.Map(_parquet_row)
     | 'WriteResultsParquet' >> beam.io.WriteToParquet(
         schema=RESULTS_SCHEMA, **_one_file(out, RESULTS_FILE)))
    (outputs[TOP_PRODUCTS]
     | 'TopProductsToDicts' >> beam.Map(_parquet_row)
     | 'WriteTopProductsParquet' >> beam.io.WriteToParquet(
         schema=TOP_PRODUCTS_SCHEMA, **_one_file(out, TOP_PRODUCTS_FILE)))
    (outputs[DEAD_LETTERS]
     | 'DeadLettersToJson' >> beam.Map(
         lambda d: json.dumps(dead_letter_dict(d), sort_keys=True))
     | 'WriteDeadLetters' >> beam.io.WriteToText(
         **_one_file(out, DEAD_LETTERS_FILE)))
    for kind, spec in MINED_TABLES.items():
      if kind in outputs:
        step = ''.join(p.title() for p in kind.split('_'))
        (outputs[kind]
         | f'{step}ToDicts' >> beam.Map(lambda r, k=kind: parquet_row(k, r))
         | f'Write{step}Parquet' >> beam.io.WriteToParquet(
             schema=mined_schema(kind),
             **_one_file(out, f'{spec.table}.parquet')))
