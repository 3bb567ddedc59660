"""The schema step for PostgreSQL: tables and who may do what with them.

Least privilege (docs/postgres.md, "Roles"): the tables belong to an owner
role that runs this step; the pipeline writes with a role that can only
read, insert and update its tables (and delete a window's old top-N rows,
the one DELETE the sink runs); the dashboard reads with a role that can only
SELECT. Neither can create, alter or drop anything: no CREATE on the schema,
no TEMPORARY on the database, no ownership.

    init_schema('postgresql://sales_owner@127.0.0.1:5432/sales',
                writer='sales', reader='sales_reader')

Idempotent: run it again after an upgrade adds a table.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from transforms.sinks.database.tables import TABLE_COLUMNS, TOP_TABLE
from transforms.sinks.postgres_sink import PostgresStore, postgres_conninfo

# What each role may do, per table (the sink's statements need no more:
# upserts read the row they replace, the top-N list is replaced by DELETE +
# INSERT of one window).
WRITER_PRIVILEGES: Dict[str, Tuple[str, ...]] = {
    table: ('SELECT', 'INSERT', 'UPDATE') + (
        ('DELETE',) if table == TOP_TABLE else ())
    for table in TABLE_COLUMNS}
READER_PRIVILEGES: Tuple[str, ...] = ('SELECT',)


def grant_statements(dbname: str, writer: Optional[str],
                     reader: Optional[str]) -> List:
  """The REVOKE/GRANT statements (psycopg.sql) of the roles' privileges in
  database ``dbname``."""
  from psycopg import sql
  db = sql.Identifier(dbname)
  out = [sql.SQL('REVOKE CREATE ON SCHEMA public FROM PUBLIC'),
         sql.SQL('REVOKE TEMPORARY ON DATABASE {} FROM PUBLIC').format(db)]
  for table in TABLE_COLUMNS:
    t = sql.Identifier(table)
    out.append(sql.SQL('REVOKE ALL ON {} FROM PUBLIC').format(t))
    for role, privileges in ((writer, WRITER_PRIVILEGES[table]),
                             (reader, READER_PRIVILEGES)):
      if role:
        r = sql.Identifier(role)
        out.append(sql.SQL('REVOKE ALL ON {} FROM {}').format(t, r))
        out.append(sql.SQL('GRANT {} ON {} TO {}').format(
            sql.SQL(', ').join(sql.SQL(p) for p in privileges), t, r))
  for role in (writer, reader):
    if role:
      out.append(sql.SQL('GRANT CONNECT ON DATABASE {} TO {}').format(
          db, sql.Identifier(role)))
      out.append(sql.SQL('GRANT USAGE ON SCHEMA public TO {}').format(
          sql.Identifier(role)))
  return out


def init_schema(url: str, writer: Optional[str] = None,
                reader: Optional[str] = None) -> None:
  """Brings the tables to the sink's schema (creates them, adds the columns
  of a newer version) and grants the writer and reader roles their
  privileges, in one transaction, as the role in ``url`` (the owner).

  Raises ValueError when a role does not exist or the URL is refused, and
  database.SinkError (one line) when the server refuses the step.
  """
  store = PostgresStore(postgres_conninfo(url),
                        backoff=PostgresStore.backoff.with_attempts(3))

  def step(cursor):
    for role in (writer, reader):
      if role and cursor.execute('SELECT 1 FROM pg_roles WHERE rolname = %s',
                                 (role,)).fetchone() is None:
        raise ValueError(f'role {role!r} does not exist on '
                         f'{store.describe()} (services/postgres/postgres.sh '
                         f'start creates it)')
    store.dialect.lock(cursor, 'sales-pipeline schema')
    for statement in store.dialect.schema_changes(cursor):
      cursor.execute(statement)
    # A GRANT by another role is a silent no-op: refuse it instead.
    dbname, user = cursor.execute(
        'SELECT current_database(), current_user').fetchone()
    owners = {row[0] for row in cursor.execute(
        "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = "
        "current_schema() AND tablename = ANY(%s)", (list(TABLE_COLUMNS),))}
    if owners != {user}:
      raise ValueError(
          f'the schema step runs as the owner of the tables '
          f'({", ".join(sorted(owners))}), not {user}')
    for statement in grant_statements(dbname, writer, reader):
      cursor.execute(statement)

  try:
    store.run_in_transaction(step)
  finally:
    store.close()
