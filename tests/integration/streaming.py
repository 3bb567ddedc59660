"""Running `python -m pipeline` as a user would, for integration tests."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from typing import Callable, Iterator, List

from tests.fixtures.prism import prism_streaming_args

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
SAMPLE = os.path.join(ROOT, 'data', 'sample', 'orders.jsonl')
# The sample re-sends some orders up to 47 h of event time after newer
# events: lateness and dedupe memory must cover that for batch = stream.
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
def streaming_pipeline(*args: str, env=None) -> Iterator[subprocess.Popen]:
  """Starts a streaming run; on exit stops it as a terminal's Ctrl-C does
  (SIGINT to the whole process group, the local runner included) and checks
  that it shut down cleanly."""
  proc = subprocess.Popen(cli(*args), cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=env,
                          start_new_session=True)
  try:
    yield proc
  finally:
    if proc.poll() is None:
      os.killpg(proc.pid, signal.SIGINT)
    try:
      out, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
      proc.kill()
      raise
  assert proc.returncode == 0, err[-3000:]
  assert 'Traceback' not in err, err[-3000:]
  assert 'records read' in out


def wait_for(predicate: Callable[[], bool], timeout_s: float,
             proc: subprocess.Popen) -> bool:
  deadline = time.time() + timeout_s
  while time.time() < deadline:
    if predicate():
      return True
    if proc.poll() is not None:
      raise AssertionError(f'pipeline exited: {proc.stderr.read()[-3000:]}')
    time.sleep(2)
  return predicate()
