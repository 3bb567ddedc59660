"""Issue #14, item 2: no input record can fail a run, and the fast columnar
checks and the exact scalar rule give every such record the same reason and
detail (docs/semantics.md, 'Hostile values')."""
import json
from decimal import Decimal

import pytest

from tests import reference
from tests.helpers import order
from transforms.event_time import (MAX_EPOCH_MS, MIN_EPOCH_MS,
                                   WINDOW_HEADROOM_MS, format_utc_ms,
                                   parse_event_time_ms)
from transforms.parse import decode_payload, payload_text
from transforms.records import Order
from transforms.sinks.sqlite_sink import SQLiteDialect
from transforms.validate import Rejection, check_order
from transforms.vectorized.columns import check_chunk, prepare_rates
from transforms.vectorized.jsonl import check_jsonl_bytes

RATES = {'USD': Decimal(1), 'EUR': Decimal('1.1')}
BIG = '9' * 5000


def _line(**fields):
  """A JSON line; a value of RAW(text) is written into the line verbatim."""
  parts = []
  for key, value in order(**fields).items():
    text = value.text if isinstance(value, RAW) else json.dumps(value)
    parts.append(f'{json.dumps(key)}:{text}')
  return ('{' + ','.join(parts) + '}').encode()


class RAW:

  def __init__(self, text):
    self.text = text


# (line, reason): hostile values, each a dead letter with a reason.
HOSTILE = [
    (_line(quantity=BIG), 'out_of_range:quantity'),
    (_line(quantity=RAW(BIG)), 'out_of_range:quantity'),
    (_line(quantity=RAW('-' + BIG)), 'out_of_range:quantity'),
    (_line(quantity='0' * 5000 + '7'), None),  # leading zeros: it is 7
    (_line(quantity=RAW(str(2 ** 70))), 'out_of_range:quantity'),
    (_line(quantity=RAW(str(-2 ** 70))), 'out_of_range:quantity'),
    (_line(quantity=RAW(str(2 ** 64))), 'out_of_range:quantity'),
    (_line(quantity=str(2 ** 70)), 'out_of_range:quantity'),
    (_line(unit_price=RAW(BIG)), 'out_of_range:unit_price'),
    (_line(unit_price=RAW(str(2 ** 70))), 'out_of_range:unit_price'),
    (_line(event_time=BIG), 'bad_time'),
    (_line(event_time=RAW(BIG)), 'bad_time'),
    (_line(event_time=RAW(str(2 ** 70))), 'bad_time'),
    (_line(order_id=RAW('"\\ud800"')), 'bad_type:order_id'),
    (_line(customer_id=RAW('"c\\udfff-1"')), 'bad_type:customer_id'),
    (_line(product_id=RAW('"\\ud800P"')), 'bad_type:product_id'),
    (_line(currency=RAW('"\\ud800"')), 'unknown_currency'),
    (_line(country=RAW('"\\ud800"')), 'bad_type:country'),
    (_line(event_time=RAW('"\\ud800"')), 'bad_time'),
    (_line(quantity=RAW('"\\ud800"')), 'bad_type:quantity'),
    (_line(event_time='9999-12-31T23:59:59Z'), 'bad_time'),
    (_line(event_time='9999-12-31T23:59:59-01:00'), 'bad_time'),
    (_line(event_time='9998-12-31T23:59:59.999Z'), None),
    (_line(event_time='9999-01-01T00:00:00Z'), 'bad_time'),
    (_line(event_time='1969-12-31T23:59:59Z'), 'bad_time'),
    (_line(event_time='0001-01-01T00:00:00+01:00'), 'bad_time'),
    (_line(event_time='1970-01-01T00:00:00Z'), None),
    (_line(event_time=MAX_EPOCH_MS), None),
    (_line(event_time=MAX_EPOCH_MS + 1), 'bad_time'),
    (_line(event_time=str(MAX_EPOCH_MS + 1)), 'bad_time'),
    # a huge integer where a string belongs: its detail cannot repr() it
    (_line(currency=RAW(BIG)), 'bad_type:currency'),
    (_line(country=RAW(BIG)), 'bad_type:country'),
    (_line(country=RAW('[' + BIG + ']')), 'bad_type:country'),
    (_line(unit_price=RAW('[' + BIG + ']')), 'bad_type:unit_price'),
]


def _scalar(line):
  record = decode_payload(line)
  return check_order(record, RATES, 'f.jsonl', None, 1)


@pytest.mark.parametrize('line, reason', HOSTILE)
def test_hostile_values_get_a_reason(line, reason):
  result = _scalar(line)
  if reason is None:
    assert isinstance(result, Order)
  else:
    assert isinstance(result, Rejection) and result.reason == reason
    assert str(result.detail)  # a detail that can be printed


@pytest.mark.parametrize('line, reason', HOSTILE)
def test_the_reference_oracle_agrees(tmp_path, line, reason):
  path = tmp_path / 'one.jsonl'
  path.write_bytes(line + b'\n')
  ((_, payload),) = reference.read_payloads(str(path))
  fx = {'USD': Decimal(1), 'EUR': Decimal('1.1')}
  if reason is None:
    reference.validate(payload, fx)
  else:
    with pytest.raises(reference.Invalid) as failure:
      reference.validate(payload, fx)
    assert failure.value.reason == reason


def test_fast_paths_agree_with_the_scalar_rule_on_hostile_values():
  rates = prepare_rates(RATES)
  lines = [line for line, _ in HOSTILE]
  data = b'\n'.join(lines) + b'\n'
  expected = []
  for number, line in enumerate(lines, 1):
    result = _scalar(line)
    if isinstance(result, Rejection):
      expected.append((number, result.reason, result.detail))
  by_bytes = check_jsonl_bytes(data, 1, 'f.jsonl', 0, rates)
  assert sorted((d.position, d.reason, d.detail)
                for d in by_bytes.dead) == expected
  assert by_bytes.table.num_rows == len(lines) - len(expected)
  # Decoded records (dicts, as Avro/Parquet/CSV deliver them): surrogates
  # reach the columns themselves here.
  objs = [decode_payload(line) for line in lines]
  decoded = check_chunk(objs, list(range(1, len(lines) + 1)), objs, 'f.jsonl',
                        0, rates)
  assert sorted((d.position, d.reason, d.detail)
                for d in decoded.dead) == expected


def test_valid_event_times_leave_room_for_their_windows_in_every_store():
  assert parse_event_time_ms('1970-01-01T00:00:00Z') == MIN_EPOCH_MS
  assert parse_event_time_ms('9998-12-31T23:59:59.999Z') == MAX_EPOCH_MS
  # The end of a year-long window after the last valid time still formats.
  last = MAX_EPOCH_MS + WINDOW_HEADROOM_MS
  assert format_utc_ms(last) == '9999-12-31T23:59:59.999Z'
  assert SQLiteDialect().time(MAX_EPOCH_MS + 3_600_000) == (
      '9999-01-01T00:59:59.999Z')
  assert WINDOW_HEADROOM_MS >= 365 * 86_400_000  # 9999 is not a leap year


def test_a_huge_json_integer_decodes_fast_and_stays_out_of_range():
  record = decode_payload(b'{"quantity": ' + b'1' * 1_000_000 + b'}')
  assert record['quantity'].bit_length() > 3_000_000
  result = check_order(order(quantity=record['quantity']), RATES, 'f', None,
                       1)
  assert result.reason == 'out_of_range:quantity'
  assert 'bits' in payload_text(record)  # never raises, unlike json.dumps
