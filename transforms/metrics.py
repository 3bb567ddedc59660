"""The run's counters: their names, written once.

Every step counts into the namespace `sales`; the CLI's summary reads them
back (read = valid + dead letters + duplicates + late).
"""
from __future__ import annotations

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
