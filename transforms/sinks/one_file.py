"""Output files, each written whole by one worker (bounded runs).

    {name: rows} -> global window -> (name, a bundle's rows, pickled)
                 + (name, no rows) -> GroupByKey -> encode a name's rows
                 -> write_atomically

Like Beam's file sink with one shard, every row of a file meets at one
worker; unlike it, no temp directory, no glob of the final name, no
finalize stages, and one shuffle for all the files (docs/performance.md,
"Third round": Beam's three file sinks cost about a second of every run).
The rows travel as one pickled list per bundle: a runner's flatten and
shuffle cost per element, and Beam codes a list of rows one row at a time
(one by one, 30,000 dead letters took the end of a 1M run from 0.31 to
0.57 s; performance.md, "Fourth round"). An empty list per name makes an
empty collection still write its (empty) file.
Each file is replaced whole: a reader finds the old or the new one
(transforms/sinks/atomic_file.py).
"""
from __future__ import annotations

import json
import pickle
from typing import (Any, BinaryIO, Callable, Dict, Iterable, List, NamedTuple,
                    Tuple)

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.transforms.window import GlobalWindows
from apache_beam.utils.windowed_value import WindowedValue

from transforms.sinks.atomic_file import write_atomically

Encode = Callable[[List[Any], BinaryIO], None]


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


class _BundleRowsFn(beam.DoFn):
  """Elements (in the global window) -> (name, the bundle's rows), once per
  bundle."""

  def __init__(self, name: str, to_row: Callable[[Any], Any]) -> None:
    self._name = name
    self._to_row = to_row
    self._rows: List[Any] = []

  def start_bundle(self) -> None:
    self._rows = []

  def process(self, element: Any) -> None:
    self._rows.append(self._to_row(element))

  def finish_bundle(self) -> Iterable[WindowedValue]:
    if self._rows:
      yield GlobalWindows.windowed_value(
          (self._name, pickle.dumps(self._rows, pickle.HIGHEST_PROTOCOL)))
    self._rows = []


class _WriteFilesFn(beam.DoFn):

  def __init__(self, files: Dict[str, OneFile]) -> None:
    self._files = files

  def process(self, grouped: Tuple[str, Iterable[bytes]]) -> Iterable[str]:
    name, batches = grouped
    spec = self._files[name]
    rows = [row for batch in batches for row in pickle.loads(batch)]
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
    batches = [elements[name]
               | f'GlobalWindow{name}' >> beam.WindowInto(GlobalWindows())
               | f'Rows{name}' >> beam.ParDo(
                   _BundleRowsFn(name, self._files[name].to_row)
               ).with_output_types(Tuple[str, bytes])
               for name in names]
    start = (elements[names[0]].pipeline
             | 'Impulse' >> beam.Impulse()
             | 'Start' >> beam.FlatMap(
                 lambda _, ns=tuple(names): [(n, pickle.dumps([]))
                                             for n in ns]
             ).with_output_types(Tuple[str, bytes]))
    return ((*batches, start)
            | 'WithStart' >> beam.Flatten()
            | 'Together' >> beam.GroupByKey()
            | 'Write' >> beam.ParDo(_WriteFilesFn(self._files)))
