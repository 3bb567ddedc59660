"""WriteToSQLite: idempotent upserts where the newest pane always wins.

Every test runs real Beam pipelines (TestPipeline + beam.Create) into a real
SQLite file and reads the tables back with sqlite3.
"""
from __future__ import annotations

import sqlite3
import threading

import pytest

from tests.fixtures.sink_rows import HOUR, T0, dead, result, top, write_rows
from transforms.records import DeadLetter
from transforms.sinks.database import SinkError
from transforms.sinks.sqlite_sink import (SQLiteStore, WriteToSQLite,
                                          sqlite_path)


def write(db, results=(), tops=(), dead_letters=(), **kwargs):
  """Runs one pipeline that writes the given rows; returns the sink."""
  return write_rows(WriteToSQLite(db, **kwargs), results, tops, dead_letters)


def table(path, name, order):
  with sqlite3.connect(path) as conn:
    conn.row_factory = sqlite3.Row
    return [dict(r) for r in conn.execute(
        f'SELECT * FROM {name} ORDER BY {order}')]


def categories(path):
  return table(path, 'sales_by_category',
               'window_start, window_end, customer_id, category')


def tops_of(path):
  return table(path, 'top_products', 'window_start, window_end, rank')


def dead_letters_of(path):
  return table(path, 'dead_letters', 'source, partition, position')


@pytest.fixture
def db(tmp_path):
  return str(tmp_path / 'out' / 'sales.db')


def test_rows_are_stored_with_iso_times_and_exact_cents(db):
  write(db, results=[result(revenue='10.005', orders=2)],
        tops=[top(1, 'p1', '2.675')])
  [row] = categories(db)
  assert row['window_start'] == '2026-11-02T13:00:00Z'
  assert row['window_end'] == '2026-11-02T14:00:00Z'
  assert row['revenue_usd'] == '10.01'  # HALF_UP at write time only
  assert row['avg_order_value_usd'] == '5.00'  # exact 5.0025 -> 5.00
  assert row['is_final'] == 1 and row['pane_timing'] == 'ON_TIME'
  assert row['updated_at'].endswith('Z')
  assert tops_of(db)[0]['revenue_usd'] == '2.68'


def test_same_input_twice_leaves_identical_tables(db):
  rows = dict(
      results=[result('books'), result('toys', revenue='3.10'),
               result('__all__', orders=4, revenue='13.105'),
               result('books', start=T0 + HOUR)],
      tops=[top(1, 'p1', '9'), top(2, 'p2', '4.10')],
      dead_letters=[dead(3), dead(7, source='orders', partition=2)])
  write(db, **rows)
  first = (categories(db), tops_of(db), dead_letters_of(db))
  write(db, **rows)
  assert (categories(db), tops_of(db), dead_letters_of(db)) == first
  assert len(first[0]) == 4 and len(first[1]) == 2 and len(first[2]) == 2


def test_older_pane_from_a_later_run_does_not_overwrite_newer(db):
  write(db, results=[result(pane_index=2, timing='LATE', final=True,
                            orders=5, revenue='50')])
  write(db, results=[result(pane_index=0, timing='EARLY', final=False,
                            orders=1, revenue='1')])
  [row] = categories(db)
  assert (row['pane_index'], row['pane_timing'], row['orders'],
          row['revenue_usd']) == (2, 'LATE', 5, '50.00')


def test_newer_pane_replaces_older_and_final_beats_non_final(db):
  write(db, results=[result(pane_index=0, timing='EARLY', final=False,
                            orders=1, revenue='1')])
  write(db, results=[result(pane_index=1, timing='ON_TIME', final=False,
                            orders=2, revenue='2')])
  assert categories(db)[0]['orders'] == 2
  # Same index, now final: wins; the non-final copy of it afterwards: no-op.
  write(db, results=[result(pane_index=1, timing='ON_TIME', final=True,
                            orders=3, revenue='3')])
  write(db, results=[result(pane_index=1, timing='ON_TIME', final=False,
                            orders=9, revenue='9')])
  [row] = categories(db)
  assert (row['orders'], row['is_final']) == (3, 1)


