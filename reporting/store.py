"""Read-only connections to the database stores, and the tables read from
them.

* SQLite (``sqlite:///path.db``): opened with ``mode=ro``, so nothing here
  can write, create or lock the file for writing; a missing file is an error,
  not a new empty database.
* PostgreSQL (``postgresql://user@host:port/db``): every transaction is
  read-only (``default_transaction_read_only``); the password comes from
  ``PGPASSWORD``, ``~/.pgpass`` or ``PGPASSFILE`` as for the sink, never
  from the URL (one with a password is refused).

Errors are ``StoreUnavailable`` with one line that hides any secret.
"""
from __future__ import annotations

import contextlib
import os
import sqlite3
import urllib.parse
from typing import Any, Dict, Iterator, List, Tuple

from reporting.tables import (REPORTED_MINED, DeadLetterTally, Tables,
                              normalize_mined, normalize_row)
from transforms.redact import redact_text, redact_url
from transforms.sinks.database.tables import (CATEGORY_TABLE,
                                              DEAD_LETTER_TABLE, TOP_TABLE)
from transforms.sinks.mined import MINED_TABLES

__all__ = ['StoreUnavailable', 'StoreEmpty', 'check_store_url',
           'read_only', 'read_store']

CONNECT_TIMEOUT_S = 5
# Dead letters read as examples (the panel keeps a few per reason).
EXAMPLE_ROWS = 200


class StoreUnavailable(RuntimeError):
  """The store cannot be opened or read; the message is one line."""


class StoreEmpty(StoreUnavailable):
  """The store is reachable but holds no results yet."""


def check_store_url(url: str) -> str:
  """The store's kind ('sqlite' or 'postgres'); ValueError when the URL is
  neither (or a PostgreSQL URL carries a password)."""
  text = str(url or '').strip()
  if text.startswith('sqlite:'):
    from transforms.sinks.sqlite_sink import sqlite_path
    sqlite_path(text)
    return 'sqlite'
  if text.startswith(('postgresql://', 'postgres://')):
    from transforms.sinks.postgres_sink import postgres_conninfo
    postgres_conninfo(text)
    return 'postgres'
  raise ValueError(f'--store must be sqlite:///path.db or '
                   f'postgresql://user@host:port/db, not {redact_url(text)!r}')


@contextlib.contextmanager
def read_only(url: str) -> Iterator[Any]:
  """A DB-API connection that cannot write."""
  kind = check_store_url(url)
  if kind == 'sqlite':
    from transforms.sinks.sqlite_sink import sqlite_path
    path = sqlite_path(url)
    if not os.path.exists(path):
      raise StoreEmpty(f'no database at {path} yet (has the pipeline '
                       f'written to it?)')
    try:
      conn = sqlite3.connect(f'file:{urllib.parse.quote(path)}?mode=ro',
                             uri=True, timeout=CONNECT_TIMEOUT_S)
    except sqlite3.Error as e:
      raise StoreUnavailable(f'cannot open {path}: {e}') from None
  else:
    import psycopg
    from transforms.sinks.postgres_sink import describe_conninfo
    try:
      conn = psycopg.connect(
          url, connect_timeout=CONNECT_TIMEOUT_S,
          application_name='sales-dashboard',
          options='-c default_transaction_read_only=on')
      conn.read_only = True
    except psycopg.Error as e:
      first = (str(e).strip().splitlines() or [type(e).__name__])[0]
      raise StoreUnavailable(
          f'cannot connect to PostgreSQL at {describe_conninfo(url)}: '
          f'{redact_text(first)}') from None
  try:
    yield conn
  finally:
    conn.close()


def _rows(conn: Any, sql: str) -> List[Dict[str, Any]]:
  cur = conn.cursor()
  cur.execute(sql)
  names = [d[0] for d in cur.description]
  return [dict(zip(names, row)) for row in cur.fetchall()]


def _missing_table(error: Exception) -> bool:
  text = str(error).lower()
  return 'no such table' in text or 'does not exist' in text


def _mined_rows(conn: Any) -> Dict[str, List[Dict[str, Any]]]:
  """kind -> rows of each mined table the report shows that the store
  has (a table is created only when a run first writes it)."""
  out = {}
  for kind in REPORTED_MINED:
    try:
      rows = _rows(conn, f'SELECT * FROM {MINED_TABLES[kind].table}')
    except Exception as e:  # pylint: disable=broad-except
      if not _missing_table(e):
        raise
      conn.rollback()  # PostgreSQL: the failed statement ended the transaction
      continue
    out[kind] = [normalize_mined(kind, r) for r in rows]
  return out


def read_store(url: str, mined: bool = False) -> Tables:
  """The results, top products and dead letters a store holds: for each
  window (and key), the newest pane it has received; with mined, also the
  mined tables the report shows, those the store has."""
  try:
    with read_only(url) as conn:
      try:
        results = _rows(conn, f'SELECT * FROM {CATEGORY_TABLE}')
        top = _rows(conn, f'SELECT * FROM {TOP_TABLE}')
        reasons: List[Tuple[str, int]] = [
            (r['reason'], int(r['n'])) for r in _rows(
                conn, f'SELECT reason, count(*) AS n FROM '
                f'{DEAD_LETTER_TABLE} GROUP BY reason')]
        examples = _rows(
            conn, f'SELECT source, partition, position, reason, detail, '
            f'substr(payload, 1, 400) AS payload FROM {DEAD_LETTER_TABLE} '
            f'ORDER BY source, partition, position LIMIT {EXAMPLE_ROWS}')
        mined_rows = _mined_rows(conn) if mined else {}
      except Exception as e:  # pylint: disable=broad-except
        if _missing_table(e):
          raise StoreEmpty('the store has no results yet (no tables)') from None
        raise StoreUnavailable(
            f'cannot read the store: {redact_text(str(e).splitlines()[0])}'
        ) from None
  except StoreUnavailable:
    raise
  except ValueError as e:
    raise StoreUnavailable(str(e)) from None
  tally = DeadLetterTally()
  for letter in examples:
    tally.add(letter)
  tally.by_reason = dict(reasons)
  return Tables(results=[normalize_row(r) for r in results],
                top_products=[normalize_row(r) for r in top],
                dead_letters=tally, where=redact_url(url), mined=mined_rows)
