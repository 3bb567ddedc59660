"""Issue #14, item 8: pseudonymized customers (transforms/pseudonymize.py).

Expected pseudonyms come from Python's hmac module here, not from the code
under test; both parse paths (one record at a time, and columns of a batch)
must give the same pseudonyms and the same dead letters."""
import hashlib
import hmac
import json
import pickle
from decimal import Decimal

import pyarrow as pa
import pytest

from tests.helpers import order
from transforms.lateness import LateDataRule
from transforms.parse import DEAD_LETTERS, ParseOrderFn, dead_letter
from transforms.pseudonymize import (MIN_KEY_BYTES, PseudonymKeyError,
                                     Pseudonymizer, from_flag, load_key)
from transforms.records import DeadLetter, RawRecord
from transforms.vectorized.batches import as_batch
from transforms.validate import Rejection, check_order
from transforms.vectorized.check import CheckOrdersFn
from transforms.vectorized.tables import decode_part
from transforms.windowing import WindowPolicy

KEY = b'a test key of 32 bytes, not used'
RATES = {'USD': Decimal('1'), 'EUR': Decimal('1.08')}
HOUR = 3_600_000


def expected(customer_id, key=KEY):
  """The documented pseudonym, computed with hmac/hashlib directly."""
  digest = hmac.new(key, customer_id.encode('utf-8'), hashlib.sha256)
  return 'c_' + digest.hexdigest()[:32]


# --- the function ---------------------------------------------------------------

def test_one_is_a_truncated_hmac_sha256_of_the_id():
  p = Pseudonymizer(KEY)
  for customer in ('C000346', 'c-1', 'kund\u00e9 7', '0'):
    assert p.one(customer) == expected(customer)
    assert len(p.one(customer)) == 34
  assert Pseudonymizer(b'another key, also 32 bytes long!').one('C1') != (
      p.one('C1'))


def test_ids_of_a_column_equal_one_per_value():
  p = Pseudonymizer(KEY)
  values = ['C1', None, 'C2', 'C1', 'C3', 'C2']
  for column in (pa.array(values, pa.string()),
                 pa.chunked_array([values[:2], values[2:]], pa.string())):
    assert p.ids(column).to_pylist() == [
        None if v is None else expected(v) for v in values]
  assert p.ids(pa.array([], pa.string())).to_pylist() == []


def test_the_key_is_in_no_repr_and_survives_pickling():
  p = Pseudonymizer(KEY, 'env:SALES_KEY')
  assert repr(p) == 'Pseudonymizer(env:SALES_KEY)'
  assert KEY.decode() not in repr(p)
  assert pickle.loads(pickle.dumps(p)).one('C9') == expected('C9')


# --- the key ----------------------------------------------------------------------

def test_key_from_the_environment(monkeypatch):
  assert load_key('env:K', {'K': KEY.decode()}) == KEY
  monkeypatch.setenv('SALES_TEST_PSEUDO_KEY', KEY.decode())
  p = from_flag('env:SALES_TEST_PSEUDO_KEY')
  assert p.one('C1') == expected('C1')
  assert repr(p) == 'Pseudonymizer(env:SALES_TEST_PSEUDO_KEY)'
  assert from_flag('') is None


def test_key_from_a_private_file_drops_one_trailing_newline(tmp_path):
  path = tmp_path / 'key'
  for content in (KEY + b'\n', KEY + b'\r\n', KEY):
    path.write_bytes(content)
    path.chmod(0o600)
    assert load_key(f'file:{path}') == KEY
  path.write_bytes(KEY + b'\n\n')
  assert load_key(f'file:{path}') == KEY + b'\n'


@pytest.mark.parametrize('source, environ, mode, message', [
    ('env:K', {}, None, 'environment variable K is not set'),
    ('env:K', {'K': ''}, None, 'is empty'),
    ('env:K', {'K': 'short'}, None, f'shorter than {MIN_KEY_BYTES} bytes'),
    ('K', {}, None, 'must be env:NAME or file:PATH'),
    ('env:', {}, None, 'must be env:NAME or file:PATH'),
    ('vault:K', {}, None, 'must be env:NAME or file:PATH'),
    ('file', {}, 0o644, 'open to group or others'),
    ('file', {}, 0o640, 'open to group or others'),
    ('file-empty', {}, 0o600, 'is empty'),
    ('file-missing', {}, None, 'cannot read'),
])
def test_a_bad_key_source_is_one_line_without_the_key(tmp_path, source,
                                                      environ, mode, message):
  if source.startswith('file'):
    path = tmp_path / 'key'
    if source != 'file-missing':
      path.write_bytes(b'\n' if source == 'file-empty' else KEY)
      path.chmod(mode)
    source = f'file:{path}'
  with pytest.raises(PseudonymKeyError) as info:
    load_key(source, environ)
  text = str(info.value)
  assert message in text and '\n' not in text
  assert text.startswith('--pseudonymize_key')
  assert 'short' not in text.replace('shorter', '') and KEY.decode() not in text


# --- dead letters ------------------------------------------------------------------

def _letter(payload, reason='bad_time', detail='d'):
  return dead_letter(RawRecord(payload, 'f.jsonl', None, 7), reason, detail)


def test_a_json_objects_customer_is_replaced_like_a_valid_orders():
  p = Pseudonymizer(KEY)
  for value, raw in (('C42', 'C42'), ('  C42 ', 'C42'), (1234, '1234'),
                     ({'id': 'C42'}, '{"id": "C42"}')):
    payload = json.dumps(order(customer_id=value, event_time='soon'))
    letter = p.dead_letter(_letter(payload))
    record = json.loads(letter.payload)
    assert record['customer_id'] == expected(raw)
    assert {k: v for k, v in record.items() if k != 'customer_id'} == {
        k: v for k, v in json.loads(payload).items() if k != 'customer_id'}
    assert letter[:2] == ('bad_time', 'd') and letter[3:] == (
        'f.jsonl', None, 7)
  # A dict payload (Avro, Parquet, CSV) the same way.
  letter = p.dead_letter(_letter(order(customer_id=' C42')))
  assert json.loads(letter.payload)['customer_id'] == expected('C42')


