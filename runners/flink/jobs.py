"""Jobs on a Flink cluster, through its REST API: find a running job, stop
it with a savepoint (an upgrade, a move, a planned stop), find the
savepoint to resume from, cancel it.

    python -m runners.flink.run stop --savepoint DIR [--job NAME|ID]
    python -m runners.flink.run cluster --from_savepoint DIR ... (pipeline flags)

``--from_savepoint`` becomes Beam's ``--savepoint_path`` (Flink restores
every operator's state: windows, dedupe memory, and the Kafka source's
offset restrictions). DIR may be the savepoint itself or the directory it
was written to (the newest ``savepoint-*`` there is taken). A retained
checkpoint (``<checkpoints>/<job id>/chk-<n>``) works the same way.
"""
from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, Optional


class FlinkJobError(RuntimeError):
  """A job or savepoint that could not be found, stopped or taken (one
  line)."""


def _rest(master: str, path: str, body: Optional[Dict[str, Any]] = None):
  url = f'http://{master}{path}'
  data = None if body is None else json.dumps(body).encode()
  request = urllib.request.Request(
      url, data=data, method='GET' if body is None else 'POST',
      headers={'Content-Type': 'application/json'})
  try:
    with urllib.request.urlopen(request, timeout=15) as response:
      return json.load(response)
  except urllib.error.HTTPError as e:
    detail = e.read().decode(errors='replace')[:300]
    raise FlinkJobError(f'Flink at {master}: {path}: HTTP {e.code} '
                         f'{detail}') from None
  except (urllib.error.URLError, OSError) as e:
    raise FlinkJobError(
        f'Flink is not reachable at {master} ({e}); start it with '
        'runners/flink/cluster.sh start or set FLINK_MASTER') from None


def find_job(master: str, job: str = '') -> str:
  """The id of the running job named or numbered ``job`` (or of the only
  running job when ``job`` is empty)."""
  running = [j for j in _rest(master, '/jobs/overview')['jobs']
             if j['state'] == 'RUNNING']
  if job:
    running = [j for j in running if job in (j['jid'], j['name'])]
  if len(running) != 1:
    names = ', '.join(f'{j["name"]} ({j["jid"]})' for j in running) or 'none'
    raise FlinkJobError(
        f'{len(running)} running jobs match {job or "any"} at {master} '
        f'({names}): name one with --job NAME|ID')
  return running[0]['jid']


def stop_with_savepoint(master: str, jid: str, target_dir: str,
                        timeout_s: float = 300) -> str:
  """Stops job ``jid`` with a savepoint under ``target_dir``; returns the
  savepoint's path once the job has stopped."""
  target = Path(target_dir).resolve()
  target.mkdir(parents=True, exist_ok=True)
  trigger = _rest(master, f'/jobs/{jid}/stop',
                  {'targetDirectory': target.as_uri(), 'drain': False})
  request_id = trigger['request-id']
  deadline = time.monotonic() + timeout_s
  while time.monotonic() < deadline:
    status = _rest(master, f'/jobs/{jid}/savepoints/{request_id}')
    if status['status']['id'] == 'COMPLETED':
      operation = status.get('operation', {})
      if 'location' in operation:
        return operation['location'].replace('file:', '', 1)
      cause = operation.get('failure-cause', {}).get('stack-trace', '')
      first = cause.strip().splitlines()[0] if cause.strip() else 'unknown'
      raise FlinkJobError(f'savepoint of job {jid} failed: {first}')
    time.sleep(1)
  raise FlinkJobError(f'savepoint of job {jid} not done after {timeout_s} s')


def resolve_savepoint(path: str) -> str:
  """The savepoint (or retained checkpoint) directory ``path`` names: the
  directory itself if it holds ``_metadata``, else its newest
  ``savepoint-*`` / ``chk-*`` subdirectory that does."""
  root = Path(path).expanduser().resolve()
  if (root / '_metadata').is_file():
    return str(root)
  found = [d for d in root.glob('*') if (d / '_metadata').is_file()]
  if not found:
    raise FlinkJobError(f'no savepoint in {path} (a directory holding '
                         '_metadata, or one holding savepoint-* directories)')
  return str(max(found, key=lambda d: os.stat(d / '_metadata').st_mtime))


def cancel(master: str, jid: str, timeout_s: float = 60) -> str:
  """Cancels job ``jid`` and waits until it is terminal; returns its state.
  (Stopping the process that submitted a job does not stop it.)"""
  terminal = ('CANCELED', 'FINISHED', 'FAILED')
  state = _rest(master, f'/jobs/{jid}')['state']
  if state in terminal:
    return state
  request = urllib.request.Request(f'http://{master}/jobs/{jid}?mode=cancel',
                                   method='PATCH')
  with urllib.request.urlopen(request, timeout=15):
    pass
  deadline = time.monotonic() + timeout_s
  while (state := _rest(master, f'/jobs/{jid}')['state']) not in terminal:
    if time.monotonic() > deadline:
      raise FlinkJobError(f'job {jid} still {state} after cancel')
    time.sleep(1)
  return state
