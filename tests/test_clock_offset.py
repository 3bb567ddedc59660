"""The year-ahead run's clock hook (tests/clock/sitecustomize.py) moves a
child Python's wall clock, and only its wall clock."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(__file__))
PROBE = ('import datetime, time; t = time.monotonic(); time.sleep(0.05); '
         'print(datetime.datetime.now(datetime.timezone.utc).timestamp(), '
         'time.time(), time.monotonic() - t)')


def probe(env):
  out = subprocess.run([sys.executable, '-c', PROBE], check=True, text=True,
                       capture_output=True, env={**os.environ, **env},
                       cwd=ROOT).stdout.split()
  return [float(v) for v in out]


def test_the_clock_hook_moves_the_wall_clock_of_child_pythons_only():
  """Two children, one with the hook at 365 days and one with it off
  (this process may itself run a year ahead, in the year-ahead run)."""
  clock = os.path.join(ROOT, 'tests', 'clock')
  path = os.pathsep.join([clock, os.environ.get('PYTHONPATH', '')])
  real, _, _ = probe({'PYTHONPATH': path, 'SALES_CLOCK_OFFSET_DAYS': ''})
  now, time_now, slept = probe({'PYTHONPATH': path,
                                'SALES_CLOCK_OFFSET_DAYS': '365'})
  year = 365 * 86400
  assert abs(now - real - year) < 60 and abs(time_now - real - year) < 60
  assert 0.04 < slept < 5  # sleeps and the monotonic clock are real


def test_grpc_keeps_the_real_clock_under_the_hook():
  """Without it a gRPC server never starts (its C core would wait for a
  deadline a year away)."""
  code = ('import grpc; from concurrent import futures; '
          's = grpc.server(futures.ThreadPoolExecutor(1)); '
          's.add_insecure_port("127.0.0.1:0"); s.start(); s.stop(0); '
          'print("started")')
  clock = os.path.join(ROOT, 'tests', 'clock')
  proc = subprocess.run(
      [sys.executable, '-c', code], text=True, capture_output=True,
      timeout=60, cwd=ROOT, env={**os.environ, 'SALES_CLOCK_OFFSET_DAYS': '365',
                                 'PYTHONPATH': clock})
  assert proc.stdout.strip() == 'started', proc.stderr[-2000:]
