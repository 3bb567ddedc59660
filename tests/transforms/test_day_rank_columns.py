"""`day` and `rank` in every sink: the same columns in files, stores and
messages; in the database stores, written on new tables and
added to tables an older version created (their old rows keep NULL).

SQLite always; PostgreSQL (the real server, tests/fixtures/postgres.py)
in the test marked `postgres`.
"""
from __future__ import annotations

import sqlite3

import pytest

from tests.fixtures.sink_rows import T0, result, top, write_rows
from transforms.sinks.database import PRIMARY_KEYS, TABLE_COLUMNS
from transforms.sinks.sqlite_sink import SQLiteDialect, WriteToSQLite

# What the tables lacked before daily windows.
OLD_LACKS = {'sales_by_category': {'day', 'rank'}, 'top_products': {'day'}}


def old_schema(types):
  """CREATE TABLE statements of the schema before `day` and `rank`."""
  out = []
  for table, columns in TABLE_COLUMNS.items():
    cols = [f'{name} {types[logical]}' for name, logical, _ in columns
            if name not in OLD_LACKS.get(table, ())]
    cols.append(f'PRIMARY KEY ({", ".join(PRIMARY_KEYS[table])})')
    out.append(f'CREATE TABLE {table} ({", ".join(cols)})')
  return out


NEW = [result('books', revenue='30')._replace(day='2026-11-02', rank=1),
       result('toys', revenue='20')._replace(day='2026-11-02', rank=2),
       result('__all__', revenue='50')._replace(day='2026-11-02')]
NEW_TOP = [top(1, 'p1', '30')._replace(day='2026-11-02')]
READ = ('SELECT window_start, category, day, rank FROM sales_by_category '
        'ORDER BY window_start, category')


def test_sqlite_tables_of_an_older_version_gain_day_and_rank(tmp_path):
  db = str(tmp_path / 'old.db')
  with sqlite3.connect(db) as con:
    for statement in old_schema(SQLiteDialect.types):
      con.execute(statement)
    con.execute(
        "INSERT INTO sales_by_category VALUES ('2026-11-02T12:00:00Z', "
        "'2026-11-02T13:00:00Z', '', 'books', 1, 1, '1.00', 1, '1.00', 0, "
        "'ON_TIME', 0, 1, '2026-11-02T13:00:00Z')")
  write_rows(WriteToSQLite(db), NEW, NEW_TOP)
  with sqlite3.connect(db) as con:
    assert con.execute(READ).fetchall() == [
        ('2026-11-02T12:00:00Z', 'books', None, None),
        ('2026-11-02T13:00:00Z', '__all__', '2026-11-02', None),
        ('2026-11-02T13:00:00Z', 'books', '2026-11-02', 1),
        ('2026-11-02T13:00:00Z', 'toys', '2026-11-02', 2)]
    assert con.execute('SELECT day, rank FROM top_products').fetchall() == [
        ('2026-11-02', 1)]


@pytest.mark.postgres
@pytest.mark.integration
def test_postgres_tables_of_an_older_version_gain_day_and_rank(
    postgres_database):
  import psycopg
  from transforms.sinks.postgres_sink import PostgresDialect, WriteToPostgres
  with psycopg.connect(postgres_database) as con:
    for statement in old_schema(PostgresDialect.types):
      con.execute(statement)
  write_rows(WriteToPostgres(postgres_database), NEW, NEW_TOP)
  write_rows(WriteToPostgres(postgres_database), NEW, NEW_TOP)  # again: no-op
  with psycopg.connect(postgres_database) as con:
    got = [(start.timestamp() * 1000 - T0, category, day, rank)
           for start, category, day, rank in con.execute(READ).fetchall()]
    assert got == [(0, '__all__', '2026-11-02', None),
                   (0, 'books', '2026-11-02', 1),
                   (0, 'toys', '2026-11-02', 2)]
    assert con.execute('SELECT day FROM top_products').fetchall() == [
        ('2026-11-02',)]


def test_every_sink_carries_the_same_columns_day_and_rank_included():
  from transforms.sinks import bigquery_sink, files
  from transforms.sinks.rows import json_ready
  row, top_row = NEW[0], NEW_TOP[0]
  store_only = {'generation', 'updated_at'}  # the stores' own bookkeeping
  for parquet, table, bigquery, sample in (
      (files.RESULTS_SCHEMA, 'sales_by_category',
       bigquery_sink.RESULTS_FIELDS, row),
      (files.TOP_PRODUCTS_SCHEMA, 'top_products',
       bigquery_sink.TOP_PRODUCTS_FIELDS, top_row)):
    columns = set(parquet.names)
    assert {'day', 'rank'} <= columns
    assert {c for c, _, _ in TABLE_COLUMNS[table]} - store_only == columns
    assert {name for name, _, _ in bigquery} == columns
    message = set(json_ready(sample))  # Kafka and Pub/Sub message bodies
    assert message - {'window_start_ms', 'window_end_ms'} == columns
