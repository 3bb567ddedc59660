"""The vectorized (Arrow) batch engine gives exactly the record path's output.

Both graphs run in-process on the same input and configuration; the result
rows (with their exact, unrounded Decimal revenue), the top products and the
dead letters (reason, detail, payload, source, position) must be identical.
"""
import json
import os
import pickle
from decimal import Decimal

import apache_beam as beam
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.sales import build_sales_graph
from pipelines.wiring import source_for
from tests.helpers import config
from tools.generate_orders import write_orders
from transforms.sources.files import expand_patterns
from transforms.vectorized.chunks import DEFAULT_CHUNK_BYTES, ReadOrderChunks
from transforms.vectorized.tables import bucket_of

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
SAMPLE = os.path.join(ROOT, 'data', 'sample', 'orders.jsonl')


class _Capture(beam.PTransform):
  """Writes each output PCollection, as a pickled sorted list, to a file."""

  def __init__(self, directory):
    super().__init__()
    self._directory = directory

  def expand(self, outputs):
    for name, pcoll in outputs.items():
      path = os.path.join(self._directory, name + '.pickle')
      (pcoll
       | f'Global{name}' >> beam.WindowInto(beam.window.GlobalWindows())
       | f'List{name}' >> beam.combiners.ToList()
       | f'Write{name}' >> beam.Map(_dump, path))


def _dump(rows, path):
  with open(path, 'wb') as f:
    pickle.dump(sorted(rows, key=repr), f)


def _run(builder, flags, directory, chunk_bytes=None, **kwargs):
  os.makedirs(directory, exist_ok=True)
  cfg = config(tuple(flags) + ('--output', ''))
  source = source_for(cfg)
  if chunk_bytes is not None:
    source = ReadOrderChunks(expand_patterns(cfg.inputs), cfg.input_format,
                             chunk_bytes or DEFAULT_CHUNK_BYTES)
  with beam.Pipeline(options=PipelineOptions(['--runner=FnApiRunner'])) as p:
    builder(p, cfg, source, [('Capture', _Capture(directory))], **kwargs)
  out = {}
  for name in ('results', 'top_products', 'dead_letters'):
    with open(os.path.join(directory, name + '.pickle'), 'rb') as f:
      out[name] = pickle.load(f)
  return out


def _assert_same(tmp_path, flags, **kwargs):
  records = _run(build_sales_graph, flags + ('--engine=records',),
                 str(tmp_path / 'records'))
  arrow = _run(build_sales_graph, flags + ('--engine=arrow',),
               str(tmp_path / 'arrow'), chunk_bytes=kwargs.pop(
                   'chunk_bytes', 0), **kwargs)
  assert records['results'], 'no result rows: the test input is wrong'
  for name in ('results', 'top_products', 'dead_letters'):
    assert len(arrow[name]) == len(records[name]), name
    for mine, theirs in zip(arrow[name], records[name]):
      assert mine == theirs, (name, mine, theirs)  # Decimal: exact value
  # Dead letters in full: reason, detail, payload, source, position.
  assert [tuple(d) for d in arrow['dead_letters']] == [
      tuple(d) for d in records['dead_letters']]
  return records, arrow


@pytest.mark.parametrize('window_flags', [
    (),
    ('--window=sliding', '--window_size_seconds=7200',
     '--window_period_seconds=1800'),
    ('--window=sessions', '--session_gap_seconds=1800'),
], ids=['fixed', 'sliding', 'sessions'])
def test_sample_matches_record_path(tmp_path, window_flags):
  records, _ = _assert_same(tmp_path, ('--input', SAMPLE) + window_flags)
  assert {d.reason for d in records['dead_letters']} >= {
      'malformed', 'bad_time', 'unknown_currency'}


@pytest.mark.parametrize('ext', ['csv', 'parquet', 'jsonl.gz'])
def test_generated_file_matches_record_path(tmp_path, ext):
  path = tmp_path / f'orders.{ext}'
  write_orders(path, 4000, seed=23)
  # Small chunks and several buckets exercise chunk borders and the shuffle.
  _assert_same(tmp_path, ('--input', str(path)), buckets=3,
               chunk_bytes=64 << 10)


