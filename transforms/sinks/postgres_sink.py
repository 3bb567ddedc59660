"""PostgreSQL sink: results upserted idempotently into a real server.

    {'results': ..., 'top_products': ..., 'dead_letters': ...} \\
        | WriteToPostgres('postgresql://sales@127.0.0.1:5432/sales')

Tables, keys and the "newer pane wins" rule: transforms/sinks/database/.
In PostgreSQL, window bounds and times are ``timestamptz``, money is
``NUMERIC(20,2)`` (rounded to cents ROUND_HALF_UP when written), flags are
``boolean`` and ``pipeline_runs.counts`` is ``jsonb``.

The URL never carries the password: libpq takes it from ``PGPASSWORD``, or
from ``~/.pgpass`` (or the file named by ``PGPASSFILE``). A URL with a
password (``user:secret@host`` or ``?password=``) is refused, so a secret
never lands in shell history, job graphs or logs. Any other libpq setting
may be given as a URL query parameter (``?sslmode=require``) or by the usual
``PG*`` environment variables.

Errors: transient ones (connection refused or lost, server starting up or
shutting down, too many connections, serialization failure, deadlock) are
retried with exponential backoff, a bounded number of times, re-running the
whole bundle transaction; permanent ones (authentication failed, missing
database or role, missing privileges, bad SQL) fail at once with a one-line
``SinkError`` that says what to fix.

Concurrent writers of one window's top-N list are serialised with a
transaction-scoped advisory lock, and so is the creation of the tables.
"""
from __future__ import annotations

import datetime
import logging
import re
from typing import Any, Callable, Optional

from transforms.redact import redact_text, redact_url
from transforms.sinks import database
from transforms.sinks.rows import to_cents

_LOG = logging.getLogger(__name__)

_APPLICATION_NAME = 'sales-pipeline-sink'


class PostgresDialect(database.Dialect):
  name = 'postgres'
  types = {'time': 'timestamptz', 'money': 'NUMERIC(20,2)', 'text': 'text',
           'int': 'integer', 'bigint': 'bigint', 'bool': 'boolean',
           'json': 'jsonb', 'float': 'double precision'}

  def param(self, name: str) -> str:
    return f'%({name})s'

  def time(self, epoch_ms: int) -> datetime.datetime:
    return datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + (
        datetime.timedelta(milliseconds=int(epoch_ms)))

  def money(self, value):
    return to_cents(value)

  def now(self) -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)

  def lock(self, cursor, name: str) -> None:
    cursor.execute('SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))',
                   (name,))


def redact(url: str) -> str:
  """The URL with any password replaced by ***, for messages.

  The user part ends at the LAST ``@`` (a password may contain ``@``, ``/``
  or ``:``); when in doubt this hides too much, never too little. The one
  rule of every message: transforms/redact.py.
  """
  return redact_url(url)


def postgres_conninfo(url: str) -> str:
  """Checks a ``postgresql://`` URL and returns it for libpq.

  Raises ValueError when the URL is malformed or carries a password.
  """
  from psycopg.conninfo import conninfo_to_dict
  text = str(url or '').strip()
  if not re.match(r'^postgres(ql)?://', text):
    raise ValueError(
        f'PostgreSQL sink: expected a postgresql://user@host:port/database '
        f'URL, got {redact(text)!r}')
  try:
    params = conninfo_to_dict(text)
  except Exception:  # its message could echo the URL, password and all
    raise ValueError(
        f'PostgreSQL sink: malformed URL {redact(text)!r}') from None
  # libpq may parse a password that holds '/' as part of the host: any
  # user:...@ (what redact hides) counts as a password too.
  if params.get('password') is not None or redact(text) != text:
    raise ValueError(
        f'PostgreSQL sink: the URL {redact(text)!r} contains a password; '
        f'remove it and supply the password through the PGPASSWORD '
        f'environment variable or a ~/.pgpass file (PGPASSFILE)')
  return text


