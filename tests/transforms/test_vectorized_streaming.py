"""Unit tests of the vectorized streaming engine's pieces
(transforms/vectorized/check.py, dedupe.py); the whole graph is tested in
tests/pipelines/test_streaming_semantics.py and, against a real broker, in
tests/integration/test_stream_equals_batch.py."""
import json
from decimal import Decimal

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import order
from transforms.lateness import LateDataRule
from transforms.parse import DEAD_LETTERS, ParseOrderFn
from transforms.records import RawRecord
from transforms.vectorized.batches import as_batch
from transforms.vectorized.check import CheckOrdersFn
from transforms.vectorized.dedupe import DedupeBucketFn
from transforms.vectorized.tables import table_from_bytes, table_to_bytes
from transforms.windowing import WindowPolicy

RATES = {'USD': Decimal('1'), 'EUR': Decimal('1.08'), 'GBP': Decimal('1.27')}


@settings(max_examples=300, deadline=None)
@given(t=st.integers(0, 4_000_000_000_000),
       kind=st.sampled_from(['fixed', 'sliding', 'sessions']),
       size=st.sampled_from([60, 600, 3600, 7200]),
       period=st.sampled_from([60, 300, 900, 1800]),
       lateness=st.sampled_from([0, 60, 3600]))
def test_expiry_of_an_array_is_the_policys_own_rule(t, kind, size, period,
                                                    lateness):
  if kind == 'sliding' and period > size:
    period = size
  policy = WindowPolicy(kind=kind, size_seconds=size, period_seconds=period,
                        gap_seconds=size, allowed_lateness_seconds=lateness,
                        bounded=False)
  times = np.array([t, t + 1, t - t % 1000, max(0, t - 1)], np.int64)
  assert policy.earliest_expiry_ms_array(times).tolist() == [
      policy.earliest_expiry_ms(int(x)) for x in times]


def _records(payloads, watermarks):
  return [RawRecord(p, 'orders', 3, 100 + i, w)
          for i, (p, w) in enumerate(zip(payloads, watermarks))]


def _record_path(records):
  fn = ParseOrderFn(late_rule=LateDataRule(WindowPolicy(bounded=False)))
  valid, dead = [], []
  for r in records:
    for out in fn.process(r, RATES):
      if getattr(out, 'tag', None) == DEAD_LETTERS:
        d = out.value
        dead.append((d.reason, d.source, d.partition, d.position, d.payload))
      else:
        valid.append(out.value.order_id)
  return sorted(valid), sorted(dead)


def _batch_path(records):
  fn = CheckOrdersFn(buckets=3, late_policy=WindowPolicy(bounded=False))
  batch = as_batch(records)
  valid, dead = [], []
  for out in fn.process(batch, RATES):
    if getattr(out, 'tag', None) == DEAD_LETTERS:
      d = out.value
      dead.append((d.reason, d.source, d.partition, d.position, d.payload))
    else:
      bucket, (data, _) = out
      assert 0 <= bucket < 3
      valid.extend(table_from_bytes(data)['order_id'].to_pylist())
  return sorted(valid), sorted(dead)


HOUR = 3_600_000


def test_a_batch_gives_the_record_paths_dead_letters_and_valid_orders():
  good = [json.dumps(order(order_id=f'o{i}', event_time=HOUR * 5 + i)).encode()
          for i in range(6)]
  payloads = good + [
      b'not json',
      json.dumps(order(currency='XXX')).encode(),
      json.dumps(order(order_id='old', event_time=HOUR)).encode(),  # late
      json.dumps(order(quantity=...)).encode(),
      b'{"order_id": "nl",\n "x": 1}',  # a newline inside one payload
  ]
  # Watermark 3 h: the 1 h order's window [1 h, 2 h) + 1 h lateness closed.
  watermarks = [None] * 6 + [3 * HOUR] * 5
  records = _records(payloads, watermarks)
  expected = _record_path(records)
  assert expected[0] == [f'o{i}' for i in range(6)]
  assert {d[0] for d in expected[1]} >= {'malformed', 'unknown_currency',
                                          'late'}
  assert _batch_path(records) == expected


def test_a_blank_payload_is_a_dead_letter_not_a_skipped_line():
  records = _records([b'', json.dumps(order(order_id='a')).encode(), b'  '],
                     [None] * 3)
  valid, dead = _batch_path(records)
  assert valid == ['a']
  assert [(d[0], d[3]) for d in dead] == [('malformed', 100),
                                          ('malformed', 102)]
  assert (valid, dead) == _record_path(records)