@pytest.mark.parametrize('spill', [True, False], ids=['spill', 'in-shuffle'])
def test_jsonl_chunk_borders_and_many_buckets(tmp_path, spill):
  path = tmp_path / 'orders.jsonl'
  write_orders(path, 6000, seed=5, duplicate_rate=0.05)
  _assert_same(tmp_path, ('--input', str(path)), buckets=7,
               chunk_bytes=50_000, spill=spill)


def _bundled_rates():
  import csv
  from transforms.vectorized.columns import prepare_rates
  with open(os.path.join(ROOT, 'data', 'fx_rates.csv'), encoding='utf-8') as f:
    return prepare_rates({r['currency'].strip().upper():
                          Decimal(r['usd_per_unit'])
                          for r in csv.DictReader(f)})


def _decoded_and_bytes(lines):
  from transforms.vectorized.jsonl import (check_jsonl_bytes,
                                           check_jsonl_decoded)
  rates = _bundled_rates()
  data = b'\n'.join(lines) + b'\n'
  return [check(data, 1, 'src', 0, rates)
          for check in (check_jsonl_decoded, check_jsonl_bytes)]


def test_byte_level_fast_path_equals_decoding():
  """The byte-level JSON Lines path (no Python objects for lines of the
  common shape) gives exactly the decoding path's rows and dead letters,
  for every odd value in every field of the common shape."""
  base = [('order_id', b'"a1"'), ('customer_id', b'"c1"'),
          ('product_id', b'"P0001"'), ('quantity', b'2'),
          ('unit_price', b'"10.5"'), ('currency', b'"EUR"'),
          ('event_time', b'"2026-11-02T10:15:00Z"')]
  odd = [b'"x"', b'""', b'" "', b'null', b'true', b'0', b'-1', b'1.0',
         b'1e2', b'"00"', b'" 5 "', b'"5.1234567"', b'1000000',
         b'1000000.000001', b'0.000001', b'"0"', b'" EUR"', b'"usd"',
         b'"XXX"', b'253402300799999', b'253402300800000',
         b'"2026-02-30T10:15:00Z"', b'"2026-11-02T10:15:00.123+05:30"',
         b'"2026-11-02T10:15:00"', b'"2024-02-29T23:59:59-23:59"',
         b'":x"', b'"a,"', b'"de"', b'"d"', b'"  "', b'10001', b'"10000"',
         b'12345678901234567890123', b'"' + b'z' * 70 + b'"', b'[]', b'{}']
  lines = []
  for field in [name for name, _ in base] + ['country']:
    for value in odd:
      pairs = [(k, value if k == field else v) for k, v in base]
      if field == 'country':
        pairs.append(('country', value))
      body = b','.join(b'"%s":%s' % (k.encode(), v) for k, v in pairs)
      for tail in (b'', b',"channel":"web"', b',"country":"FR"',
                   b',"country":null,"channel":"x"'):
        if field == 'country' and tail.startswith(b',"country"'):
          continue
        lines.append(b'{' + body.replace(b'"a1"', b'"a%d"' % len(lines))
                     + tail + b'}')
  lines += [b'', b'  ', b'[1]', b'{"order_id":1}', b'\xff', b'{"a":1}\r',
            b'{"order_id":"a1","order_id":"b"}', b'{"order_id" :"a"}']
  decoded, fast = _decoded_and_bytes(lines)
  key = lambda t: t.sort_by('k').drop_columns(['exotic'])
  assert key(fast.table).equals(key(decoded.table))
  assert sorted(fast.dead) == sorted(decoded.dead)
  assert fast.read == decoded.read
  assert fast.table.num_rows > 100 and len(fast.dead) > 300


