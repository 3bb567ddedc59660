"""One connection to Redis: the URL, the password, retries and outages.

``redis://[user@]host:port/db``: the URL never carries the password. It
comes from ``password`` (``env:NAME`` or ``file:PATH``, read where the sink
runs, so only the reference travels with the job), else from the
``REDISCLI_AUTH`` environment variable (redis-cli's own), else none. A URL
with a password, a query or a bad database number is refused.

Transient errors (connection refused or lost, a timeout, Redis loading its
data after a restart) are retried with backoff, the whole batch again (the
scripts make a repeat a no-op); the first failure and the recovery are one
warning each (transforms/outages.py). A wrong password or user fails at
once with a one-line ``SinkError``.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional

from transforms.redact import redact_url
from transforms.sinks import database

_LOG = logging.getLogger(__name__)

ENV_PASSWORD = 'REDISCLI_AUTH'
_URL = re.compile(r'^rediss?://(?:(?P<user>[^:@/]+)@)?(?P<host>[^:/@?#]+|'
                  r'\[[0-9A-Fa-f:]+\])(?::(?P<port>\d{1,5}))?'
                  r'(?:/(?P<db>\d{1,2})?)?$')


@dataclass(frozen=True)
class RedisAddress:
  host: str
  port: int
  db: int
  user: Optional[str]
  tls: bool

  def describe(self) -> str:
    who = f'{self.user}@' if self.user else ''
    scheme = 'rediss' if self.tls else 'redis'
    return f'{scheme}://{who}{self.host}:{self.port}/{self.db}'


def parse_redis_url(url: str) -> RedisAddress:
  """Checks a ``redis://`` URL; raises ValueError in one line (never with
  a password) when it is malformed or carries a password."""
  text = str(url or '').strip()
  shown = redact_url(text)
  rest = text.split('://', 1)[1] if '://' in text else ''
  if ':' in rest.rpartition('@')[0]:
    raise ValueError(
        f'Redis sink: the URL {shown!r} contains a password; remove it and '
        f'give --redis_password env:NAME or file:PATH (or set '
        f'{ENV_PASSWORD})')
  match = _URL.match(text)
  if not match:
    raise ValueError(
        f'Redis sink: bad URL {shown!r}; use redis://[user@]host:port/db '
        f'(db 0-15, no query)')
  db = int(match.group('db') or 0)
  port = int(match.group('port') or 6379)
  if not 0 < port < 65536:
    raise ValueError(f'Redis sink: bad port in {shown!r}')
  return RedisAddress(host=match.group('host').strip('[]'), port=port, db=db,
                      user=match.group('user'),
                      tls=text.lower().startswith('rediss:'))


def read_password(reference: str) -> Optional[str]:
  """The password named by ``env:NAME`` / ``file:PATH``; '' means
  REDISCLI_AUTH if set, else no password. Raises ValueError in one line
  that names the reference, never the secret."""
  if not reference:
    return os.environ.get(ENV_PASSWORD) or None
  kind, _, name = reference.partition(':')
  if kind == 'env' and name:
    if name not in os.environ:
      raise ValueError(f'--redis_password: environment variable {name} is '
                       f'not set')
    return os.environ[name]
  if kind == 'file' and name:
    try:
      with open(name, encoding='utf-8') as f:
        return f.read().strip()
    except OSError as e:
      raise ValueError(f'--redis_password: cannot read {name}: '
                       f'{e.strerror}') from None
  raise ValueError('--redis_password must be env:NAME or file:PATH')


def check_password_reference(reference: str) -> None:
  if reference and not re.match(r'^(env|file):.+', reference):
    raise ValueError('--redis_password must be env:NAME or file:PATH, never '
                     'the password itself')


def _first_line(error: BaseException) -> str:
  text = str(error).strip().splitlines()
  return text[0].rstrip('.') if text else type(error).__name__


class RedisStore(database.Store):
  """One redis-py client (picklable before ``open``)."""
  service = 'Redis'
  dialect = None  # no SQL; the scripts (scripts.py) hold the rule

  # About a minute of retries: a Redis restart loads its data meanwhile.
  backoff = database.Backoff(attempts=20, base_s=0.2, cap_s=5.0)

  def __init__(self, url: str, password: str = '', timeout_s: float = 10.0,
               backoff: Optional[database.Backoff] = None):
    super().__init__(backoff)
    self.address = parse_redis_url(url)
    check_password_reference(password)
    self.password = password  # the reference, never the secret
    self.timeout_s = timeout_s
    self.scripts = None

  def describe(self) -> str:
    return self.address.describe()

  def client(self):
    """A client that tries once: the retries are this store's own."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry
    a = self.address
    return redis.Redis(host=a.host, port=a.port, db=a.db, username=a.user,
                       password=read_password(self.password), ssl=a.tls,
                       socket_timeout=self.timeout_s,
                       socket_connect_timeout=self.timeout_s,
                       retry=Retry(NoBackoff(), 0), protocol=2,
                       decode_responses=True)

  def open(self) -> None:
    if self._conn is None:
      self._conn = self.client()

  def close(self) -> None:
    if self._conn is not None:
      self._conn.close()
      self._conn = None

  def ensure_schema(self) -> None:
    """Registers the scripts (loaded on first use, again after a restart)."""
    from transforms.sinks.redis_sink import scripts
    self.open()
    self.scripts = {
        'results': self._conn.register_script(scripts.RESULT_SCRIPT),
        'top_products': self._conn.register_script(scripts.TOP_SCRIPT),
        'dead_letters': self._conn.register_script(scripts.DEAD_LETTER_SCRIPT),
        'mined': self._conn.register_script(scripts.MINED_SCRIPT),
    }

  def run_in_transaction(self, work: Callable[[Any], Any]) -> Any:
    """Runs ``work(pipe)`` on a non-transactional pipeline and executes it:
    each script call is atomic on its own; the batch is retried whole."""
    import redis
    self.open()
    delays = self.retry_delays()
    attempt = 0
    while True:
      attempt += 1
      try:
        pipe = self._conn.pipeline(transaction=False)
        work(pipe)
        result = pipe.execute()
        self.outage(_LOG).answered()
        return result
      except redis.AuthenticationError as e:
        raise database.SinkError(
            f'Redis sink cannot log in to {self.describe()}: {_first_line(e)}'
            f' (check --redis_password or {ENV_PASSWORD}); not retrying'
        ) from None
      except (redis.ConnectionError, redis.TimeoutError,
              redis.BusyLoadingError) as e:
        delay = next(delays, None)
        if delay is None:
          raise database.SinkError(
              f'Redis sink gave up on {self.describe()} after {attempt} '
              f'attempts: {_first_line(e)}') from None
        self.outage(_LOG).failed(
            _first_line(e),
            f'retrying, up to {self.backoff.attempts} attempts per write')
        database.sleep(delay)
      except redis.ResponseError as e:
        if 'NOAUTH' in str(e) or 'WRONGPASS' in str(e):
          raise database.SinkError(
              f'Redis sink cannot log in to {self.describe()}: '
              f'{_first_line(e)} (check --redis_password or {ENV_PASSWORD})'
          ) from None
        raise database.SinkError(
            f'Redis sink cannot write to {self.describe()}: '
            f'{_first_line(e)}') from None


def connection_problem(url: str, password: str = '',
                       timeout_s: float = 3.0) -> Optional[str]:
  """None if Redis at ``url`` answers an authenticated PING within
  timeout_s, else one line saying what failed and what to do (a preflight
  check: one attempt, no retries)."""
  import redis
  try:
    store = RedisStore(url, password, timeout_s=timeout_s)
    client = store.client()
  except ValueError as e:
    return str(e)
  where = store.describe()
  try:
    client.ping()
    return None
  except (redis.AuthenticationError, redis.ResponseError) as e:
    if client.connection_pool.connection_kwargs.get('password') is None:
      return (f'Redis at {where} needs a password: give --redis_password '
              f'env:NAME or file:PATH, or set {ENV_PASSWORD} '
              f'(services/redis/redis.sh password-file names the local '
              f'server\'s file)')
    return (f'Redis at {where} refused the login: {_first_line(e)}; check '
            f'--redis_password or {ENV_PASSWORD} (services/redis/redis.sh '
            f'password-file names the local server\'s file)')
  except redis.RedisError as e:
    return (f'cannot reach Redis at {where} ({_first_line(e)}); start it with '
            f'services/redis/redis.sh start or fix the --sink URL')
  finally:
    client.close()
