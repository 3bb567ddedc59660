"""--report: the HTML report of a bounded run, written once its tables are.

The report reads back what the run wrote (reporting/), so its figures are
the tables' figures: the Parquet/JSON Lines files under --output, or, with
--output '', the first SQLite or PostgreSQL --sink. The run's counts come
from its summary (the runner's counters).
"""
from __future__ import annotations

import datetime
import logging
import os
import time
from typing import Any, Dict, List

from pipelines.flags import UsageError
from pipelines.options import SalesConfig
from reporting.days import DEFAULT_TIMEZONE, zone
from reporting.tables import Tables, read_files
from transforms.mining.config import MiningConfig
from transforms.sinks.mined import ANOMALIES, PRODUCT_PAIRS, SEGMENT_SUMMARY
from transforms.windowing import SESSIONS, SLIDING, WindowPolicy

_LOG = logging.getLogger('pipeline')

_STORES = ('sqlite:', 'postgresql://', 'postgres://')


def report_timezone_of(policy: WindowPolicy) -> str:
  """The business time zone days are counted in: the window policy's
  --timezone where the pipeline has one, else UTC."""
  return getattr(policy, 'timezone', None) or DEFAULT_TIMEZONE


def report_timezone(config: SalesConfig) -> str:
  return report_timezone_of(config.window)


def _store_url(config: SalesConfig) -> str:
  return next((u for u in config.sinks if u.lower().startswith(_STORES)), '')


def check_report(config: SalesConfig) -> None:
  """Before the run: a report needs tables to read and a place to go."""
  if not config.report:
    return
  if not config.output and not _store_url(config):
    raise UsageError('--report reads the tables the run writes: give '
                     '--output DIR or a sqlite:// or postgresql:// --sink')
  if os.path.isdir(config.report):
    raise UsageError(f'--report {config.report}: is a directory; name an '
                     f'.html file')
  zone(report_timezone(config))


def window_words(policy: WindowPolicy) -> str:
  if policy.kind == SLIDING:
    return (f'sliding, {policy.size_seconds} s every '
            f'{policy.period_seconds} s')
  if policy.kind == SESSIONS:
    return f'sessions per customer, gap {policy.gap_seconds} s'
  if policy.kind == 'daily':  # calendar days (--window daily --timezone)
    return f'daily, calendar days in {report_timezone_of(policy)}'
  return f'{policy.kind}, {policy.size_seconds} s'


def mined_kinds(mining: MiningConfig) -> List[str]:
  """The mined tables the report shows that this run's steps wrote."""
  return [kind for kind, on in ((SEGMENT_SUMMARY, mining.segments),
                                (PRODUCT_PAIRS, mining.product_pairs),
                                (ANOMALIES, mining.anomalies)) if on]


def _tables(config: SalesConfig) -> Tables:
  if config.output:
    return read_files(config.output, mined=mined_kinds(config.mining))
  from reporting.store import read_store
  return read_store(_store_url(config), mined=True)


def write_run_report(config: SalesConfig, recorded: Dict[str, Any],
                     started_wall: float) -> str:
  """Writes the report of a finished bounded run; returns its path."""
  from reporting.report import ReportContext, write_report
  started = datetime.datetime.fromtimestamp(started_wall,
                                            datetime.timezone.utc)
  ctx = ReportContext(
      inputs=list(config.inputs) if config.source == 'files' else
      [f'{config.source} {config.kafka_topic}'],
      timezone=report_timezone(config), window=window_words(config.window),
      started_utc=started.strftime('%Y-%m-%d %H:%M:%S UTC'),
      duration_s=time.time() - started_wall,
      status=str(recorded.get('status', '')), counts=recorded)
  path = write_report(config.report, _tables(config), ctx)
  _LOG.info('report written: %s', path)
  return path
