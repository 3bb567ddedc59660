"""Issue #14, item 8, end to end: `python -m pipeline --pseudonymize_key
env:SALES_TEST_KEY` on the bundled sample leaves no raw customer id in any
output (Parquet, dead-letter JSON Lines, summary.json, SQLite), keeps the
distinct-customer counts and sessions of the reference oracle, and gives the
same pseudonyms for the same key (and on both engines), other ones for
another key.

The raw ids are collected from the sample with json (and, for the lines json
cannot read, a pattern of the sample's ids); the expected pseudonyms are
computed with Python's hmac module; the expected rows come from
tests/reference.py. None of it uses the code under test."""
import hashlib
import hmac
import json
import os
import re
import sqlite3
import subprocess
import sys
from decimal import Decimal

import pyarrow.parquet as pq
import pytest

from tests.reference import compute_expected

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
SAMPLE = os.path.join(ROOT, 'data', 'sample', 'orders.jsonl')
CATALOG = os.path.join(ROOT, 'data', 'catalog.csv')
FX = os.path.join(ROOT, 'data', 'fx_rates.csv')
KEY = 'the end-to-end test key, 32 char'
OTHER_KEY = 'another end-to-end key, 32 chars'
SAMPLE_ID = re.compile(r'C[0-9]{6}')


def pseudonym(customer_id, key=KEY):
  digest = hmac.new(key.encode(), customer_id.encode(), hashlib.sha256)
  return 'c_' + digest.hexdigest()[:32]


def raw_customer_ids():
  """Every customer id the sample holds, as read and as stripped."""
  ids = set()
  with open(SAMPLE, encoding='utf-8', errors='replace') as f:
    text = f.read()
  for line in text.splitlines():
    try:
      record = json.loads(line)
    except ValueError:
      continue
    values = []
    if isinstance(record, dict):
      values = [record.get('customer_id')]
    elif isinstance(record, list):  # array-shaped lines, in schema order
      values = record[1:2]
    for value in values:
      if isinstance(value, str) and value.strip():
        ids.update({value, value.strip()})
  from_json = {i.strip() for i in ids}
  assert len(from_json) > 100, 'the sample has changed: fix this test'
  ids.update(SAMPLE_ID.findall(text))
  return ids


def run(out, *flags, key=KEY, sink=None):
  """python -m pipeline on the sample with the key in SALES_TEST_KEY."""
  env = dict(os.environ, SALES_TEST_KEY=key)
  argv = [sys.executable, '-m', 'pipeline', '--input', SAMPLE, '--output',
          str(out), '--pseudonymize_key', 'env:SALES_TEST_KEY', *flags]
  if sink:
    argv += ['--sink', f'sqlite:///{sink}']
  proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True,
                        timeout=600, env=env)
  assert proc.returncode == 0, proc.stderr
  assert key not in proc.stdout + proc.stderr
  return proc


def texts_of(out, db=None):
  """(where, text) of every output: every Parquet value, the dead letters
  and summary.json as written, every SQLite table's every value, and the
  SQLite file's bytes."""
  found = []
  for name in sorted(os.listdir(out)):
    path = os.path.join(out, name)
    if name.endswith('.parquet'):
      table = pq.read_table(path)
      found.append((name, repr(table.to_pylist())))
    else:
      with open(path, encoding='utf-8') as f:
        found.append((name, f.read()))
  assert {n for n, _ in found} >= {'sales_by_category.parquet',
                                   'top_products.parquet',
                                   'dead_letters.jsonl', 'summary.json'}
  if db is not None:
    with sqlite3.connect(db) as conn:
      tables = [t for (t,) in conn.execute(
          "SELECT name FROM sqlite_master WHERE type = 'table'")]
      assert {'sales_by_category', 'top_products', 'dead_letters',
              'pipeline_runs'} <= set(tables)
      for table in tables:
        rows = conn.execute(f'SELECT * FROM "{table}"').fetchall()
        found.append((f'sqlite {table}', repr(rows)))
    with open(db, 'rb') as f:
      found.append(('sqlite file', f.read().decode('latin-1')))
  return found


def assert_no_raw_id(found, ids):
  for where, text in found:
    leaked = sorted(i for i in ids if i in text)
    assert not leaked, f'{where} holds raw customer ids {leaked[:5]}'


def dead_letters(out):
  with open(os.path.join(out, 'dead_letters.jsonl'), encoding='utf-8') as f:
    return sorted(f.read().splitlines())


def rows(out, name):
  return sorted(pq.read_table(os.path.join(out, name)).to_pylist(), key=repr)


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  base = tmp_path_factory.mktemp('pseudonyms')
  sessions = ('--window', 'sessions', '--session_gap_seconds', '1800')
  run(base / 'fixed', sink=base / 'fixed.db')
  run(base / 'sessions', *sessions, sink=base / 'sessions.db')
  run(base / 'again', *sessions, '--engine', 'records')
  run(base / 'other', *sessions, key=OTHER_KEY)
  return base


def test_no_output_holds_a_raw_customer_id(runs):
  ids = raw_customer_ids()
  pseudonyms = {pseudonym(i.strip()) for i in ids}
  for name in ('fixed', 'sessions'):
    found = texts_of(runs / name, runs / f'{name}.db')
    # The search looks where the ids were: the dead letters, in the file and
    # in the database, name the sample's customers by their pseudonyms.
    for where, text in found:
      if where in ('dead_letters.jsonl', 'sqlite dead_letters'):
        assert sum(p in text for p in pseudonyms) >= 20, where
    assert_no_raw_id(found, ids)
  for name in ('again', 'other'):
    assert_no_raw_id(texts_of(runs / name), ids)


