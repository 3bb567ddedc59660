"""SQLite sink: the embedded default database, upserted idempotently.

    {'results': ..., 'top_products': ..., 'dead_letters': ...} \\
        | WriteToSQLite('sqlite:///output/sales.db')

Tables, keys and the "newer pane wins" rule: transforms/sinks/database/.
In SQLite, times are ISO-8601 UTC text (``2026-11-02T13:00:00Z``) and money
is TEXT holding the exact two-decimal string (``'1234.50'``), so no cent is
lost to floating point; booleans are 0/1.

Where: ``sqlite:///relative/path.db`` (relative to the directory the
pipeline is launched from), ``sqlite:////absolute/path.db``, or a plain file
path. Missing parent directories are created (0750), and a new database
file is created 0640 (both less with the umask), never world-readable. The
path is resolved when the
transform is built, so every worker writes the same file: SQLite is for a
single machine (DirectRunner/Prism, or Flink on one host), not for
distributed workers.

Concurrency: the database runs in WAL mode with a busy timeout, and every
write transaction starts with ``BEGIN IMMEDIATE`` (takes the write lock at
once, so two writers never deadlock upgrading a read lock). Several bundles,
threads or processes may write at once; a write that still finds the
database locked after the busy timeout is retried with backoff a few times.
"""
from __future__ import annotations

import datetime
import logging
import os
import sqlite3
from typing import Any, Callable, Optional, Set

from transforms.event_time import format_utc_ms
from transforms.sinks import database
from transforms.sinks.rows import to_cents

_LOG = logging.getLogger(__name__)
# How long a write waits for another writer's lock before it counts as busy
# (a transient error, retried with the store's backoff).
BUSY_TIMEOUT_S = 30.0


class SQLiteDialect(database.Dialect):
  name = 'sqlite'
  types = {'time': 'TEXT', 'money': 'TEXT', 'text': 'TEXT', 'int': 'INTEGER',
           'bigint': 'INTEGER', 'bool': 'INTEGER', 'json': 'TEXT',
           'float': 'REAL'}

  def param(self, name: str) -> str:
    return f':{name}'

  def time(self, epoch_ms: int) -> str:
    return format_utc_ms(int(epoch_ms))

  def money(self, value) -> str:
    return str(to_cents(value))

  def existing_columns(self, cursor, table: str) -> Set[str]:
    cursor.execute(f'PRAGMA table_info({table})')
    return {row[1] for row in cursor.fetchall()}

  def boolean(self, value: bool) -> int:
    return 1 if value else 0

  def now(self) -> str:
    # Always with milliseconds (unlike format_utc_ms): fixed-width text, so
    # updated_at sorts in time order even within one second.
    return datetime.datetime.now(datetime.timezone.utc).strftime(
        '%Y-%m-%dT%H:%M:%S.%f')[:-3] + 'Z'


def sqlite_path(url_or_path: str) -> str:
  """The absolute file path of a ``sqlite:///...`` URL or a plain path."""
  if not url_or_path or not str(url_or_path).strip():
    raise ValueError('SQLite sink: empty database path')
  text = str(url_or_path).strip()
  if text.startswith('sqlite:'):
    if not text.startswith('sqlite:///'):
      raise ValueError(
          f'SQLite sink: bad URL {text!r}: use sqlite:///relative/path.db or '
          f'sqlite:////absolute/path.db')
    path = text[len('sqlite:///'):]
    if '?' in path:
      raise ValueError(f'SQLite sink: URL options are not supported: {text!r}')
  elif '://' in text:
    raise ValueError(f'SQLite sink: not a SQLite URL: {text.split("://")[0]}://'
                     f'... (use sqlite:///path.db)')
  else:
    path = text
  if not path or path == ':memory:' or path.startswith('file:'):
    raise ValueError(
        f'SQLite sink: {text!r} is not a file; the sink needs a database file '
        f'that every bundle can open')
  return os.path.abspath(os.path.expanduser(path))