def test_out_of_order_panes_in_one_run_keep_the_newest(db):
  panes = [result(pane_index=i, timing=t, final=(i == 3), orders=i + 1,
                  revenue=str(i + 1))
           for i, t in [(3, 'LATE'), (0, 'EARLY'), (2, 'LATE'), (1, 'ON_TIME')]]
  write(db, results=panes)
  [row] = categories(db)
  assert (row['pane_index'], row['orders'], row['is_final']) == (3, 4, 1)


def test_newer_pane_replaces_whole_top_list(db):
  old = [top(r, f'p{r}', str(10 - r), pane_index=0, timing='EARLY',
             final=False) for r in range(1, 6)]
  new = [top(1, 'q1', '20', pane_index=1), top(2, 'p1', '9', pane_index=1),
         top(3, 'q3', '8', pane_index=1)]
  write(db, tops=old)
  assert [r['product_id'] for r in tops_of(db)] == ['p1', 'p2', 'p3', 'p4',
                                                    'p5']
  write(db, tops=new)
  rows = tops_of(db)
  assert [(r['rank'], r['product_id'], r['pane_index']) for r in rows] == [
      (1, 'q1', 1), (2, 'p1', 1), (3, 'q3', 1)]
  # The older list written again (a replay, a slow worker) changes nothing.
  write(db, tops=old)
  assert tops_of(db) == rows


def test_older_top_list_first_then_newer_in_same_run(db):
  old = [top(r, f'p{r}', str(10 - r), pane_index=0, final=False)
         for r in range(1, 6)]
  new = [top(1, 'q1', '20', pane_index=1), top(2, 'q2', '19', pane_index=1)]
  write(db, tops=new + old)
  assert [r['product_id'] for r in tops_of(db)] == ['q1', 'q2']


def test_one_pane_written_in_parts_is_merged(db):
  write(db, tops=[top(1, 'p1', '9'), top(2, 'p2', '8')])
  write(db, tops=[top(3, 'p3', '7'), top(2, 'p2', '8')])
  assert [r['product_id'] for r in tops_of(db)] == ['p1', 'p2', 'p3']


def test_dead_letters_are_not_duplicated_on_rerun(db):
  letters = [dead(3), dead(4), dead(3, source='orders', partition=0),
             dead(3, source='orders', partition=1)]
  write(db, dead_letters=letters)
  write(db, dead_letters=letters)
  rows = dead_letters_of(db)
  assert [(r['source'], r['partition'], r['position']) for r in rows] == [
      ('in/orders.jsonl', -1, 3), ('in/orders.jsonl', -1, 4),
      ('orders', 0, 3), ('orders', 1, 3)]
  # A record reclassified by a fixed parser is updated, not duplicated.
  write(db, dead_letters=[dead(4, reason='bad_time')])
  rows = dead_letters_of(db)
  assert len(rows) == 4
  assert rows[1]['reason'] == 'bad_time'


def test_pipeline_runs_tracks_changed_rows_and_final_status(db):
  sink = write(db, results=[result('books'), result('toys')],
               tops=[top(1, 'p1', '1')], dead_letters=[dead(1)],
               run_id='run-1')
  sink.finish_run('succeeded', {'read': 5, 'valid': 4, 'dead_letters': 1})
  again = write(db, results=[result('books'), result('toys')], run_id='run-2')
  again.finish_run('succeeded')
  runs = {r['run_id']: r for r in table(db, 'pipeline_runs', 'run_id')}
  assert runs['run-1']['status'] == 'succeeded'
  one = runs['run-1']
  assert (one['results_written'], one['top_products_written'],
          one['dead_letters_written']) == (2, 1, 1)
  assert runs['run-1']['counts'] == (
      '{"dead_letters": 1, "read": 5, "valid": 4}')
  assert runs['run-2']['results_written'] == 0  # a replay changes nothing
  assert runs['run-2']['counts'] is None