def test_distinct_customers_are_the_oracles(runs):
  expected = compute_expected([SAMPLE], CATALOG, FX)
  with sqlite3.connect(runs / 'fixed.db') as conn:
    stored = conn.execute(
        'SELECT category, orders, units, revenue_usd, distinct_customers '
        'FROM sales_by_category').fetchall()
  assert sorted((c, o, u, Decimal(r), d) for c, o, u, r, d in stored) == (
      sorted((r['category'], r['orders'], r['units'], r['revenue_usd'],
              r['distinct_customers']) for r in expected.results))
  parquet = rows(runs / 'fixed', 'sales_by_category.parquet')
  assert sorted((int(r['window_start'].timestamp() * 1000), r['category'],
                 r['distinct_customers']) for r in parquet) == sorted(
      (r['window_start_ms'], r['category'], r['distinct_customers'])
      for r in expected.results)


def test_sessions_are_the_oracles_with_pseudonyms(runs):
  expected = compute_expected([SAMPLE], CATALOG, FX, window='sessions',
                              gap_s=1800)
  got = sorted((int(r['window_start'].timestamp() * 1000),
                int(r['window_end'].timestamp() * 1000), r['customer_id'],
                r['category'], r['orders'], r['distinct_customers'])
               for r in rows(runs / 'sessions', 'sales_by_category.parquet'))
  assert got == sorted(
      (r['window_start_ms'], r['window_end_ms'], pseudonym(r['customer_id']),
       r['category'], r['orders'], r['distinct_customers'])
      for r in expected.results)


def test_the_same_key_gives_the_same_pseudonyms_another_key_others(runs):
  # A second run, on the other engine: the same rows and dead letters.
  for name in ('sales_by_category.parquet', 'top_products.parquet'):
    assert rows(runs / 'again', name) == rows(runs / 'sessions', name)
  assert dead_letters(runs / 'again') == dead_letters(runs / 'sessions')

  def customers(name):
    return {r['customer_id']
            for r in rows(runs / name, 'sales_by_category.parquet')}

  mine, theirs = customers('sessions'), customers('other')
  assert len(mine) == len(theirs) > 100
  assert not mine & theirs
  assert pseudonym('C000346') in mine
  assert pseudonym('C000346', OTHER_KEY) in theirs


def test_a_bad_key_source_stops_before_the_run(tmp_path):
  env = {k: v for k, v in os.environ.items() if k != 'SALES_NO_SUCH_KEY'}
  proc = subprocess.run(
      [sys.executable, '-m', 'pipeline', '--output', str(tmp_path / 'out'),
       '--pseudonymize_key', 'env:SALES_NO_SUCH_KEY'], cwd=ROOT,
      capture_output=True, text=True, timeout=120, env=env)
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines() == [
      'error: --pseudonymize_key: environment variable SALES_NO_SUCH_KEY is '
      'not set']
  assert not os.path.exists(tmp_path / 'out')


# --- PostgreSQL and Kafka sinks (integration: real servers) --------------------

SESSIONS = ('--window', 'sessions', '--session_gap_seconds', '1800')


@pytest.mark.integration
@pytest.mark.postgres
def test_no_raw_customer_id_in_postgresql(tmp_path, postgres_database):
  import psycopg
  run(tmp_path / 'out', *SESSIONS, '--sink', postgres_database)
  found = []
  with psycopg.connect(postgres_database) as conn:
    tables = [t for (t,) in conn.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'public'")]
    assert {'sales_by_category', 'dead_letters'} <= set(tables)
    for table in tables:
      found.append((f'postgresql {table}', repr(
          conn.execute(f'SELECT * FROM "{table}"').fetchall())))
  text = dict(found)['postgresql sales_by_category']
  assert pseudonym('C000346') in text
  assert_no_raw_id(found, raw_customer_ids())


@pytest.mark.integration
@pytest.mark.kafka
def test_no_raw_customer_id_in_kafka(tmp_path, kafka_broker):
  import time
  import uuid
  from confluent_kafka import Consumer
  topic = f'pseudonyms-{uuid.uuid4().hex[:8]}'
  topics = [topic, topic + '.top_products', topic + '.dead_letters']
  for name in topics:
    kafka_broker.create_topic(name, 1)
  run(tmp_path / 'out', *SESSIONS, '--sink',
      f'kafka://{kafka_broker.bootstrap}/{topic}')
  expected = {name: len(rows(tmp_path / 'out', f'{file}.parquet'))
              for name, file in ((topic, 'sales_by_category'),
                                 (topics[1], 'top_products'))}
  expected[topics[2]] = len(dead_letters(tmp_path / 'out'))
  consumer = Consumer({'bootstrap.servers': kafka_broker.bootstrap,
                       'group.id': 'check-' + topic,
                       'auto.offset.reset': 'earliest'})
  consumer.subscribe(topics)
  got = {name: [] for name in topics}
  deadline = time.monotonic() + 60
  while (any(len(got[n]) < expected[n] for n in topics)
         and time.monotonic() < deadline):
    message = consumer.poll(0.5)
    if message is not None and message.error() is None:
      got[message.topic()].append(
          message.key().decode('utf-8', 'replace') + ' ' +
          message.value().decode('utf-8', 'replace'))
  consumer.close()
  assert {n: len(v) for n, v in got.items()} == expected
  assert any(pseudonym('C000346') in m for m in got[topic])
  assert_no_raw_id([(f'kafka {n}', '\n'.join(v)) for n, v in got.items()],
                   raw_customer_ids())
