"""Running `python -m dashboard` as a user would, on a free loopback port."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Iterator

from services.kafka.broker import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def _listening(port: int) -> bool:
  with socket.socket() as s:
    s.settimeout(0.5)
    return s.connect_ex(('127.0.0.1', port)) == 0


@contextlib.contextmanager
def dashboard(store: str, *args: str, env=None) -> Iterator[str]:
  """Serves the dashboard over a store; yields its base URL. On exit stops
  it (SIGTERM) and checks that it ended cleanly."""
  port = free_port()
  proc = subprocess.Popen(
      [sys.executable, '-m', 'dashboard', '--store', store, '--port',
       str(port), '--refresh_seconds', '1', *args], cwd=ROOT, env=env,
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  try:
    deadline = time.time() + 60
    while not _listening(port):
      if proc.poll() is not None or time.time() > deadline:
        proc.kill()
        raise AssertionError(f'dashboard did not start: '
                             f'{proc.communicate()[1][-2000:]}')
      time.sleep(0.2)
    yield f'http://127.0.0.1:{port}/'
  finally:
    if proc.poll() is None:
      proc.send_signal(signal.SIGTERM)
    try:
      _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
      proc.kill()
      proc.communicate()
      raise
  assert proc.returncode == 0, err[-3000:]
  assert 'Traceback' not in err, err[-3000:]


@contextlib.contextmanager
def served_in_thread(store: str, refresh_seconds: float = 1.0
                     ) -> Iterator[str]:
  """The same app in a thread of the test process, on werkzeug's server
  (it stops cleanly in-process; the CLI's waitress is what the streaming
  test drives): no process start per store, for the page's messages."""
  import threading
  from werkzeug.serving import make_server
  from dashboard.app import create_app
  from reporting.days import zone
  server = make_server('127.0.0.1', 0, create_app(
      store, zone('UTC'), 48, refresh_seconds), threaded=True)
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  try:
    yield f'http://127.0.0.1:{server.server_port}/'
  finally:
    server.shutdown()
    thread.join(timeout=10)
