"""The Store interface: one connection to one database, and its retries.

Each database implements ``open``, ``close``, ``describe`` and
``run_in_transaction`` (which errors are transient, what a one-line
``SinkError`` says); the retry budget and its backoff are shared.
"""
from __future__ import annotations

import logging
import random
import time
from typing import Any, Callable, Iterable, Iterator, Optional

from transforms.sinks.database.dialect import Dialect


class SinkError(RuntimeError):
  """A database sink cannot write; the message is one line and says why."""


def backoff_delays(attempts: int, base: float, cap: float) -> Iterable[float]:
  """Exponential backoff with jitter: base, 2*base, ... capped; attempts-1
  delays (none after the last attempt)."""
  for i in range(max(attempts - 1, 0)):
    delay = min(cap, base * (2 ** i))
    yield delay * (0.5 + random.random() / 2)


def sleep(seconds: float) -> None:
  time.sleep(seconds)


class Store:
  """One connection to one database; implemented per database.

  Must be picklable before ``open()`` (it travels inside a DoFn); the open
  connection, ``_conn``, is never pickled or copied.

  max_attempts: tries per transaction for transient errors, waiting
    ``backoff_delays(max_attempts, base_delay_s, max_delay_s)`` between them.
  """
  dialect: Dialect
  _conn: Any = None

  def __init__(self, max_attempts: int, base_delay_s: float,
               max_delay_s: float):
    self.max_attempts = max_attempts
    self.base_delay_s = base_delay_s
    self.max_delay_s = max_delay_s
    self._conn = None
    # When the current outage began (monotonic s), or None: one warning per
    # outage and one when the store is back, the retries between at DEBUG.
    self._outage_since: Optional[float] = None

  def retrying(self, log: logging.Logger, error: str, attempt: int,
               delay: float) -> None:
    """Reports a transient failure before a retry."""
    if self._outage_since is None:
      self._outage_since = time.monotonic()
      log.warning('%s: %s; retrying (up to %d attempts per write)',
                  self.describe(), error, self.max_attempts)
    else:
      log.debug('%s: %s (attempt %d of %d); retrying in %.1fs',
                self.describe(), error, attempt, self.max_attempts, delay)

  def succeeded(self, log: logging.Logger) -> None:
    """Reports the end of an outage, once."""
    if self._outage_since is not None:
      log.warning('%s: reachable again after %.1f s', self.describe(),
                  time.monotonic() - self._outage_since)
      self._outage_since = None

  def __getstate__(self):
    state = dict(self.__dict__)
    state['_conn'] = None
    return state

  def __copy__(self):
    clone = type(self).__new__(type(self))
    clone.__dict__.update(self.__getstate__())
    return clone

  def retry_delays(self) -> Iterator[float]:
    """The waits before each retry of one transaction, then none."""
    return iter(backoff_delays(self.max_attempts, self.base_delay_s,
                               self.max_delay_s))

  def describe(self) -> str:
    """Where this store writes, safe to log (never a password)."""
    raise NotImplementedError

  def open(self) -> None:
    raise NotImplementedError

  def close(self) -> None:
    raise NotImplementedError

  def run_in_transaction(self, work: Callable[[Any], Any]) -> Any:
    """Runs ``work(cursor)`` in one transaction, retrying transient errors
    (the whole transaction again); raises SinkError on permanent ones."""
    raise NotImplementedError

  def ensure_schema(self) -> None:
    def create(cursor):
      self.dialect.lock(cursor, 'sales-pipeline schema')
      for statement in self.dialect.schema_sql():
        cursor.execute(statement)
    self.run_in_transaction(create)