def test_unusual_but_valid_rows_take_the_exact_path(tmp_path):
  """Rows the fast checks do not accept are still valid or rejected exactly
  as the record path decides: many-decimal prices (revenue beyond the Arrow
  decimal's scale), Unicode white space, exponents, CRLF, blank lines, a
  duplicate whose first copy is unusual, and a second input file."""
  base = {'order_id': 'a1', 'customer_id': 'c1', 'product_id': 'P0001',
          'quantity': 2, 'unit_price': '10.5', 'currency': 'EUR',
          'event_time': '2026-11-02T10:15:00Z'}
  lines = [
      dict(base, unit_price='0.12345678912345'),  # exotic revenue
      dict(base, order_id='a2', unit_price=1.5e2, quantity='+3'),
      dict(base, order_id='a3', customer_id='\u00a0c2\u2003'),
      dict(base, order_id='a4', event_time='2026-11-02T10:15:00.123456+05:30'),
      dict(base, order_id='a5', event_time=' 1793614500000 ',
           country=' de '),
      dict(base, order_id='a1', unit_price='1'),  # duplicate of an exotic
      dict(base, order_id='a6', unit_price='1E+2', currency='usd'),
      dict(base, order_id='a7', event_time='2026-02-30T10:15:00Z'),
      dict(base, order_id='a8', event_time='2026-11-02T24:00:00Z'),
      dict(base, order_id='a9', quantity=10001),
      dict(base, order_id='a10', unit_price=1000000.000001),
      dict(base, order_id='a11', product_id='P9999', unit_price='999999.999999'),
  ]
  text = '\r\n'.join(json.dumps(x, ensure_ascii=False) for x in lines)
  first = tmp_path / 'a.jsonl'
  first.write_bytes(text.encode('utf-8') + b'\r\n   \n{"order_id": 1}\n[1]\n'
                    + b'\xff\xfe\n')
  second = tmp_path / 'b.jsonl'
  second.write_text(json.dumps(dict(base, order_id='a2', quantity=7)) + '\n'
                    + json.dumps(dict(base, order_id='b1')) + '\n')
  records, _ = _assert_same(
      tmp_path, ('--input', str(tmp_path / '*.jsonl')), buckets=2)
  revenue = {r.category: r.revenue_usd for r in records['results']}
  assert revenue['__all__'] != revenue['__all__'].quantize(Decimal('0.01'))


def test_bucket_hash_is_stable_and_spread():
  import pyarrow as pa
  ids = pa.array([f'ord_{i:08d}' for i in range(10000)] + ['x', 'é' * 20])
  buckets = bucket_of(ids, 8)
  assert list(buckets[:5]) == list(bucket_of(ids.slice(0, 5), 8))
  assert min(list(buckets).count(b) for b in range(8)) > 800


@pytest.mark.parametrize('pieces', [1, 2, 3, 7])
def test_a_chunk_checked_in_pieces_equals_it_checked_whole(pieces):
  """CheckOrdersFn checks a chunk in pieces on several threads: the pieces'
  rows and dead letters, positions included, are the whole chunk's."""
  import pyarrow as pa
  from transforms.vectorized.jsonl import check_jsonl_bytes, split_lines
  rates = _bundled_rates()
  with open(SAMPLE, 'rb') as f:
    data = f.read().replace(b'\n', b'\n\n', 5)  # blank lines count too
  whole = check_jsonl_bytes(data, 7, 'src', 0, rates)
  split = split_lines(data, 7, pieces)
  assert len(split) == pieces
  assert b''.join(piece for piece, _ in split) == data
  checked = [check_jsonl_bytes(piece, first, 'src', 0, rates)
             for piece, first in split]
  key = lambda t: t.sort_by('k').drop_columns(['exotic'])
  rows = pa.concat_tables([c.table for c in checked])
  assert key(rows).equals(key(whole.table))
  assert sorted(d for c in checked for d in c.dead) == sorted(whole.dead)
  assert sum(c.read for c in checked) == whole.read
  assert len(whole.dead) > 50


def _reference_bucket(text: str, buckets: int) -> int:
  """bucket_of's documented formula in plain Python integers."""
  mask = (1 << 64) - 1
  weights = [0x9e3779b97f4a7c15 * (2 * i + 1) & mask for i in range(16)]
  data = text.encode('utf-8', 'surrogatepass')
  head = [data[j] if j < len(data) else 0 for j in range(8)]
  tail = [data[len(data) - 1 - j] if j < len(data) else 0 for j in range(8)]
  h = sum(b * w for b, w in zip(head + tail, weights)) & mask
  h ^= len(data) * 0x94d049bb133111eb & mask
  h ^= h >> 30
  h = h * 0xbf58476d1ce4e5b9 & mask
  h ^= h >> 27
  h = h * 0x94d049bb133111eb & mask
  h ^= h >> 31
  return h % buckets


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=30), min_size=1, max_size=30),
       st.integers(0, 5), st.sampled_from([2, 3, 4, 8, 64, 1000]))
