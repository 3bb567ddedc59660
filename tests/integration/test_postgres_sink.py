"""WriteToPostgres against a real PostgreSQL (tests/fixtures/postgres.py).

The same properties as the SQLite sink -- the same input twice leaves
identical tables, an older pane never overwrites a newer one, a newer pane
replaces a window's whole top-N list, dead letters are not duplicated -- plus
PostgreSQL's own: column types, passwords never in URLs, clear one-line
failures for a wrong password or a missing database, bounded retries when
the server is unreachable, and concurrent writers that converge.
"""
from __future__ import annotations

import datetime
import threading
import time
from decimal import Decimal

import psycopg
import pytest

from tests.fixtures.sink_rows import HOUR, T0, dead, result, top, write_rows
from transforms.records import DeadLetter
from transforms.sinks import database
from transforms.sinks.database import SinkError
from transforms.sinks.postgres_sink import (PostgresStore, WriteToPostgres,
                                            postgres_conninfo)

pytestmark = [pytest.mark.postgres, pytest.mark.integration]

UTC = datetime.timezone.utc
TABLES = ('sales_by_category', 'top_products', 'dead_letters', 'pipeline_runs')
# Three quick tries, so that a test of giving up takes well under a second.
QUICK_BACKOFF = database.Backoff(attempts=3, base_s=0.05, cap_s=0.1)


def write(url, results=(), tops=(), dead_letters=(), **kwargs):
  return write_rows(WriteToPostgres(url, **kwargs), results, tops,
                    dead_letters)


def rows(url, query):
  with psycopg.connect(url) as conn:
    cur = conn.cursor(row_factory=psycopg.rows.dict_row)
    return cur.execute(query).fetchall()


def categories(url):
  return rows(url, 'SELECT * FROM sales_by_category ORDER BY window_start, '
                   'window_end, customer_id, category')


def tops_of(url):
  return rows(url, 'SELECT * FROM top_products ORDER BY window_start, rank')


def dead_letters_of(url):
  return rows(url, 'SELECT * FROM dead_letters ORDER BY source, partition, '
                   'position')


@pytest.fixture
def db(postgres_database):
  """The module's database, with the sink's tables dropped before each test
  (so every test also proves the tables are created when missing)."""
  with psycopg.connect(postgres_database, autocommit=True) as conn:
    for name in TABLES:
      conn.execute(f'DROP TABLE IF EXISTS {name}')
  return postgres_database


def test_column_types_and_exact_cents(db):
  write(db, results=[result(revenue='10.005', orders=2)],
        tops=[top(1, 'p1', '2.675')])
  types = {(r['table_name'], r['column_name']): r['data_type'] for r in rows(
      db, "SELECT table_name, column_name, data_type || coalesce("
          "'(' || numeric_precision || ',' || numeric_scale || ')', '') "
          "AS data_type FROM information_schema.columns "
          "WHERE table_schema = 'public'")}
  assert types[('sales_by_category', 'window_start')] == (
      'timestamp with time zone')
  assert types[('sales_by_category', 'revenue_usd')] == 'numeric(20,2)'
  assert types[('top_products', 'revenue_usd')] == 'numeric(20,2)'
  assert types[('sales_by_category', 'is_final')] == 'boolean'
  assert types[('pipeline_runs', 'counts')] == 'jsonb'
  [row] = categories(db)
  assert row['window_start'] == datetime.datetime(2026, 11, 2, 13, tzinfo=UTC)
  assert row['window_end'] == datetime.datetime(2026, 11, 2, 14, tzinfo=UTC)
  assert row['revenue_usd'] == Decimal('10.01')
  assert row['avg_order_value_usd'] == Decimal('5.00')
  assert tops_of(db)[0]['revenue_usd'] == Decimal('2.68')


def test_same_input_twice_leaves_identical_tables(db):
  data = dict(
      results=[result('books'), result('toys', revenue='3.10'),
               result('__all__', orders=4, revenue='13.105'),
               result('books', start=T0 + HOUR)],
      tops=[top(1, 'p1', '9'), top(2, 'p2', '4.10')],
      dead_letters=[dead(3), dead(7, source='orders', partition=2)])
  write(db, **data)
  first = (categories(db), tops_of(db), dead_letters_of(db))
  write(db, **data)
  assert (categories(db), tops_of(db), dead_letters_of(db)) == first
  assert [len(t) for t in first] == [4, 2, 2]


def test_older_pane_from_a_later_run_does_not_overwrite_newer(db):
  write(db, results=[result(pane_index=2, timing='LATE', final=True,
                            orders=5, revenue='50')])
  write(db, results=[result(pane_index=0, timing='EARLY', final=False,
                            orders=1, revenue='1')])
  [row] = categories(db)
  assert (row['pane_index'], row['pane_timing'], row['orders'],
          row['revenue_usd'], row['is_final']) == (2, 'LATE', 5,
                                                    Decimal('50.00'), True)