def describe_conninfo(url: str) -> str:
  """user@host:port/dbname of a URL (no password: it has none)."""
  try:
    from psycopg.conninfo import conninfo_to_dict
    p = conninfo_to_dict(url)
  except Exception:
    return redact(url)
  host = p.get('host') or 'localhost'
  user = p.get('user') or '(default user)'
  port = p.get('port') or '5432'
  return f'{user}@{host}:{port}/{p.get("dbname") or "(default db)"}'


# SQLSTATEs worth another try: the transaction (or the connection) failed for
# a reason that goes away by itself.
_TRANSIENT_STATES = {
    '40001',  # serialization_failure
    '40P01',  # deadlock_detected
    '55P03',  # lock_not_available
    '57P01',  # admin_shutdown
    '57P02',  # crash_shutdown
    '57P03',  # cannot_connect_now (starting up)
    '53300',  # too_many_connections
    '53400',  # configuration_limit_exceeded
    '58000',  # system_error
}
# Connection-time errors come without a SQLSTATE: match libpq's messages.
_PERMANENT_CONNECT = [
    (re.compile(r'password authentication failed[^\n]*', re.I),
     'check PGPASSWORD, or ~/.pgpass / PGPASSFILE'),
    (re.compile(r'no password supplied|fe_sendauth[^\n]*', re.I),
     'set PGPASSWORD, or add the password to ~/.pgpass / PGPASSFILE'),
    (re.compile(r'(authentication failed|pg_hba\.conf)[^\n]*', re.I),
     'check the user, PGPASSWORD or ~/.pgpass, and the server pg_hba.conf'),
    (re.compile(r'database "[^"]*" does not exist', re.I),
     'create the database first (services/postgres/postgres.sh start creates '
     '"sales")'),
    (re.compile(r'role "[^"]*" does not exist', re.I),
     'create the role first, or fix the user in the URL'),
    (re.compile(r'permission denied[^\n]*', re.I), 'grant the role access'),
    (re.compile(r'invalid (dsn|connection option|sslmode|integer value)'
                r'[^\n]*', re.I), 'fix the URL'),
]


def _first_line(error: BaseException) -> str:
  text = str(error).strip()
  # libpq prefixes: keep the server's reason.
  if 'FATAL:' in text:
    text = text.split('FATAL:', 1)[1]
  line = text.strip().splitlines()[0] if text.strip() else type(error).__name__
  return redact_text(' '.join(line.split()))


def classify(error: BaseException) -> str:
  """'transient' or 'permanent' for a psycopg error."""
  import psycopg
  state = getattr(error, 'sqlstate', None)
  if state:
    if state in _TRANSIENT_STATES or state.startswith('08'):
      return 'transient'
    return 'permanent'
  text = str(error)
  for pattern, _ in _PERMANENT_CONNECT:
    if pattern.search(text):
      return 'permanent'
  if isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError)):
    # Refused, timed out, reset, closed unexpectedly: the server is away.
    return 'transient'
  return 'permanent'


def _hint(error: BaseException) -> str:
  text = str(error)
  for pattern, hint in _PERMANENT_CONNECT:
    if pattern.search(text):
      return hint
  return ''