def test_bucket_of_is_its_documented_formula(texts, skip, buckets):
  """The buckets stay what they were (a stream's dedupe state is kept per
  bucket across restarts and upgrades), for slices of an array too."""
  import pyarrow as pa
  texts = [t.encode('utf-8', 'replace').decode('utf-8') for t in texts]
  ids = pa.array(['pad'] * skip + texts).slice(skip)
  assert bucket_of(ids, buckets).tolist() == [
      _reference_bucket(t, buckets) for t in texts]


@pytest.mark.parametrize('value', [
    b'-9223372036854775809', b'[-9223372036854775809]',
    b'{"a":[1,{"b":18446744073709551616}]}', b'[[[[99999999999999999999]]]]'])
def test_integers_beyond_64_bits_at_any_depth_keep_the_rules_detail(value):
  """orjson reads them as floats; the columnar paths re-decode such a
  record, so its dead letter's detail is the record path's (a hypothesis
  run found [-9223372036854775809] detailed as [-9.223372036854776e+18])."""
  from transforms.parse import decode_payload
  from transforms.validate import check_order
  rates = {'USD': Decimal(1), 'EUR': Decimal('1.1')}
  line = (b'{"order_id":"o-1","customer_id":"c-1","product_id":"P0001",'
          b'"quantity":2,"unit_price":"10.50","currency":' + value +
          b',"event_time":"2026-11-02T10:15:00Z"}')
  rule = check_order(decode_payload(line), rates, 's', None, 1)
  for checked in _decoded_and_bytes([line]):
    assert [(d.reason, d.detail) for d in checked.dead] == [
        (rule.reason, rule.detail)]


def test_tables_cross_the_runner_as_their_own_rows_and_are_sized_unencoded():
  import pyarrow as pa
  from transforms.vectorized.tables import ArrowTableCoder
  table = pa.table({'order_id': [f'o{i}' for i in range(1000)],
                    'k': list(range(1000))})
  part = table.slice(10, 5)
  coder = beam.coders.registry.get_coder(pa.Table)
  assert isinstance(coder, ArrowTableCoder)
  decoded = coder.decode(coder.encode(part))
  assert decoded.equals(part)
  # Only the slice's rows travel (a pickled slice carries its parent's).
  assert len(coder.encode(part)) < len(pickle.dumps(table)) / 4
  # The runner's size sample reads the buffers, it does not encode.
  calls = []

  class Counting(ArrowTableCoder):
    def encode(self, value):
      calls.append(value)
      return super().encode(value)
  assert Counting().estimate_size(table) == table.get_total_buffer_size()
  assert Counting().get_impl().estimate_size(table) == (
      table.get_total_buffer_size())
  assert not calls


@pytest.mark.parametrize('bounded', [True, False])
def test_deduplicated_rows_are_coded_as_tables(bounded):
  """The dedupe's output carries its table by ArrowTableCoder: typed Any
  (as the streaming step was from session 19 until its hint came back),
  the runner would size and pass every bucket's table by pickling it."""
  from transforms.vectorized.dedupe import DeduplicateBatches
  from transforms.vectorized.tables import ArrowTableCoder
  p = beam.Pipeline(options=PipelineOptions([]))
  rows = (p | beam.Create([(0, (b'', b''))])
          | 'Dedupe' >> DeduplicateBatches(bounded=bounded))
  coder = beam.coders.registry.get_coder(rows.element_type)
  assert isinstance(coder, beam.coders.TupleCoder)
  assert isinstance(coder.coders()[0], ArrowTableCoder)


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(st.binary(max_size=40).map(
           lambda b: b.replace(b'\n', b'.')), max_size=30),
       last_ends=st.booleans(), chunk_bytes=st.integers(1, 64),
       gz=st.booleans())
def test_planned_chunks_cover_the_file_at_line_ends(tmp_path_factory, lines,
                                                    last_ends, chunk_bytes,
                                                    gz):
  import gzip
  from transforms.vectorized.chunks import PlanChunksFn
  data = b'\n'.join(lines) + (b'\n' if last_ends and lines else b'')
  path = tmp_path_factory.mktemp('plan') / ('in.jsonl.gz' if gz else 'in.jsonl')
  path.write_bytes(gzip.compress(data) if gz else data)
  chunks = list(PlanChunksFn('jsonl', chunk_bytes).process((3, str(path))))
  pieces = [c.read() for c in chunks]
  assert b''.join(pieces) == data
  assert all(p.endswith(b'\n') for p in pieces[:-1])
  assert all(p for p in pieces)
  start = 0
  for chunk, piece in zip(chunks, pieces):
    # Independent: the line number is one more than the line ends before it.
    assert chunk.first_line == data[:start].count(b'\n') + 1
    assert chunk.rank == 3 and (chunk.data is not None) == gz
    start += len(piece)


