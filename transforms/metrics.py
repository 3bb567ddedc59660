"""The run's counters: their names, written once.

Every step counts into the namespace `sales`; the CLI's summary reads them
back (read = valid + dead letters + duplicates + late).
"""
from __future__ import annotations

import logging
import time
from typing import Iterable

from apache_beam.metrics import Metrics

NAMESPACE = 'sales'
RECORDS_READ = 'records_read'
RECORDS_VALID = 'records_parsed_valid'  # before dedupe
DUPLICATES = 'duplicates'
WINDOWS_FINAL = 'windows_final'
RESULT_ROWS = 'result_rows'
DEDUPE_CACHE_REBUILDS = 'dedupe_cache_rebuilds'
DEAD_LETTER_PREFIX = 'dead_letter:'
# Where the readers' progress records go (ReadProgress).
PROGRESS_LOGGER = 'sales.progress'


def counter(name: str):
  return Metrics.counter(NAMESPACE, name)


def dead_letter_counter(reason: str):
  return Metrics.counter(NAMESPACE, DEAD_LETTER_PREFIX + reason)


def count_reasons(reasons: Iterable[str]) -> None:
  """One increment per dead letter, by reason, in one call per reason."""
  totals = {}
  for reason in reasons:
    totals[reason] = totals.get(reason, 0) + 1
  for reason, count in totals.items():
    dead_letter_counter(reason).inc(count)


class ReadProgress:
  """The records one reading DoFn instance has read, as a DEBUG record of
  the logger PROGRESS_LOGGER at most once per interval, with the fields
  `reader` (this instance) and `records` (its total so far).

  A runner in this process reports its counters only when the job ends;
  these records let the terminal show progress meanwhile
  (pipelines/progress.py enables the logger only for that). Elsewhere the
  logger is off, and adding costs one level check.
  """

  def __init__(self, interval_s: float = 1.0) -> None:
    self._interval_s = interval_s
    self._total = 0
    self._next_s = 0.0
    # Looked up once (getLogger takes a lock); a Logger pickles by name.
    self._log = logging.getLogger(PROGRESS_LOGGER)

  def add(self, records: int) -> None:
    self._total += records
    if not self._log.isEnabledFor(logging.DEBUG):
      return
    now = time.monotonic()
    if now >= self._next_s:
      self._next_s = now + self._interval_s
      self._log.debug('records read', extra={'reader': id(self),
                                       'records': self._total})
