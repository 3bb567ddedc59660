"""The year-ahead run's clock hook (tests/clock/sitecustomize.py) moves a
child Python's wall clock, and only its wall clock."""
import datetime
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
  clock = os.path.join(ROOT, 'tests', 'clock')
  path = os.pathsep.join([clock, os.environ.get('PYTHONPATH', '')])
  real = datetime.datetime.now(datetime.timezone.utc).timestamp()
  now, time_now, slept = probe({'PYTHONPATH': path,
                                'SALES_CLOCK_OFFSET_DAYS': '365'})
  year = 365 * 86400
  assert abs(now - real - year) < 60 and abs(time_now - real - year) < 60
  assert 0.04 < slept < 5  # sleeps and the monotonic clock are real
  now, _, _ = probe({'PYTHONPATH': path, 'SALES_CLOCK_OFFSET_DAYS': ''})
  assert abs(now - real) < 60