def test_checked_chunks_keep_their_window_when_emitted_a_chunk_later(
    tmp_path):
  # The check emits a chunk's parts while the next chunk is checked, the
  # last one at the bundle's end: each still in its own chunk's window.
  from apache_beam.testing.util import assert_that, equal_to
  from transforms.parse import DEAD_LETTERS, VALID
  from transforms.vectorized.check import ParseOrderBatches
  from transforms.vectorized.chunks import PlanChunksFn
  from transforms.vectorized.tables import decode_part
  path = tmp_path / 'orders.jsonl'
  write_orders(path, 400, seed=9, dirty_rate=0.1)
  chunks = list(PlanChunksFn('jsonl', 8192).process((0, str(path))))
  assert len(chunks) > 3
  starts = [c.first_line for c in chunks]

  def chunk_of(line):  # plain Python: the last chunk starting at or before
    return max(i for i, s in enumerate(starts) if s <= line)

  def misplaced_rows(keyed, win=beam.DoFn.WindowParam):
    table, _ = decode_part(keyed[1])
    lines = [k & ((1 << 40) - 1) for k in table['k'].to_pylist()]
    return [line for line in lines if chunk_of(line) * 100 != win.start]

  def misplaced_letter(letter, win=beam.DoFn.WindowParam):
    return ([letter.position] if chunk_of(letter.position) * 100 != win.start
            else [])

  with beam.Pipeline() as p:
    rates = p | 'Rates' >> beam.Create([('USD', Decimal(1)),
                                        ('EUR', Decimal('1.1'))])
    parsed = (p | 'Chunks' >> beam.Create(
        [beam.window.TimestampedValue(c, i * 100 + 1)
         for i, c in enumerate(chunks)])
              | 'Fixed' >> beam.WindowInto(beam.window.FixedWindows(100))
              | ParseOrderBatches(beam.pvalue.AsDict(rates), buckets=3))
    rows = parsed[VALID] | 'RowLines' >> beam.FlatMap(misplaced_rows)
    letters = parsed[DEAD_LETTERS] | 'LetterLines' >> beam.FlatMap(
        misplaced_letter)
    assert_that(rows, equal_to([]), label='RowsInPlace')
    assert_that(letters, equal_to([]), label='LettersInPlace')
    counted = ((parsed[VALID] | 'N' >> beam.Map(
        lambda kv: decode_part(kv[1])[0].num_rows)),
               parsed[DEAD_LETTERS] | 'One' >> beam.Map(lambda _: 1))
    total = (counted | beam.Flatten()
             | 'Global' >> beam.WindowInto(beam.window.GlobalWindows())
             | beam.CombineGlobally(sum))
    assert_that(total, equal_to([400]), label='AllLines')


@settings(max_examples=80, deadline=None)
@given(ids=st.lists(st.sampled_from(['a', 'b', 'c', 'd', 'e', 'ff', '']),
                    max_size=40), seed=st.integers(0, 10**6))
def test_keep_first_seen_keeps_each_ids_smallest_k_in_row_order(ids, seed):
  import random
  import pyarrow as pa
  from transforms.vectorized.dedupe import keep_first_seen
  ks = list(range(len(ids)))
  random.Random(seed).shuffle(ks)  # k is unique per row, in any order
  table = pa.table({'order_id': pa.array(ids, pa.string()),
                    'k': pa.array(ks, pa.int64()),
                    'row': pa.array(range(len(ids)), pa.int64())})
  kept, dropped = keep_first_seen(table)
  first = {}
  for i, (order_id, k) in enumerate(zip(ids, ks)):
    if order_id not in first or k < ks[first[order_id]]:
      first[order_id] = i
  assert kept['row'].to_pylist() == sorted(first.values())
  assert dropped == len(ids) - len(first)
  assert kept.schema == table.schema
