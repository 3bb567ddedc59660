"""Property tests: arbitrary bytes and JSON never crash the parser, and
every record comes out exactly once, as an order or as a dead letter."""
import json
from decimal import Decimal

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import BASE_ORDER
from transforms.parse import DEAD_LETTERS, VALID, ParseOrderFn, ParseOrders
from transforms.records import DeadLetter, Order, RawRecord

RATES = {'USD': Decimal(1), 'EUR': Decimal('1.1')}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() |
    st.floats(allow_nan=True, allow_infinity=True) | st.text(),
    lambda children: st.lists(children, max_size=4) |
    st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12)

# Orders whose fields are each replaced by an arbitrary JSON value, so the
# field rules are exercised, not just the JSON decoder.
mutated_orders = st.fixed_dictionaries({
    name: st.one_of(st.just(value), json_values)
    for name, value in BASE_ORDER.items()
})

payloads = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    mutated_orders.map(lambda v: json.dumps(v).encode()),
    mutated_orders,  # decoded dicts, as Avro/Parquet/CSV deliver them
)


def outcome(element):
  value = getattr(element, 'value', element)
  if isinstance(element, beam.pvalue.TaggedOutput):
    assert element.tag == DEAD_LETTERS
    assert isinstance(value, DeadLetter)
    assert value.reason
    return 'dead'
  assert isinstance(value, Order)
  return 'valid'


@settings(max_examples=400, deadline=None)
@given(payloads)
def test_one_record_in_exactly_one_outcome_out(payload):
  fn = ParseOrderFn()
  outputs = list(fn.process(RawRecord(payload, 'p', None, 1), RATES))
  assert len(outputs) == 1
  outcome(outputs[0])


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(payloads, min_size=1, max_size=40))
def test_the_pipeline_accounts_for_every_record(batch):
  records = [RawRecord(p, 'p', None, i) for i, p in enumerate(batch, 1)]
  with TestPipeline(runner='FnApiRunner') as p:
    fx = beam.pvalue.AsDict(p | 'Fx' >> beam.Create(sorted(RATES.items())))
    parsed = (p | beam.Create(records, reshuffle=False)
              | ParseOrders(fx))
    positions = ((parsed[VALID] | 'ValidPos' >> beam.Map(lambda o: o.position),
                  parsed[DEAD_LETTERS] | 'DeadPos' >> beam.Map(
                      lambda d: d.position))
                 | beam.Flatten())
    assert_that(positions, equal_to(list(range(1, len(batch) + 1))))


# --- every format, both paths: the fast checks and the exact rule agree -------

HOSTILE_TEXT = st.sampled_from([
    '9' * 5000, '0' * 5000 + '7', str(2 ** 70), str(-2 ** 64), '\ud800',
    'c\udfff', '9999-12-31T23:59:59Z', '9999-12-31T23:59:59-01:00',
    '9998-12-31T23:59:59.999Z', '1969-12-31T23:59:59Z', '253370764799999',
    '253370764800000', ' 7 ', '+3', '1e3', 'NaN', '', ' ', 'usd', '\x00',
])
HOSTILE_JSON = st.sampled_from([
    '9' * 5000, str(2 ** 70), str(-2 ** 70), str(2 ** 64), '"\\ud800"',
    '"c\\udfff"', '1e400', 'NaN', '-0', '3.0', '"9999-12-31T23:59:59Z"',
    '253370764799999', '253370764800000', 'null', 'true', '[]', '{}',
])
text_values = st.one_of(st.text(max_size=12), HOSTILE_TEXT)
# CSV, Avro and Parquet rows: every field a string (or absent/null).
text_orders = st.fixed_dictionaries({
    name: st.one_of(st.just(str(value)), text_values)
    for name, value in BASE_ORDER.items()
})


def _exact(record, rates):
  from transforms.validate import Rejection, check_order
  result = check_order(record, rates, 's', None, 1)
  return ((result.reason, result.detail) if isinstance(result, Rejection)
          else ('valid', result.order_id, result.quantity, result.unit_price,
                result.event_time_ms))