def test_newer_pane_replaces_older_and_final_beats_non_final(db):
  write(db, results=[result(pane_index=0, timing='EARLY', final=False,
                            orders=1, revenue='1')])
  write(db, results=[result(pane_index=1, final=False, orders=2,
                            revenue='2')])
  assert categories(db)[0]['orders'] == 2
  write(db, results=[result(pane_index=1, final=True, orders=3, revenue='3')])
  write(db, results=[result(pane_index=1, final=False, orders=9, revenue='9')])
  [row] = categories(db)
  assert (row['orders'], row['is_final']) == (3, True)


def test_newer_pane_replaces_whole_top_list(db):
  old = [top(r, f'p{r}', str(10 - r), pane_index=0, timing='EARLY',
             final=False) for r in range(1, 6)]
  new = [top(1, 'q1', '20', pane_index=1), top(2, 'p1', '9', pane_index=1),
         top(3, 'q3', '8', pane_index=1)]
  write(db, tops=old)
  assert len(tops_of(db)) == 5
  write(db, tops=new)
  after = tops_of(db)
  assert [(r['rank'], r['product_id'], r['pane_index']) for r in after] == [
      (1, 'q1', 1), (2, 'p1', 1), (3, 'q3', 1)]
  write(db, tops=old)  # the older list again: no change at all
  assert tops_of(db) == after


def test_dead_letters_are_not_duplicated_on_rerun(db):
  letters = [dead(3), dead(4), dead(3, source='orders', partition=0),
             dead(3, source='orders', partition=1)]
  write(db, dead_letters=letters)
  write(db, dead_letters=letters)
  got = dead_letters_of(db)
  assert [(r['source'], r['partition'], r['position']) for r in got] == [
      ('in/orders.jsonl', -1, 3), ('in/orders.jsonl', -1, 4),
      ('orders', 0, 3), ('orders', 1, 3)]


def test_pipeline_runs_tracks_changed_rows_and_final_status(db):
  sink = write(db, results=[result('books'), result('toys')],
               tops=[top(1, 'p1', '1')], dead_letters=[dead(1)],
               run_id='run-1')
  sink.finish_run('succeeded', {'read': 5, 'valid': 4, 'dead_letters': 1})
  write(db, results=[result('books'), result('toys')], run_id='run-2')
  runs = {r['run_id']: r for r in rows(db, 'SELECT * FROM pipeline_runs')}
  one = runs['run-1']
  assert one['status'] == 'succeeded'
  assert (one['results_written'], one['top_products_written'],
          one['dead_letters_written']) == (2, 1, 1)
  assert one['counts'] == {'read': 5, 'valid': 4, 'dead_letters': 1}
  assert runs['run-2']['status'] == 'running'
  assert runs['run-2']['results_written'] == 0


def test_concurrent_writers_with_out_of_order_panes_converge(db):
  """Four connections write panes 0..7 of results and top lists in different
  orders at once; every window ends with pane 7, and each top list is
  pane 7's whole list (never a mix of panes)."""
  def writer(order):
    store = PostgresStore(postgres_conninfo(db))
    store.open()
    store.ensure_schema()
    d = store.dialect
    for i in order:
      res, tops = database.Buffer('results'), database.Buffer('top_products')
      for cat in ('a', 'b', 'c'):
        res.add(result(cat, pane_index=i, final=(i == 7), orders=i + 1,
                       revenue=str(i)))
      # Pane i has i+1 products: an older pane has fewer ranks than a newer.
      for r in range(1, i + 2):
        tops.add(top(r, f'p{i}-{r}', str(100 - r), pane_index=i,
                     final=(i == 7)))
      for buf in (res, tops):
        store.run_in_transaction(
            lambda cur, b=buf: database.write_buffer(cur, d, b, None, d.now()))
    store.close()

  orders = [list(range(8)), list(reversed(range(8))), [3, 7, 1, 5, 0, 2, 6, 4],
            [7, 6, 0, 1, 2, 3, 4, 5]]
  threads = [threading.Thread(target=writer, args=(o,)) for o in orders]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  assert [(r['category'], r['pane_index'], r['orders'])
          for r in categories(db)] == [('a', 7, 8), ('b', 7, 8), ('c', 7, 8)]
  assert [(r['rank'], r['product_id']) for r in tops_of(db)] == [
      (r, f'p7-{r}') for r in range(1, 9)]


@pytest.mark.parametrize('url', [
    'postgresql://sales:s3cret@127.0.0.1:5432/sales',
    'postgresql://sales@127.0.0.1:5432/sales?password=s3cret',
])
def test_password_in_url_is_refused_without_echoing_it(url):
  with pytest.raises(ValueError) as info:
    WriteToPostgres(url)
  message = str(info.value)
  assert 'PGPASSWORD' in message and '.pgpass' in message
  assert 's3cret' not in message


def test_wrong_password_fails_fast_with_clear_message(db, monkeypatch,
                                                      tmp_path):
  monkeypatch.setenv('PGPASSWORD', 'definitely-wrong')
  monkeypatch.setenv('PGPASSFILE', str(tmp_path / 'none'))
  started = time.monotonic()
  with pytest.raises(Exception) as info:
    write(db, results=[result()])
  assert time.monotonic() - started < 30  # no retry loop
  message = str(info.value)
  assert 'password authentication failed' in message
  assert 'not retrying' in message
  assert 'definitely-wrong' not in message


