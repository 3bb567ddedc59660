"""Two `postgres.sh start` at once (as two pytest-xdist workers' session
fixtures do when the server is down) both succeed: before the start lock,
the second lost the race for the cluster's postmaster.pid and failed, and
its worker's PostgreSQL tests were skipped."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile

import pytest

from tests.fixtures.postgres import SCRIPT

pytestmark = [pytest.mark.postgres, pytest.mark.integration]


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def test_two_starts_at_once_both_succeed():
  # A cluster of its own (its own directory and port), so the suite's is
  # left alone; under /tmp, which the postgres OS user can enter.
  base = tempfile.mkdtemp(prefix='pg-start-', dir='/tmp')
  os.chmod(base, 0o755)
  env = dict(os.environ, SALES_PG_DATA=os.path.join(base, 'pg'),
             PGPORT=str(_free_port()))
  try:
    starts = [subprocess.Popen(['bash', str(SCRIPT), 'start'], env=env,
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
              for _ in range(2)]
    outcomes = [(p.wait(timeout=600), p.stderr.read()) for p in starts]
    assert [rc for rc, _ in outcomes] == [0, 0], outcomes
    assert subprocess.run(['bash', str(SCRIPT), 'status'], env=env,
                          capture_output=True, timeout=60).returncode == 0
  finally:
    subprocess.run(['bash', str(SCRIPT), 'stop'], env=env,
                   capture_output=True, timeout=120, check=False)
    shutil.rmtree(base, ignore_errors=True)
