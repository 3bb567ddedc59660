"""Run records: one ``pipeline_runs`` row per run that wrote here.

A run's row is inserted when its first writer starts ('running'), counts
the rows each kind changed as bundles commit, and gets its final status
and counts from the launcher (``WriteToDatabase.finish_run``). Each
function works inside the caller's transaction.
"""
from __future__ import annotations

import datetime
import uuid
from typing import Any, Dict, Optional

from transforms.sinks.database.dialect import Dialect
from transforms.sinks.database.tables import RUNS_TABLE, WRITTEN_COLUMN


def new_run_id() -> str:
  """A sortable, unique id: UTC start time plus a random suffix."""
  stamp = datetime.datetime.now(datetime.timezone.utc).strftime(
      '%Y%m%dT%H%M%SZ')
  return f'{stamp}-{uuid.uuid4().hex[:8]}'


def run_start_sql(d: Dialect) -> str:
  cols = ['run_id', 'started_at', 'updated_at', 'status']
  return (f'{d.insert_sql(RUNS_TABLE, cols)} '
          f'ON CONFLICT (run_id) DO NOTHING')


def run_progress_sql(d: Dialect, kind: str) -> str:
  col = WRITTEN_COLUMN[kind]
  return (f'UPDATE {RUNS_TABLE} SET {col} = {col} + {d.param("written")}, '
          f'updated_at = {d.param("updated_at")} '
          f'WHERE run_id = {d.param("run_id")}')


def run_finish_sql(d: Dialect) -> str:
  return (f'UPDATE {RUNS_TABLE} SET status = {d.param("status")}, '
          f'counts = COALESCE({d.param("counts")}, counts), '
          f'updated_at = {d.param("updated_at")} '
          f'WHERE run_id = {d.param("run_id")}')


def start_run(cursor, d: Dialect, run_id: str, now,
              status: str = 'running') -> None:
  """Inserts the run's row unless it is there already."""
  cursor.execute(run_start_sql(d), {'run_id': run_id, 'started_at': now,
                                    'updated_at': now, 'status': status})


def count_written(cursor, d: Dialect, run_id: str, kind: str, written: int,
                  now) -> None:
  """Adds ``written`` changed rows of ``kind`` to the run's count."""
  cursor.execute(run_progress_sql(d, kind),
                 {'written': written, 'updated_at': now, 'run_id': run_id})


def finish_run(cursor, d: Dialect, run_id: str, status: str,
               counts: Optional[Dict[str, Any]], now) -> None:
  """Sets the run's final status and counts (inserting the row for a run
  that wrote nothing)."""
  start_run(cursor, d, run_id, now, status)
  cursor.execute(run_finish_sql(d), {
      'status': status, 'counts': d.json(counts), 'updated_at': now,
      'run_id': run_id})