def test_missing_database_fails_fast_with_clear_message(postgres_server):
  url = postgres_server.url_for('no_such_database_here')
  started = time.monotonic()
  with pytest.raises(Exception) as info:
    write(url, results=[result()])
  assert time.monotonic() - started < 30
  assert 'database "no_such_database_here" does not exist' in str(info.value)


def test_unreachable_server_is_retried_a_bounded_number_of_times():
  store = PostgresStore('postgresql://sales@127.0.0.1:1/sales',
                        connect_timeout_s=2, backoff=QUICK_BACKOFF)
  started = time.monotonic()
  with pytest.raises(SinkError, match='gave up .* after 3 attempts'):
    store.open()
  assert time.monotonic() - started < 20


def test_the_sample_twice_through_the_cli_leaves_identical_tables(
    db, tmp_path):
  """`python -m pipeline --sink postgresql://...` on the sample, twice: the
  second run changes no row (not even updated_at), and the rows are the
  ones the SQLite sink gets from the same run."""
  from tests.integration.streaming import (SAMPLE, bounded_db,
                                           postgres_results, results,
                                           run_bounded)
  orders = 'window_start, window_end, customer_id, category'

  def tables():
    return (rows(db, f'SELECT * FROM sales_by_category ORDER BY {orders}'),
            rows(db, 'SELECT * FROM top_products ORDER BY window_start, '
                 'window_end, customer_id, rank'),
            dead_letters_of(db))

  run_bounded('--input', SAMPLE, '--output', '', '--sink', db)
  first = tables()
  run_bounded('--input', SAMPLE, '--output', '', '--sink', db)
  assert tables() == first
  assert len(first[0]) > 100 and len(first[2]) == 99
  assert len(rows(db, 'SELECT * FROM pipeline_runs')) == 2
  assert postgres_results(db) == results(bounded_db(tmp_path))


def test_a_connection_killed_mid_transaction_is_retried_and_writes_once(
    db, caplog):
  """The server ends the sink's session inside a transaction (what a
  failover or an admin's pg_terminate_backend does): the transaction rolls
  back, the store reconnects, runs it again, and the row lands once."""
  store = PostgresStore(db, backoff=QUICK_BACKOFF)
  store.open()
  store.run_in_transaction(
      lambda cur: cur.execute('CREATE TABLE retry_probe (id int PRIMARY KEY, '
                              'attempt int)'))
  attempts = []

  def work(cur):
    attempts.append(1)
    cur.execute('INSERT INTO retry_probe VALUES (1, %s)', (len(attempts),))
    if len(attempts) == 1:
      pid = cur.execute('SELECT pg_backend_pid()').fetchone()[0]
      with psycopg.connect(db, autocommit=True) as admin:
        assert admin.execute('SELECT pg_terminate_backend(%s)',
                             (pid,)).fetchone()[0]
      cur.execute('SELECT 1')  # the session is gone: this raises
    return len(attempts)

  with caplog.at_level('WARNING'):
    assert store.run_in_transaction(work) == 2
  store.close()
  # One line when the outage begins, one when the store is back.
  warnings = [r.getMessage() for r in caplog.records
              if r.levelname == 'WARNING']
  assert len(warnings) == 2, warnings
  assert 'is unreachable' in warnings[0]
  assert 'up to 3 attempts per write' in warnings[0]
  assert 'is reachable again' in warnings[1]
  assert rows(db, 'SELECT id, attempt FROM retry_probe') == [
      {'id': 1, 'attempt': 2}]  # the first attempt's insert rolled back
  with psycopg.connect(db, autocommit=True) as conn:
    conn.execute('DROP TABLE retry_probe')


def test_password_from_pgpass_file(db, monkeypatch, tmp_path,
                                   postgres_server):
  if postgres_server.password is None:
    pytest.skip('the server password is not known to the tests')
  parts = psycopg.conninfo.conninfo_to_dict(db)
  passfile = tmp_path / 'pgpass'
  passfile.write_text(f'{parts["host"]}:{parts.get("port", 5432)}:*:'
                      f'{parts["user"]}:{postgres_server.password}\n')
  passfile.chmod(0o600)
  monkeypatch.delenv('PGPASSWORD')
  monkeypatch.setenv('PGPASSFILE', str(passfile))
  write(db, results=[result()])
  monkeypatch.setenv('PGPASSWORD', postgres_server.password)
  assert len(categories(db)) == 1


def test_any_payload_is_storable(db):
  """PostgreSQL text refuses NUL bytes; a dead letter must still land."""
  nasty = DeadLetter(reason='malformed', detail='bad \ud800 byte',
                     payload='a\x00b\ud83dc', source='in/x.jsonl',
                     partition=None, position=1)
  write(db, dead_letters=[nasty])
  [row] = dead_letters_of(db)
  assert row['payload'] == 'a\ufffdb\ufffdc'
  assert row['detail'] == 'bad \ufffd byte'
