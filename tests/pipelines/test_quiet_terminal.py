"""What reaches the terminal (issue #19): a normal run prints its summary
and nothing else; librdkafka's retries are one line per outage; set-up
shows a line per step and no pip or setuptools banners."""
import datetime
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def run_cli(*args):
  return subprocess.run([sys.executable, '-m', 'pipeline', *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=300)


def test_the_sample_run_prints_the_summary_and_nothing_else(tmp_path):
  out = tmp_path / 'out'
  for _ in range(2):  # the second run rewrites the outputs of the first
    proc = run_cli('--output', str(out), '--sink',
                   f'sqlite:///{tmp_path}/results.db')
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ''
    assert proc.stdout.startswith('records read      3000')


def test_python_end_of_life_notices_stay_off_the_terminal(tmp_path):
  """google-api-core warns at import once Python 3.11 nears its end of
  life (2027-10-24): run on 1 November 2027 (tests/clock/), the sample run
  and the dashboard still print nothing on stderr."""
  days = (datetime.date(2027, 11, 1) - datetime.date.today()).days
  env = {**os.environ, 'SALES_CLOCK_OFFSET_DAYS': str(max(days, 0)),
         'PYTHONPATH': os.pathsep.join([os.path.join(ROOT, 'tests', 'clock'),
                                        os.environ.get('PYTHONPATH', '')])}
  proc = subprocess.run([sys.executable, '-m', 'pipeline', '--output',
                         str(tmp_path / 'out')], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0 and proc.stderr == '', proc.stderr
  proc = subprocess.run([sys.executable, '-m', 'dashboard', '--store',
                         'sqlite:///x.db', '--port', 'not-a-port'], cwd=ROOT,
                        env=env, capture_output=True, text=True, timeout=120)
  assert proc.returncode != 0
  assert 'Warning' not in proc.stderr and len(
      proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_info_shows_the_stages_without_the_graph_building_chatter(tmp_path):
  proc = run_cli('--output', str(tmp_path / 'out'), '--log_level', 'INFO')
  assert proc.returncode == 0, proc.stderr
  assert 'INFO pipeline: checking inputs, outputs and services' in proc.stderr
  assert 'INFO pipeline: running: files source' in proc.stderr
  assert 'INFO pipeline: run succeeded after' in proc.stderr
  assert 'Converting string literal type hint' not in proc.stderr
  assert len(proc.stderr.splitlines()) < 20, proc.stderr


# -- librdkafka ----------------------------------------------------------------

def librdkafka_record(facility: str, text: str) -> logging.LogRecord:
  """A record as confluent-kafka logs it."""
  return logging.LogRecord('kafka.librdkafka', logging.ERROR, __file__, 0,
                           '%s [%s] %s', (facility, 'client#consumer-1', text),
                           None)


def fail_text(address: str) -> str:
  return (f'[thrd:{address}/bootstrap]: {address}/bootstrap: Connect to '
          f'ipv4#{address} failed: Connection refused (after 0ms in state '
          'CONNECT)')


def test_a_broker_outage_is_one_warning_and_its_end_one_more(caplog):
  from transforms.kafka_client import BrokerOutages, LIBRDKAFKA_LOGGER
  outages = BrokerOutages()
  first = librdkafka_record('FAIL', fail_text('127.0.0.1:9092'))
  assert outages.filter(first)
  assert first.levelno == logging.WARNING
  assert first.getMessage() == ('Kafka broker 127.0.0.1:9092 is unreachable '
                                '(Connection refused); retrying, one line per '
                                'outage')
  for _ in range(50):
    assert not outages.filter(librdkafka_record(
        'FAIL', fail_text('127.0.0.1:9092')))
  assert not outages.filter(librdkafka_record(
      'ERROR', '1/1 brokers are down'))
  assert outages.outages() == ['127.0.0.1:9092']
  stats = {'brokers': {'127.0.0.1:9092/bootstrap': {
      'nodename': '127.0.0.1:9092', 'state': 'UP'}}}
  with caplog.at_level(logging.WARNING, logger=LIBRDKAFKA_LOGGER):
    outages.on_stats(json.dumps(stats))
    outages.on_stats(json.dumps(stats))
  back = [r.getMessage() for r in caplog.records]
  assert len(back) == 1 and back[0].startswith(
      'Kafka broker 127.0.0.1:9092 is reachable again'), back
  assert outages.outages() == []
  # the next outage is reported again
  assert outages.filter(librdkafka_record('FAIL', fail_text('127.0.0.1:9092')))


def test_other_librdkafka_messages_show_once_a_minute():
  from transforms.kafka_client import BrokerOutages
  outages = BrokerOutages(repeat_window_s=60)
  message = 'Topic orders [0]: offset 12 out of range'
  assert outages.filter(librdkafka_record('OFFSET', message))
  assert not outages.filter(librdkafka_record(
      'OFFSET', 'Topic orders [0]: offset 13 out of range'))
  assert outages.filter(librdkafka_record('OTHER', 'something else'))


@pytest.mark.slow
def test_a_real_client_at_a_closed_port_logs_one_line_not_a_stream():
  """librdkafka itself, retrying for 3 s against a refused port: its
  output is one Python log record, nothing on the process's stderr."""
  code = r'''
import logging, socket, sys, time
from transforms.python_support import hide_python_support_notices
hide_python_support_notices()  # as python -m pipeline does
logging.basicConfig(level=logging.WARNING, stream=sys.stdout,
                    format='%(name)s %(levelname)s %(message)s')
from confluent_kafka import Consumer
from transforms.kafka_client import KafkaConnection
from transforms.sources.kafka.config import consumer_config
s = socket.socket(); s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
s.close()
c = Consumer(consumer_config(KafkaConnection('127.0.0.1:%d' % port), 'g'))
c.subscribe(['orders'])
end = time.monotonic() + 3
while time.monotonic() < end:
  c.poll(0.1)
c.close()
'''
  proc = subprocess.run([sys.executable, '-c', code], cwd=ROOT,
                        capture_output=True, text=True, timeout=60)
  assert proc.returncode == 0, proc.stderr
  assert proc.stderr == ''
  lines = proc.stdout.splitlines()
  assert len(lines) == 1, proc.stdout
  assert lines[0].startswith('kafka.librdkafka WARNING Kafka broker '
                             '127.0.0.1:')
  assert 'Connection refused' in lines[0]


# -- set-up --------------------------------------------------------------------

def project_copy(tmp_path):
  """The worktree's files (as git sees them, edits included) in tmp_path,
  with a .venv that finds the installed dependencies of this interpreter
  through a .pth file: `pip install -e` then builds and installs only the
  project itself, which is where setuptools' banners come from."""
  files = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard'],
                         cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.split()
  repo = tmp_path / 'repo'
  for name in files:
    src = os.path.join(ROOT, name)
    if os.path.isfile(src):
      dst = repo / name
      dst.parent.mkdir(parents=True, exist_ok=True)
      shutil.copy2(src, dst)
  subprocess.run([sys.executable, '-m', 'venv', str(repo / '.venv')],
                 check=True)
  import sysconfig
  purelib = sysconfig.get_paths()['purelib']
  venv_lib = next((repo / '.venv' / 'lib').glob('python*')) / 'site-packages'
  (venv_lib / 'zz_dependencies.pth').write_text(purelib + '\n')
  return repo


@pytest.mark.slow
def test_the_quickstart_shows_steps_and_no_banners(tmp_path):
  repo = project_copy(tmp_path)
  proc = subprocess.run(['bash', 'scripts/run_sample.sh', '--output',
                         str(tmp_path / 'out')], cwd=repo,
                        capture_output=True, text=True, timeout=900)
  assert proc.returncode == 0, proc.stderr
  text = proc.stdout + proc.stderr
  assert 'Deprecat' not in text and '!!' not in text, text
  assert proc.stderr.splitlines() == [
      'setup: installing the project and its dependencies into .venv (the '
      'first time takes a few minutes)',
      f'run: python -m pipeline --output {tmp_path / "out"}'], proc.stderr
  assert proc.stdout.startswith('records read      3000')


@pytest.mark.slow
def test_a_failing_setup_step_shows_its_output(tmp_path):
  repo = project_copy(tmp_path)
  (repo / 'setup.py').write_text('raise SystemExit("setup.py is broken")\n')
  proc = subprocess.run(['bash', 'scripts/setup.sh'], cwd=repo,
                        capture_output=True, text=True, timeout=900)
  assert proc.returncode != 0
  assert 'setup: installing the project failed' in proc.stderr
  assert 'setup.py is broken' in proc.stderr