def create_private(path: str) -> None:
  """Creates an empty database file with mode 0640 (less with the umask)
  unless it exists: sqlite3 would create it 0644, readable by anyone, and
  give its WAL and shared-memory files the same mode."""
  try:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                 0o640)
  except FileExistsError:
    return  # an existing database (or a link to one) keeps its mode
  os.close(fd)


def _is_busy(error: sqlite3.Error) -> bool:
  message = str(error).lower()
  return 'locked' in message or 'busy' in message


class SQLiteStore(database.Store):
  """One sqlite3 connection in WAL mode."""
  dialect = SQLiteDialect()
  service = 'SQLite'
  backoff = database.Backoff(attempts=5, base_s=0.2, cap_s=5.0)

  def __init__(self, path: str):
    super().__init__()
    self.path = path

  def describe(self) -> str:
    return f'sqlite:///{self.path}'

  def open(self) -> None:
    if self._conn is not None:
      return
    try:
      directory = os.path.dirname(self.path)
      if directory:
        os.makedirs(directory, mode=0o750, exist_ok=True)
      create_private(self.path)
      # isolation_level=None: no implicit transactions; we BEGIN ourselves.
      conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S,
                             isolation_level=None, check_same_thread=False)
      conn.execute(f'PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}')
      mode = conn.execute('PRAGMA journal_mode = WAL').fetchone()[0]
      if str(mode).lower() != 'wal':
        _LOG.warning('SQLite sink: %s is in %s journal mode, not WAL',
                     self.path, mode)
    except (sqlite3.Error, OSError) as e:
      raise database.SinkError(
          f'SQLite sink cannot open {self.path}: {e}') from None
    self._conn = conn

  def close(self) -> None:
    if self._conn is not None:
      self._conn.close()
      self._conn = None

  def run_in_transaction(self, work: Callable[[Any], Any]) -> Any:
    self.open()
    delays = self.retry_delays()
    attempt = 0
    while True:
      attempt += 1
      cursor = self._conn.cursor()
      try:
        cursor.execute('BEGIN IMMEDIATE')
        try:
          result = work(cursor)
          cursor.execute('COMMIT')
          return result
        except BaseException:
          if self._conn.in_transaction:
            self._conn.execute('ROLLBACK')
          raise
      except sqlite3.OperationalError as e:
        delay = next(delays, None)
        if not _is_busy(e):
          raise database.SinkError(
              f'SQLite sink cannot write {self.path}: {e}') from None
        if delay is None:
          raise database.SinkError(
              f'SQLite sink: {self.path} stayed locked by another writer '
              f'after {attempt} attempts: {e}') from None
        _LOG.warning('SQLite sink: %s is busy (%s); retrying in %.1fs',
                     self.path, e, delay)
        database.sleep(delay)
      except sqlite3.Error as e:
        raise database.SinkError(
            f'SQLite sink cannot write {self.path}: {e}') from None
      finally:
        cursor.close()


class WriteToSQLite(database.WriteToDatabase):
  """Upserts results, top products and dead letters into a SQLite file.

  Input: a dict with any of 'results' (PCollection[CategoryResult]),
  'top_products' (PCollection[TopProduct]), 'dead_letters'
  (PCollection[DeadLetter]). Output: the same keys, empty PCollections.

  url_or_path: ``sqlite:///relative.db``, ``sqlite:////abs/path.db`` or a
    plain path. Other arguments: see ``database.WriteToDatabase``.
  """

  def __init__(self, url_or_path: str, run_id: Optional[str] = None,
               track_run: bool = True, batch_size: int = 1000, label=None,
               generation: int = 0):
    self.path = sqlite_path(url_or_path)
    super().__init__(SQLiteStore(self.path),
                     run_id=run_id, track_run=track_run,
                     batch_size=batch_size, label=label,
                     generation=generation)
