"""The Dialect interface: what differs between SQL databases.

SQLite and PostgreSQL (transforms/sinks/sqlite_sink.py, postgres_sink.py)
each give one: SQL types for the logical ones of ``tables``, parameter
markers, value forms, locks. Everything else is shared.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

from transforms.sinks.database.tables import (COLUMN_DEFAULTS, PRIMARY_KEYS,
                                              TABLE_COLUMNS)


class Dialect:
  """What differs between SQL databases: types, parameters, value forms."""
  name = 'sql'
  types: Dict[str, str] = {}

  def param(self, name: str) -> str:
    raise NotImplementedError

  def time(self, epoch_ms: int) -> Any:
    raise NotImplementedError

  def money(self, value) -> Any:
    raise NotImplementedError

  def boolean(self, value: bool) -> Any:
    return bool(value)

  def now(self) -> Any:
    """The wall-clock value for started_at / updated_at."""
    raise NotImplementedError

  def json(self, value: Optional[Dict[str, Any]]) -> Any:
    return None if value is None else json.dumps(value, sort_keys=True)

  def lock(self, cursor, name: str) -> None:
    """Takes a transaction-scoped lock named ``name``, serialising writers
    of one window's top-N list or of the schema (a no-op where the database
    already serialises all writers)."""

  def insert_sql(self, table: str, columns: Sequence[str]) -> str:
    return (f'INSERT INTO {table} ({", ".join(columns)}) VALUES '
            f'({", ".join(self.param(c) for c in columns)})')

  def create_table_sql(self, table: str) -> str:
    return self.create_sql(table, TABLE_COLUMNS[table], PRIMARY_KEYS[table])

  def create_sql(self, table: str, columns: Sequence[Tuple[str, str, bool]],
                 key: Sequence[str]) -> str:
    """CREATE TABLE IF NOT EXISTS for (name, logical type, NOT NULL)
    columns and a primary key."""
    cols = []
    for name, logical, not_null in columns:
      col = f'{name} {self.types[logical]}'
      if not_null:
        col += ' NOT NULL'
      default = COLUMN_DEFAULTS.get((table, name))
      if default is not None:
        col += f' DEFAULT {default}'
      cols.append(col)
    cols.append(f'PRIMARY KEY ({", ".join(key)})')
    body = ',\n  '.join(cols)
    return f'CREATE TABLE IF NOT EXISTS {table} (\n  {body}\n)'

  def schema_sql(self) -> List[str]:
    return [self.create_table_sql(t) for t in TABLE_COLUMNS]

  def existing_columns(self, cursor, table: str) -> Set[str]:
    """The columns a table has in the database now."""
    cursor.execute(
        'SELECT column_name FROM information_schema.columns WHERE '
        f'table_schema = current_schema() AND table_name = {self.param("t")}',
        {'t': table})
    return {row[0] for row in cursor.fetchall()}

  def added_columns_sql(self, table: str, existing: Set[str]) -> List[str]:
    """ALTER TABLE statements adding the columns a table created by an
    older version lacks (``day``, ``rank``); they may hold NULL, as the
    rows written before them do."""
    if not existing:
      return []  # no such table: CREATE TABLE made it whole
    return [f'ALTER TABLE {table} ADD COLUMN {name} {self.types[logical]}'
            for name, logical, _ in TABLE_COLUMNS[table]
            if name not in existing]

  def schema_changes(self, cursor) -> List[str]:
    """The statements that bring the database to the sink's schema: CREATE
    TABLE for a missing table, ALTER TABLE for a missing column; none when
    it is up to date (so a role without DDL rights, docs/postgres.md
    "Roles", writes without ever trying one)."""
    out = []
    for table in TABLE_COLUMNS:
      existing = self.existing_columns(cursor, table)
      if existing:
        out += self.added_columns_sql(table, existing)
      else:
        out.append(self.create_table_sql(table))
    return out
