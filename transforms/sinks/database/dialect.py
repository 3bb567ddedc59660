"""The Dialect interface: what differs between SQL databases.

SQLite and PostgreSQL (transforms/sinks/sqlite_sink.py, postgres_sink.py)
each give one: SQL types for the logical ones of ``tables``, parameter
markers, value forms, locks. Everything else is shared.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Sequence, Tuple

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