def test_database_is_in_wal_mode(db):
  write(db, results=[result()])
  with sqlite3.connect(db) as conn:
    assert conn.execute('PRAGMA journal_mode').fetchone()[0] == 'wal'


def test_concurrent_writers_with_out_of_order_panes_converge(db):
  """Threads with their own connections write panes 0..7 in various orders;
  the table ends with pane 7 of every category."""
  from transforms.sinks import database

  def writer(order):
    store = SQLiteStore(sqlite_path(db))
    store.open()
    store.ensure_schema()
    for i in order:
      buf = database.Buffer('results')
      for cat in ('a', 'b', 'c'):
        buf.add(result(cat, pane_index=i, final=(i == 7), orders=i + 1,
                       revenue=str(i)))
      store.run_in_transaction(lambda cur, b=buf: database.write_buffer(
          cur, store.dialect, b, None, store.dialect.now()))
    store.close()

  orders = [list(range(8)), list(reversed(range(8))), [3, 7, 1, 5, 0, 2, 6, 4],
            [7, 6, 0, 1, 2, 3, 4, 5]]
  threads = [threading.Thread(target=writer, args=(o,)) for o in orders]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  rows = categories(db)
  assert [(r['category'], r['pane_index'], r['orders']) for r in rows] == [
      ('a', 7, 8), ('b', 7, 8), ('c', 7, 8)]


@pytest.mark.parametrize('url, expected', [
    ('sqlite:///rel/sales.db', 'rel/sales.db'),
    ('sqlite:////abs/sales.db', '/abs/sales.db'),
    ('plain/sales.db', 'plain/sales.db'),
])
def test_url_forms(url, expected, tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  import os
  assert sqlite_path(url) == os.path.abspath(expected)


@pytest.mark.parametrize('url', [
    'sqlite://relative.db', 'sqlite:///:memory:', 'postgresql://u@h/db', '',
])
def test_bad_urls_are_refused(url):
  with pytest.raises(ValueError):
    WriteToSQLite(url)


def test_unwritable_path_fails_with_one_line_error(tmp_path):
  blocker = tmp_path / 'file'
  blocker.write_text('not a directory')
  store = SQLiteStore(str(blocker / 'sales.db'))
  with pytest.raises(SinkError, match='cannot open'):
    store.open()


def test_any_payload_is_storable(db):
  nasty = DeadLetter(reason='malformed', detail='bad \ud800 byte',
                     payload='a\x00b\ud83dc', source='in/x.jsonl',
                     partition=None, position=1)
  write(db, dead_letters=[nasty])
  [row] = dead_letters_of(db)
  assert row['payload'] == 'a\ufffdb\ufffdc'
  assert row['detail'] == 'bad \ufffd byte'


def test_a_recovery_generation_outranks_higher_panes_of_earlier_runs(
    db, caplog):
  # The crashed run got to pane 5; the recovery run recomputes the window
  # from scratch, so its pane 1 (generation 7) must replace pane 5.
  write(db, results=[result(pane_index=5, timing='LATE', orders=4,
                            revenue='40')],
        tops=[top(1, 'p1', '40', pane_index=5), top(2, 'p2', '1',
                                                     pane_index=5)])
  write(db, results=[result(pane_index=1, timing='ON_TIME', orders=6,
                            revenue='60')],
        tops=[top(1, 'p9', '60', pane_index=1)], generation=7)
  [row] = categories(db)
  assert (row['generation'], row['pane_index'], row['orders']) == (7, 1, 6)
  assert [(t['rank'], t['product_id']) for t in tops_of(db)] == [(1, 'p9')]
  # ...and an ordinary run (generation 0) can no longer overwrite it; it
  # says so.
  assert 'recovery run' not in caplog.text
  with caplog.at_level('WARNING'):
    write(db, results=[result(pane_index=9, orders=1, revenue='1')],
          tops=[top(1, 'p0', '1', pane_index=9)])
  assert 'a recovery run (--recover, generation 7) wrote this table' in (
      caplog.text)
  assert categories(db)[0]['orders'] == 6
  assert tops_of(db)[0]['product_id'] == 'p9'
