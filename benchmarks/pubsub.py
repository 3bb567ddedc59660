"""Pub/Sub throughput through the local emulator: the default (columnar)
pipeline against `--engine records`, on the same backlog.

    python -m benchmarks.pubsub --events 100000 [--engine arrow --engine records]

For each engine: starts the emulator (services/pubsub/emulator.sh) on a free
loopback port, publishes N clean generated events (event times in the last
hour, so nothing is late) to a fresh topic, runs `python -m pipeline
--source pubsub --streaming` on Prism into SQLite, and reports events/s from
the pipeline's launch to the moment the `__all__` rows hold all N orders,
with the load average. Prints one line per engine and a JSON summary.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Dict, List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMULATOR = os.path.join(ROOT, 'services', 'pubsub', 'emulator.sh')
PROJECT = 'sales-bench'


def _events(count: int, path: str) -> None:
  from tools.generate_orders import write_orders
  start = time.strftime('%Y-%m-%dT%H:00:00Z', time.gmtime(time.time() - 3600))
  write_orders(path, count, seed=7, dirty_rate=0.0, duplicate_rate=0.0,
               start=start, days=1 / 48)


def _orders(db: str) -> int:
  try:
    with sqlite3.connect(db) as conn:
      row = conn.execute("SELECT COALESCE(SUM(orders), 0) FROM "
                         "sales_by_category WHERE category = '__all__'"
                         ).fetchone()
      return int(row[0])
  except sqlite3.Error:
    return 0


def measure(engine: str, events_path: str, count: int, prism: str,
            work: str, timeout_s: float) -> Dict:
  from services.pubsub.admin import (create_subscription, create_topic,
                                     publish, read_events)
  topic = f'projects/{PROJECT}/topics/orders-{uuid.uuid4().hex[:8]}'
  sub = topic.replace('/topics/', '/subscriptions/')
  create_topic(topic)
  create_subscription(sub, topic)
  published = publish(topic, read_events(events_path))
  db = os.path.join(work, f'{engine}.db')
  cmd = [sys.executable, '-m', 'pipeline', '--source', 'pubsub',
         '--pubsub_subscription', sub, '--streaming', '--engine', engine,
         '--early_firing_seconds', '1', '--output', '',
         '--sink', f'sqlite:///{db}', '--runner=PrismRunner',
         f'--prism_location={prism}', '--environment_type=LOOPBACK']
  launched = time.monotonic()
  proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, start_new_session=True)
  seconds = None
  try:
    while time.monotonic() - launched < timeout_s:
      if _orders(db) >= count:
        seconds = time.monotonic() - launched
        break
      if proc.poll() is not None:
        raise RuntimeError(proc.stderr.read().decode()[-2000:])
      time.sleep(0.5)
  finally:
    os.killpg(proc.pid, signal.SIGINT)
    try:
      proc.wait(60)
    except subprocess.TimeoutExpired:
      os.killpg(proc.pid, signal.SIGKILL)
  return {'engine': engine, 'events': count,
          'published_s': round(published['seconds'], 1),
          'seconds': None if seconds is None else round(seconds, 1),
          'events_per_s': None if seconds is None else round(count / seconds),
          'load': os.getloadavg()}


def main(argv: List[str] = None) -> int:
  ap = argparse.ArgumentParser(prog='python -m benchmarks.pubsub',
                               description=__doc__.split('\n')[0])
  ap.add_argument('--events', type=int, default=100_000)
  ap.add_argument('--engine', action='append', default=None,
                  help='arrow (the default pipeline) and/or records')
  ap.add_argument('--timeout', type=float, default=900.0)
  args = ap.parse_args(argv)
  from runners.local import prism_binary
  from services.kafka.broker import free_port
  prism = prism_binary()
  work = tempfile.mkdtemp(prefix='pubsub-bench-')
  events_path = os.path.join(work, 'events.jsonl')
  _events(args.events, events_path)
  port = free_port()
  env = dict(os.environ, PUBSUB_PORT=str(port),
             PUBSUB_RUN_DIR=os.path.join(work, 'emulator'))
  subprocess.run(['bash', EMULATOR, 'start'], env=env, check=True,
                 capture_output=True)
  os.environ['PUBSUB_EMULATOR_HOST'] = f'127.0.0.1:{port}'
  results = []
  try:
    for engine in args.engine or ['arrow', 'records']:
      result = measure(engine, events_path, args.events, prism, work,
                       args.timeout)
      results.append(result)
      print(f"{engine:8} {result['events']} events: {result['seconds']} s, "
            f"{result['events_per_s']} events/s (load {result['load'][0]:.1f})",
            flush=True)
  finally:
    subprocess.run(['bash', EMULATOR, 'stop'], env=env, capture_output=True)
  print(json.dumps(results))
  return 0


if __name__ == '__main__':
  sys.exit(main())