class _Value:
  def __init__(self):
    self.value = None
    self.reads = 0

  def read(self):
    self.reads += 1
    return self.value

  def write(self, value):
    self.value = value

  def clear(self):
    self.value = None


class _Bag:
  def __init__(self):
    self.items = []

  def read(self):
    return list(self.items)

  def add(self, item):
    self.items.append(item)

  def clear(self):
    self.items = []


class _Timer:
  def __init__(self):
    self.at = None

  def set(self, ts):
    self.at = ts


def _rows(ids, event_ms=HOUR * 5):
  n = len(ids)
  table = pa.table({
      'order_id': pa.array(ids, pa.string()),
      'customer_id': pa.array(['c'] * n), 'product_id': pa.array(['P1'] * n),
      'quantity': pa.array([1] * n, pa.int64()),
      'amount': pa.array([Decimal('2')] * n, pa.decimal128(38, 8)),
      'event_ms': pa.array([event_ms] * n, pa.int64()),
      'k': pa.array(range(n), pa.int64()),
      'exotic': pa.nulls(n, pa.int32())})
  return table_to_bytes(table, compress=False), b''


def _kept(fn, state, ids):
  seen, token, nxt, timer = state
  return sum(table.num_rows for table, _ in
             fn.process((1, _rows(ids)), seen, token, nxt, timer))


def test_dedupe_cache_never_outlives_the_stored_state():
  fn = DedupeBucketFn(3600)
  fn.setup()
  state = (_Bag(), _Value(), _Value(), _Timer())
  assert _kept(fn, state, ['a', 'b', 'a']) == 2  # 'a' twice in one batch
  assert _kept(fn, state, ['a', 'c']) == 1  # 'a' seen before
  assert state[3].at is not None  # an expiry timer is set
  # The runner restores the state of before the second element (a failure
  # and retry): the cache must not answer for ids the store does not have.
  state[0].items = state[0].items[:1]
  state[1].value = b'an older token'
  assert _kept(fn, state, ['c']) == 1
  # A second DoFn instance (another worker) builds its view from the store.
  other = DedupeBucketFn(3600)
  other.setup()
  assert _kept(other, state, ['a', 'b', 'c', 'd']) == 1


def test_the_next_compaction_is_read_only_when_the_cache_is_stale():
  fn = DedupeBucketFn(3600)
  fn.setup()
  seen, token, nxt, timer = state = (_Bag(), _Value(), _Value(), _Timer())
  _kept(fn, state, ['a'])
  first_due = nxt.value
  assert timer.at == first_due / 1000.0 and nxt.reads == 1
  _kept(fn, state, ['b'])  # same event time: nothing new to schedule
  assert nxt.reads == 1 and nxt.value == first_due
  # The runner restores a state whose compaction was never scheduled: the
  # token differs, so the stored value is read and the timer set again.
  token.value, nxt.value, timer.at = b'restored', None, None
  assert list(fn.process((1, _rows(['c'], event_ms=HOUR * 6)), seen, token,
                         nxt, timer))
  assert nxt.reads == 2 and timer.at is not None and nxt.value is not None
  # An earlier order lowers the stored compaction time, from the cache.
  list(fn.process((1, _rows(['d'], event_ms=HOUR * 2)), seen, token, nxt,
                  timer))
  assert nxt.reads == 2 and nxt.value < first_due


def test_counted_summary_has_the_sizes_of_the_exact_customer_sets():
  from transforms.vectorized.summaries import summary_of_partials
  from transforms.vectorized.partials import partial_tables
  catalog = {'P1': ('toys', 'Kite'), 'P2': ('books', 'Atlas')}
  policy = WindowPolicy(bounded=False)
  partials = []
  for customers, products in ((['a', 'b', 'a'], ['P1', 'P1', 'P2']),
                              (['b', 'c'], ['P2', 'P1'])):
    table = table_from_bytes(
        _rows([f'{c}{i}' for i, c in enumerate(customers)])[0])
    table = table.set_column(1, 'customer_id', pa.array(customers))
    table = table.set_column(2, 'product_id', pa.array(products))
    partials.extend(p for _, p in partial_tables(table, catalog, policy))
  exact = summary_of_partials(partials)
  counted = summary_of_partials(partials, customer_sets=False)
  # toys: a, b, c; books: a, b; all: a, b, c
  assert {k: len(v.customers) for k, v in exact.categories.items()} == {
      'toys': 3, 'books': 2}
  assert {k: len(v.customers) for k, v in counted.categories.items()} == {
      'toys': 3, 'books': 2}
  assert len(counted.total().customers) == len(exact.total().customers) == 3
  assert counted.total().orders == exact.total().orders == 5
