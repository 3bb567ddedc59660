"""transforms/sinks/one_file.py: one file per collection, written once,
whole, even when empty or windowed, the files apart."""
import json

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.transforms import window

from transforms.sinks.one_file import (OneFile, WriteWholeFiles,
                                       json_lines_encoder, parquet_encoder)

SCHEMA = pa.schema([('k', pa.string()), ('v', pa.int64())])


def test_an_empty_collection_still_writes_its_file(tmp_path):
  path = str(tmp_path / 'sub' / 'empty.jsonl')
  other = str(tmp_path / 'other.jsonl')
  with beam.Pipeline() as p:
    _ = ({'empty': p | 'None' >> beam.Create([]).with_output_types(dict),
          'other': p | 'Two' >> beam.Create([{'a': 1}, {'a': 2}])}
         | WriteWholeFiles({'empty': OneFile(path, json_lines_encoder(dict)),
                            'other': OneFile(other, json_lines_encoder(dict),
                                             lambda r: {'b': r['a']})}))
  assert open(path, 'rb').read() == b''
  assert sorted(open(other).read().splitlines()) == ['{"b": 1}', '{"b": 2}']


def test_rows_of_many_windows_land_in_one_file_written_once(tmp_path):
  path = str(tmp_path / 'rows.parquet')
  rows = [{'k': f'r{i}', 'v': i} for i in range(50)]
  with beam.Pipeline() as p:
    windowed = (p | beam.Create(rows)
                | beam.Map(lambda r: window.TimestampedValue(r, r['v'] * 60))
                | beam.WindowInto(window.FixedWindows(60)))
    written = ({'rows': windowed}
               | WriteWholeFiles({'rows': OneFile(path,
                                                  parquet_encoder(SCHEMA))}))
    _ = written | beam.combiners.Count.Globally() | beam.Map(
        lambda n: json.dump(n, open(str(tmp_path / 'count'), 'w')))
  table = pq.read_table(path)
  assert table.schema.equals(SCHEMA)
  assert sorted(table.to_pylist(), key=lambda r: r['v']) == rows
  assert json.load(open(str(tmp_path / 'count'))) == 1
  assert sorted(p.name for p in tmp_path.iterdir()) == ['count',
                                                       'rows.parquet']


def test_a_failed_encoding_leaves_the_old_file_and_no_temp(tmp_path):
  path = tmp_path / 'rows.jsonl'
  path.write_text('old\n')

  def broken(row):
    raise ValueError('no')
  try:
    with beam.Pipeline() as p:
      _ = ({'rows': p | beam.Create([{'a': 1}])}
           | WriteWholeFiles({'rows': OneFile(str(path),
                                              json_lines_encoder(broken))}))
  except Exception:  # pylint: disable=broad-except
    pass
  else:
    raise AssertionError('the run should have failed')
  assert path.read_text() == 'old\n'
  assert [p.name for p in tmp_path.iterdir()] == ['rows.jsonl']