def _fast(objs, payloads, rates):
  """Each record's outcome by check_chunk: (reason, detail) or valid."""
  from transforms.vectorized.columns import check_chunk, prepare_rates
  checked = check_chunk(objs, list(range(len(objs))), payloads, 's', 0,
                        prepare_rates(rates))
  out = {d.position: (d.reason, d.detail) for d in checked.dead}
  table = checked.table.to_pylist()
  for row in table:
    i = row['k'] & ((1 << 40) - 1)
    out[i] = ('valid', row['order_id'], row['quantity'],
              row['price'] if row['exotic'] is None else
              checked.exotic[row['exotic']].unit_price, row['event_ms'])
  return [out[i] for i in range(len(objs))]


def _unicode(text):
  try:
    text.encode('utf-8')
  except UnicodeEncodeError:
    return False
  return True


def _write(fmt, rows, path):
  """rows (dicts of str) to a file of the format, as a producer would."""
  import csv
  import fastavro
  import pyarrow as pa
  import pyarrow.parquet as pq
  names = list(BASE_ORDER)
  if fmt == 'csv':
    with open(path, 'w', encoding='utf-8-sig', newline='') as f:
      writer = csv.writer(f)
      writer.writerow(names)
      for row in rows:
        writer.writerow([row[n] for n in names])
  elif fmt == 'avro':
    schema = {'type': 'record', 'name': 'O', 'fields': [
        {'name': n, 'type': ['null', 'string']} for n in names]}
    with open(path, 'wb') as f:
      fastavro.writer(f, schema, rows)
  else:
    pq.write_table(pa.Table.from_pylist(
        rows, schema=pa.schema([(n, pa.string()) for n in names])), path)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(['csv', 'avro', 'parquet']),
       st.lists(text_orders, min_size=1, max_size=12))
def test_files_of_every_format_agree_on_both_paths(fmt, rows):
  """Generated rows written as CSV, Avro or Parquet, read back by the file
  source: the fast checks and check_order give every record the same
  outcome (reason and detail, or the same valid values)."""
  import os
  import tempfile
  from transforms.sources.files import read_file_records
  # A file holds Unicode text (a lone surrogate cannot be written) and, in
  # CSV, no NUL or bare line breaks inside an unquoted field's meaning.
  rows = [{k: (v if _unicode(v) else 'x') for k, v in r.items()}
          for r in rows]
  with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, 'in.' + fmt)
    _write(fmt, rows, path)
    records = list(read_file_records(path, fmt))
  objs = [r.payload for r in records if r.decode_error is None]
  assert _fast(objs, objs, RATES) == [_exact(o, RATES) for o in objs]


json_orders = st.fixed_dictionaries({
    name: st.one_of(st.just(json.dumps(value)), HOSTILE_JSON,
                    json_values.map(json.dumps))
    for name, value in BASE_ORDER.items()
})


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(json_orders, min_size=1, max_size=12))
def test_json_lines_agree_on_the_byte_path_the_decoded_path_and_the_rule(
    orders):
  from transforms.parse import decode_payload
  from transforms.validate import Rejection, check_order
  from transforms.vectorized.columns import prepare_rates
  from transforms.vectorized.jsonl import (check_jsonl_bytes,
                                           check_jsonl_decoded)
  lines = [('{' + ','.join(f'"{k}":{v}' for k, v in o.items()) + '}').encode()
           for o in orders]
  rates = prepare_rates(RATES)
  checked = check_jsonl_bytes(b'\n'.join(lines) + b'\n', 1, 's', 0, rates)
  dead = sorted((d.position, d.reason, d.detail) for d in checked.dead)
  expected = []
  for number, line in enumerate(lines, 1):
    try:
      result = check_order(decode_payload(line), RATES, 's', None, number)
    except (ValueError, RecursionError) as e:
      result = Rejection('malformed', str(e)[:200])
    if isinstance(result, Rejection):
      expected.append((number, result.reason, result.detail))
  assert dead == expected
  assert checked.table.num_rows == len(lines) - len(expected)
  decoded = check_jsonl_decoded(b'\n'.join(lines) + b'\n', 1, 's', 0, rates)
  rows = lambda t: t.sort_by('k').drop_columns(['exotic'])
  assert rows(checked.table).equals(rows(decoded.table))
