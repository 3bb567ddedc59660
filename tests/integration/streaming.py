"""Running `python -m pipeline` as a user would, for integration tests."""
from __future__ import annotations

import contextlib
import datetime
import os
import pathlib
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from typing import Callable, Iterator, List

from tests.fixtures.prism import prism_streaming_args

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
SAMPLE = os.path.join(ROOT, 'data', 'sample', 'orders.jsonl')
# The sample re-sends some orders up to 47 h of event time after newer
# events: lateness and dedupe memory must cover that for batch = stream.
# Streaming tests replay it moved to end now (tests/fixtures/samples.py), so
# that an idle partition's watermark, which follows the clock, never makes
# the replay late whatever the date.
THREE_DAYS = str(3 * 24 * 3600)
WINDOW_FLAGS = ['--allowed_lateness_seconds', THREE_DAYS,
                '--dedupe_ttl_seconds', THREE_DAYS]


def cli(*args: str) -> List[str]:
  return [sys.executable, '-m', 'pipeline', *args]


def run_bounded(*args: str) -> subprocess.CompletedProcess:
  proc = subprocess.run(cli(*args), cwd=ROOT, capture_output=True, text=True,
                        timeout=600)
  assert proc.returncode == 0, proc.stderr
  return proc


def kafka_stream_args(bootstrap: str, topic: str, group: str) -> List[str]:
  runner = [a for a in prism_streaming_args() if a != '--streaming']
  return ['--source', 'kafka', '--streaming', '--kafka_bootstrap_servers',
          bootstrap, '--kafka_topic', topic, '--kafka_group_id', group,
          '--early_firing_seconds', '1', *WINDOW_FLAGS, *runner]


@contextlib.contextmanager
def streaming_pipeline(*args: str, env=None, log_path=None,
                       whole_group: bool = True
                       ) -> Iterator[subprocess.Popen]:
  """Starts a streaming run; on exit stops it as a terminal's Ctrl-C does
  (SIGINT to the whole process group, the local runner included) and checks
  that it shut down cleanly. With ``log_path`` its stderr goes to that file,
  which the test can read while the run goes on. With ``whole_group=False``
  only the CLI gets the SIGINT (as from `kill -INT`): the runner outlives
  it and answers the CLI's last questions."""
  with contextlib.ExitStack() as stack:
    stderr = (subprocess.PIPE if log_path is None else stack.enter_context(
        open(log_path, 'w', encoding='utf-8')))
    proc = subprocess.Popen(cli(*args), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=stderr, text=True, env=env,
                            start_new_session=True)
    proc.log_path = log_path
    try:
      yield proc
    finally:
      if proc.poll() is None:
        (os.killpg if whole_group else os.kill)(proc.pid, signal.SIGINT)
      try:
        out, err = proc.communicate(timeout=90)
      except subprocess.TimeoutExpired:
        proc.kill()
        raise
  if log_path is not None:
    err = pathlib.Path(log_path).read_text(encoding='utf-8')
  proc.stderr_text = err  # the run's log lines
  proc.stdout_text = out  # the final summary, for the caller to check
  assert proc.returncode == 0, (
      f'exit {proc.returncode}; stdout: {out[-1000:]}; stderr: {err[-3000:]}')
  assert 'Traceback' not in err, err[-3000:]
  assert 'records read' in out, f'stdout: {out[-1000:]}; stderr: {err[-3000:]}'


def prism_children(pid: int) -> List[int]:
  """The local Prism processes a run's CLI (``pid``) started."""
  found = subprocess.run(['pgrep', '-P', str(pid), 'prism'],
                         capture_output=True, text=True).stdout.split()
  return [int(p) for p in found]


def wait_for(predicate: Callable[[], bool], timeout_s: float,
             proc: subprocess.Popen, interval_s: float = 2) -> bool:
  """Polls ``predicate`` until it holds or ``timeout_s`` passes; fails at
  once, with the run's log, if the ``streaming_pipeline`` run exits."""
  deadline = time.time() + timeout_s
  while time.time() < deadline:
    if predicate():
      return True
    if proc.poll() is not None:
      log = (proc.stderr.read() if proc.log_path is None else
             pathlib.Path(proc.log_path).read_text(encoding='utf-8'))
      raise AssertionError(f'pipeline exited: {log[-3000:]}')
    time.sleep(interval_s)
  return predicate()


# --- reading a SQLite sink, for batch = stream comparisons -----------------

VALUE_COLUMNS = ('window_start, window_end, customer_id, category, orders, '
                 'units, revenue_usd, distinct_customers, avg_order_value_usd')


def sqlite_table(db: str, sql: str) -> list:
  if not os.path.exists(db):
    return []
  try:
    with sqlite3.connect(db) as conn:
      return sorted(conn.execute(sql).fetchall())
  except sqlite3.OperationalError:  # table not created yet
    return []


def results(db: str) -> list:
  """The value columns of every result row (no pane columns)."""
  return sqlite_table(db, f'SELECT {VALUE_COLUMNS} FROM sales_by_category')


def postgres_results(url: str) -> list:
  """`results` of a PostgreSQL sink, in the SQLite sink's text forms."""
  import psycopg
  utc = datetime.timezone.utc

  def iso(t):
    return t.astimezone(utc).strftime('%Y-%m-%dT%H:%M:%SZ')

  try:
    with psycopg.connect(url, connect_timeout=10) as conn:
      rows = conn.execute(
          f'SELECT {VALUE_COLUMNS} FROM sales_by_category').fetchall()
  except psycopg.errors.UndefinedTable:
    return []
  return sorted((iso(r[0]), iso(r[1]), r[2], r[3], r[4], r[5], f'{r[6]:.2f}',
                 r[7], f'{r[8]:.2f}') for r in rows)


def drop_sink_tables(url: str) -> None:
  import psycopg
  with psycopg.connect(url, autocommit=True) as conn:
    conn.execute('DROP TABLE IF EXISTS sales_by_category, top_products, '
                 'dead_letters, pipeline_runs')


def top_products(db: str) -> list:
  return sqlite_table(db, 'SELECT window_start, window_end, rank, product_id, '
                      'revenue_usd FROM top_products')


def dead_letter_reasons(db: str) -> Counter:
  return Counter(
      r for (r,) in sqlite_table(db, 'SELECT reason FROM dead_letters'))


def bounded_db(tmp_path, sample: str = SAMPLE) -> str:
  """The bounded run over a sample, written to SQLite; returns its path.
  Streaming comparisons pass the `live_sample` they replay."""
  db = str(tmp_path / 'batch.db')
  run_bounded('--input', sample, '--output', '', '--sink', f'sqlite:///{db}')
  return db
