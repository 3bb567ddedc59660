"""The file source: every format, gzip, positions, malformed CSV rows."""
import csv
import gzip
import json

import apache_beam as beam
import fastavro
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.helpers import order
from transforms.sources.files import (InputError, ReadOrderFiles,
                                      detect_format, expand_patterns)
from transforms.validate import SCHEMA_PATH

ROWS = [order(order_id='a'), order(order_id='b', quantity='7')]


def check_read(patterns, expected, input_format=''):
  """Runs the source and asserts (basename, position, id, decode_error)."""
  with TestPipeline(runner='FnApiRunner') as p:
    out = p | ReadOrderFiles(patterns, input_format) | beam.Map(
        lambda r: (r.source.rsplit('/', 1)[-1], r.position,
                   _ident(r.payload), r.decode_error is not None))
    assert_that(out, equal_to(expected))


def _ident(payload):
  if isinstance(payload, bytes):
    return json.loads(payload)['order_id']
  if isinstance(payload, dict):
    return payload['order_id']
  return payload


def test_jsonl_positions_skip_blank_lines_and_gzip(tmp_path):
  text = json.dumps(ROWS[0]) + '\n\n' + json.dumps(ROWS[1]) + '\n'
  (tmp_path / 'a.jsonl').write_text(text)
  with gzip.open(tmp_path / 'b.jsonl.gz', 'wt') as f:
    f.write(text)
  check_read([str(tmp_path / '*.jsonl*')], [
      ('a.jsonl', 1, 'a', False), ('a.jsonl', 3, 'b', False),
      ('b.jsonl.gz', 1, 'a', False), ('b.jsonl.gz', 3, 'b', False)])


def test_csv_rows_and_malformed_rows_keep_their_line(tmp_path):
  path = tmp_path / 'o.csv'
  with open(path, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(list(ROWS[0]))
    writer.writerow(list(ROWS[0].values()))
    f.write('x,y\n')  # wrong number of fields
    writer.writerow(list(ROWS[1].values()))
  check_read([str(path)], [('o.csv', 2, 'a', False),
                           ('o.csv', 3, 'x,y', True),
                           ('o.csv', 4, 'b', False)])


def test_avro_and_parquet_records_are_numbered(tmp_path):
  with open(SCHEMA_PATH) as f:
    schema = fastavro.parse_schema(json.load(f))
  with open(tmp_path / 'o.avro', 'wb') as f:
    fastavro.writer(f, schema, [dict(ROWS[0], quantity=2),
                                dict(ROWS[1], quantity=7)])
  table = pa.Table.from_pylist([{k: str(v) for k, v in r.items()}
                                for r in ROWS])
  pq.write_table(table, tmp_path / 'o.parquet')
  check_read([str(tmp_path / 'o.avro'), str(tmp_path / 'o.parquet')], [
      ('o.avro', 1, 'a', False), ('o.avro', 2, 'b', False),
      ('o.parquet', 1, 'a', False), ('o.parquet', 2, 'b', False)])


def test_gzip_csv_avro_and_parquet_read_like_the_plain_files(tmp_path):
  test_csv_rows_and_malformed_rows_keep_their_line(tmp_path)
  test_avro_and_parquet_records_are_numbered(tmp_path)
  for name in ('o.csv', 'o.avro', 'o.parquet'):
    with open(tmp_path / name, 'rb') as src, gzip.open(
        tmp_path / (name + '.gz'), 'wb') as dst:
      dst.write(src.read())
  check_read([str(tmp_path / '*.gz')], [
      ('o.csv.gz', 2, 'a', False), ('o.csv.gz', 3, 'x,y', True),
      ('o.csv.gz', 4, 'b', False),
      ('o.avro.gz', 1, 'a', False), ('o.avro.gz', 2, 'b', False),
      ('o.parquet.gz', 1, 'a', False), ('o.parquet.gz', 2, 'b', False)])


def test_format_flag_overrides_the_extension(tmp_path):
  (tmp_path / 'orders.txt').write_text(json.dumps(ROWS[0]) + '\n')
  check_read([str(tmp_path / 'orders.txt')], [('orders.txt', 1, 'a', False)],
             'jsonl')


def test_format_detection_and_missing_files(tmp_path):
  assert detect_format('x/y.CSV.gz') == 'csv'
  assert detect_format('y.ndjson') == 'jsonl'
  with pytest.raises(InputError):
    detect_format('y.xml')
  with pytest.raises(InputError, match='no input file matches'):
    expand_patterns([str(tmp_path / '*.jsonl')])