def test_a_payload_without_a_customer_is_kept_as_it_is():
  p = Pseudonymizer(KEY)
  for value in (..., None, '', '   '):
    payload = json.dumps(order(customer_id=value))
    letter = _letter(payload, 'missing_field:customer_id')
    assert p.dead_letter(letter) == letter


def test_a_payload_that_is_not_a_json_object_is_redacted():
  p = Pseudonymizer(KEY)
  for payload in ('["o1","C000048","P0001",4]', "{'customer_id': 'C000178'}",
                  '{"customer_id": "C000178", ', '"C000178"', 'C000178',
                  b'\xff C000178', 'a,C000178,P1'):
    letter = p.dead_letter(_letter(payload, 'malformed'))
    assert 'C000178' not in letter.payload
    assert letter.payload.startswith('[redacted: not a JSON object; digest p_')
    # The same payload, the same marker: dead letters can still be matched.
    assert p.dead_letter(_letter(payload, 'malformed')) == letter


@pytest.mark.parametrize('fields', [
    {'customer_id': 7}, {'customer_id': ['CUST-SECRET']},
    {'customer_id': '\udcffCUST-SECRET'},
    {'quantity': 'x'}, {'quantity': 0}, {'unit_price': 'x'},
    {'currency': 'XXX'}, {'event_time': 'x'}, {'country': 'x'},
    {'order_id': 1}, {'product_id': None},
])
def test_no_rule_detail_names_the_customer(fields):
  record = order(**{'customer_id': 'CUST-SECRET', **fields})
  result = check_order(record, RATES, 'f', None, 1)
  assert isinstance(result, Rejection)
  assert 'CUST-SECRET' not in result.detail


# --- both parse paths ----------------------------------------------------------------

def _records():
  payloads = [json.dumps(order(order_id=f'o{i}', customer_id=f' C{i % 3} ',
                               event_time=HOUR * 5 + i)).encode()
              for i in range(6)]
  payloads += [
      # an exotic price: a valid row kept as a Python Order
      json.dumps(order(order_id='x', customer_id='C7',
                       unit_price='1.0000001', event_time=HOUR * 5)).encode(),
      b'["o9", "C8", "P1"]',
      b'{"order_id": "o10", "customer_id": "C9", ',
      json.dumps(order(order_id='o11', customer_id='C10',
                       currency='XXX')).encode(),
      json.dumps(order(order_id='old', customer_id='C11',
                       event_time=HOUR)).encode(),  # late
  ]
  watermarks = [None] * 7 + [3 * HOUR] * 4
  return [RawRecord(p, 'orders', 3, 100 + i, w)
          for i, (p, w) in enumerate(zip(payloads, watermarks))]


def _record_path(records, p):
  fn = ParseOrderFn(late_rule=LateDataRule(WindowPolicy(bounded=False)),
                    pseudonymizer=p)
  valid, dead = [], []
  for r in records:
    for out in fn.process(r, RATES):
      if getattr(out, 'tag', None) == DEAD_LETTERS:
        dead.append(tuple(out.value))
      else:
        valid.append((out.value.order_id, out.value.customer_id))
  return sorted(valid), sorted(dead)


def _batch_path(records, p):
  fn = CheckOrdersFn(buckets=3, late_policy=WindowPolicy(bounded=False),
                     pseudonymizer=p)
  batch = as_batch(records)
  valid, dead = [], []
  for out in fn.process(batch, RATES):
    if getattr(out, 'tag', None) == DEAD_LETTERS:
      dead.append(tuple(out.value))
    else:
      table, orders = decode_part(out[1])
      valid.extend(zip(table['order_id'].to_pylist(),
                       table['customer_id'].to_pylist()))
      # An exotic row's Order carries the table row's customer.
      valid.extend((o.order_id, '(exotic) ' + o.customer_id) for o in orders)
  return sorted(valid), sorted(dead)


def test_both_parse_paths_give_the_same_pseudonyms_and_dead_letters():
  records = _records()
  p = Pseudonymizer(KEY)
  valid, dead = _record_path(records, p)
  assert valid == sorted([(f'o{i}', expected(f'C{i % 3}')) for i in range(6)]
                         + [('x', expected('C7'))])
  batch_valid, batch_dead = _batch_path(records, p)
  assert batch_dead == dead
  assert batch_valid == sorted(valid + [('x', '(exotic) ' + expected('C7'))])
  assert sorted(d[0] for d in dead) == ['late', 'malformed', 'malformed',
                                        'unknown_currency']
  text = repr((valid, dead))
  for i in range(12):
    assert f'"C{i}"' not in text and f"'C{i}'" not in text and (
        f' C{i} ' not in text)
  by_reason = {d[0]: DeadLetter(*d) for d in dead}
  assert json.loads(by_reason['late'].payload)['customer_id'] == (
      expected('C11'))
  assert json.loads(by_reason['unknown_currency'].payload)[
      'customer_id'] == expected('C10')
  # Without a key, nothing changes: the raw ids, on both paths.
  plain_valid, plain_dead = _record_path(records, None)
  assert ('o0', 'C0') in plain_valid
  assert _batch_path(records, None) == (
      sorted(plain_valid + [('x', '(exotic) C7')]), plain_dead)