class PostgresStore(database.Store):
  """One psycopg connection (autocommit; explicit transactions)."""
  dialect = PostgresDialect()
  service = 'PostgreSQL'
  backoff = database.Backoff(attempts=6, base_s=0.5, cap_s=20.0)

  def __init__(self, conninfo: str, connect_timeout_s: int = 10,
               backoff: Optional[database.Backoff] = None):
    super().__init__(backoff)
    self.conninfo = conninfo
    self.connect_timeout_s = connect_timeout_s

  def describe(self) -> str:
    return describe_conninfo(self.conninfo)

  def _connect(self):
    import psycopg
    return psycopg.connect(self.conninfo, autocommit=True,
                           connect_timeout=self.connect_timeout_s,
                           application_name=_APPLICATION_NAME)

  def open(self) -> None:
    if self._conn is None or self._conn.closed:
      self.run_in_transaction(None)

  def close(self) -> None:
    if self._conn is not None:
      try:
        self._conn.close()
      finally:
        self._conn = None

  def _fail(self, error: BaseException, attempts: int,
            transient: bool) -> database.SinkError:
    reason = _first_line(error)
    hint = _hint(error)
    where = self.describe()
    if transient:
      message = (f'PostgreSQL sink gave up on {where} after {attempts} '
                 f'attempts: {reason}')
    else:
      message = f'PostgreSQL sink cannot write to {where}: {reason}'
      if hint:
        message += f' ({hint})'
      message += '; not retrying'
    return database.SinkError(message)

  def run_in_transaction(self, work: Optional[Callable[[Any], Any]]) -> Any:
    """Runs work(cursor) in a transaction; work=None only connects."""
    import psycopg
    delays = self.retry_delays()
    attempt = 0
    while True:
      attempt += 1
      try:
        if self._conn is None or self._conn.closed:
          self._conn = None
          self._conn = self._connect()
        if work is None:
          self.outage(_LOG).answered()
          return None
        with self._conn.transaction():
          with self._conn.cursor() as cursor:
            result = work(cursor)
        self.outage(_LOG).answered()
        return result
      except psycopg.Error as e:
        transient = classify(e) == 'transient'
        if not transient:
          raise self._fail(e, attempt, transient=False) from None
        delay = next(delays, None)
        if delay is None:
          raise self._fail(e, attempt, transient=True) from None
        if self._conn is not None and (
            self._conn.closed or self._conn.broken):
          self.close()
        self.outage(_LOG).failed(
            _first_line(e),
            f'retrying, up to {self.backoff.attempts} attempts per write')
        database.sleep(delay)


class WriteToPostgres(database.WriteToDatabase):
  """Upserts results, top products and dead letters into PostgreSQL.

  Input: a dict with any of 'results' (PCollection[CategoryResult]),
  'top_products' (PCollection[TopProduct]), 'dead_letters'
  (PCollection[DeadLetter]). Output: the same keys, empty PCollections.

  url: ``postgresql://user@host:port/database`` without a password (see the
    module docstring). Other arguments: see ``database.WriteToDatabase``.
  """

  def __init__(self, url: str, run_id: Optional[str] = None,
               track_run: bool = True, batch_size: int = 1000,
               label=None, generation: int = 0):
    self.url = postgres_conninfo(url)
    super().__init__(
        PostgresStore(self.url), run_id=run_id, track_run=track_run,
        batch_size=batch_size, label=label, generation=generation)


def connection_problem(url: str, timeout_s: int = 3) -> Optional[str]:
  """None if the server behind ``url`` accepts a login within timeout_s,
  else one line saying what was tried, why it failed and what to do.

  A preflight check (pipelines/reachability.py): one attempt, no retries,
  so a server that is not running fails the command at once instead of
  after the sink's retries. The line names user@host:port/db, never a
  password (the URL has none; libpq's messages carry none).
  """
  import psycopg
  conninfo = postgres_conninfo(url)
  where = describe_conninfo(conninfo)
  try:
    # libpq's smallest connect_timeout is 2 s.
    conn = psycopg.connect(conninfo, autocommit=True,
                           connect_timeout=max(2, int(timeout_s)),
                           application_name=_APPLICATION_NAME)
  except psycopg.Error as e:
    text = str(e)
    hint = _hint(e)
    if hint:
      return (f'PostgreSQL at {where} refused the connection: '
              f'{_first_line(e)}; {hint}')
    if 'refused' in text.lower():
      reason = 'connection refused'
    elif 'timeout' in text.lower() or 'timed out' in text.lower():
      reason = f'no answer within {timeout_s} s'
    else:
      reason = _first_line(e)
    return (f'cannot reach PostgreSQL at {where} ({reason}); start it with '
            f'services/postgres/postgres.sh start or fix the --sink URL')
  conn.close()
  return None
