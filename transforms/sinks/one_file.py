"""Output files, each written whole by one worker (bounded runs).

    {name: rows} -> global window -> (name, row), + (name, start marker)
                 -> GroupByKey -> encode a name's rows -> write_atomically

Like Beam's file sink with one shard, every row of a file meets at one
worker; unlike it, no temp directory, no glob of the final name, no
finalize stages, and one shuffle for all the files (docs/performance.md,
"Third round": Beam's three file sinks cost about a second of every run).
The start marker makes an empty collection still write its (empty) file.
Each file is replaced whole: a reader finds the old or the new one
(transforms/sinks/atomic_file.py).
"""
from __future__ import annotations

import json
from typing import (Any, BinaryIO, Callable, Dict, Iterable, List, NamedTuple,
                    Tuple)

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq

from transforms.sinks.atomic_file import write_atomically

Encode = Callable[[List[Any], BinaryIO], None]


class _Start:
  """The marker that reaches the writer even when there are no rows."""


def parquet_encoder(schema: pa.Schema) -> Encode:
  """Rows (dicts of the schema's fields) -> one Parquet file, not
  compressed (as Beam's WriteToParquet writes by default)."""

  def encode(rows: List[Dict], f: BinaryIO) -> None:
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), f,
                   compression='none')
  return encode


def json_lines_encoder(to_dict: Callable[[Any], Dict]) -> Encode:
  """Rows -> one JSON object per line (keys sorted)."""

  def encode(rows: List[Any], f: BinaryIO) -> None:
    for row in rows:
      f.write(json.dumps(to_dict(row), sort_keys=True).encode('utf-8'))
      f.write(b'\n')
  return encode


class OneFile(NamedTuple):
  """Where a collection goes: `path`, each element made a row by `to_row`,
  the rows encoded by `encode(rows, binary file)`."""
  path: str
  encode: Encode
  to_row: Callable[[Any], Any] = lambda element: element


class _WriteFilesFn(beam.DoFn):

  def __init__(self, files: Dict[str, OneFile]) -> None:
    self._files = files

  def process(self, grouped: Tuple[str, Iterable[Any]]) -> Iterable[str]:
    name, values = grouped
    spec = self._files[name]
    rows = [r for r in values if not isinstance(r, _Start)]
    write_atomically(spec.path, lambda f: spec.encode(rows, f))
    yield spec.path


class WriteWholeFiles(beam.PTransform):
  """{name: PCollection} -> for each name the file files[name] holding its
  rows (OneFile); yields each path once written. One shuffle for all the
  files, and few steps (each step of a graph costs the runner time)."""

  def __init__(self, files: Dict[str, OneFile]) -> None:
    super().__init__()
    self._files = dict(files)

  def expand(self, elements: Dict[str, beam.PCollection]
             ) -> beam.PCollection:
    names = sorted(self._files)
    keyed = [elements[name]
             | f'Rows{name}' >> beam.Map(
                 lambda e, n=name, to_row=self._files[name].to_row:
                 (n, to_row(e)))
             | f'GlobalWindow{name}' >> beam.WindowInto(
                 beam.window.GlobalWindows())
             for name in names]
    start = (elements[names[0]].pipeline
             | 'Impulse' >> beam.Impulse()
             | 'Start' >> beam.FlatMap(
                 lambda _, ns=tuple(names): [(n, _Start()) for n in ns]))
    return ((*keyed, start)
            | 'WithStart' >> beam.Flatten()
            | 'Together' >> beam.GroupByKey()
            | 'Write' >> beam.ParDo(_WriteFilesFn(self._files)))
