"""The Store interface: one connection to one database, and its retries.

Each database implements ``open``, ``close``, ``describe`` and
``run_in_transaction`` (which errors are transient, what a one-line
``SinkError`` says); the retry budget and its backoff are shared.
"""
from __future__ import annotations

import dataclasses
import logging
import random
import time
from typing import Any, Callable, Iterable, Iterator, Optional

from transforms.outages import Outage
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


@dataclasses.dataclass(frozen=True)
class Backoff:
  """How a store retries a write that failed for a transient reason:
  ``attempts`` tries in all, waiting ``backoff_delays(attempts, base_s,
  cap_s)`` between them."""
  attempts: int
  base_s: float
  cap_s: float

  def with_attempts(self, attempts: int) -> 'Backoff':
    return dataclasses.replace(self, attempts=attempts)

  def delays(self) -> Iterator[float]:
    return iter(backoff_delays(self.attempts, self.base_s, self.cap_s))


class Store:
  """One connection to one database; implemented per database.

  Must be picklable before ``open()`` (it travels inside a DoFn); the open
  connection, ``_conn``, is never pickled or copied.

  backoff: each database's retries of a transaction that failed for a
    transient reason (its class attribute), unless one is given.
  """
  dialect: Dialect
  service = 'the database'  # as a user names it, in messages
  backoff: Backoff
  _conn: Any = None

  def __init__(self, backoff: Optional[Backoff] = None):
    if backoff is not None:
      self.backoff = backoff
    self._conn = None
    self._outage: Optional[Outage] = None

  def outage(self, log: logging.Logger) -> Outage:
    """This store's outage report (outages.Outage): one warning when its
    writes start failing, one when they succeed again."""
    if self._outage is None:
      self._outage = Outage(f'{self.service} at {self.describe()}', log)
    return self._outage

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
    return self.backoff.delays()

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
    """Brings the database to the sink's schema (Dialect.schema_changes).
    Where it is up to date nothing is run, so a role without DDL rights
    (docs/postgres.md, "Roles") writes to tables the owner made; where a
    change is due and the role may not make it, the SinkError says to run
    the schema step."""
    due = self.run_in_transaction(self.dialect.schema_changes)
    if not due:
      return

    def change(cursor):
      self.dialect.lock(cursor, 'sales-pipeline schema')
      for statement in self.dialect.schema_changes(cursor):
        cursor.execute(statement)
    try:
      self.run_in_transaction(change)
    except SinkError as e:
      if 'permission denied' not in str(e) and 'must be owner' not in str(e):
        raise
      raise SinkError(
          f'{e}; the tables are missing or older than this version and this '
          f'role may not change them: run the schema step as the owner role '
          f'(python -m pipelines.init_db, docs/postgres.md)') from None
