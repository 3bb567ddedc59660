"""A service the run needs is not running: one line, the address, the fix,
a non-zero exit within seconds (issue #19). No service is started here: the
runs point at a loopback port nothing listens on, or at a listener that is
not the service it claims to be."""
import http.server
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
# Python's and Beam's start-up included, on a loaded 2-core machine.
BOUND_S = 10.0


def closed_port() -> int:
  """A loopback port that refuses connections (bound, then released)."""
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def run(args, env=None, module='pipeline'):
  started = time.monotonic()
  proc = subprocess.run(
      [sys.executable, '-m', module, *args], cwd=ROOT, capture_output=True,
      text=True, timeout=120, env={**os.environ, **(env or {})})
  return proc, time.monotonic() - started


def assert_one_line_failure(proc, elapsed, *expected):
  assert proc.returncode == 1, proc.stderr
  assert elapsed < BOUND_S, elapsed
  lines = proc.stderr.strip().splitlines()
  assert 1 <= len(lines) <= 3, proc.stderr
  assert lines[0].startswith('error: '), proc.stderr
  for text in expected:
    assert text.lower() in proc.stderr.lower(), (text, proc.stderr)
  assert 'Traceback' not in proc.stderr and '%3|' not in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize('service', ['kafka-source', 'kafka-sink', 'postgres',
                                     'pubsub', 'flink', 'redis', 'hdfs'])
def test_a_service_that_is_down_fails_the_run_in_one_line(service, tmp_path):
  port = closed_port()
  address = f'127.0.0.1:{port}'
  env = {}
  args = {
      'kafka-source': ['--source', 'kafka', '--streaming',
                       '--kafka_bootstrap_servers', address,
                       '--sink', f'sqlite:///{tmp_path}/x.db'],
      'kafka-sink': ['--sink', f'kafka://{address}/results'],
      'postgres': ['--sink', f'postgresql://sales@{address}/sales'],
      'pubsub': ['--source', 'pubsub', '--streaming',
                 '--pubsub_subscription', 'projects/p/subscriptions/s'],
      'flink': ['--runner', 'FlinkRunner', '--flink_master', address],
      'redis': ['--sink', f'redis://{address}/0'],
      'hdfs': ['--input', 'hdfs://sales/orders.jsonl', '--hdfs_host',
               '127.0.0.1', '--hdfs_port', str(port), '--hdfs_user', 'sales'],
  }[service]
  fix = {
      'kafka-source': 'services/kafka/broker.sh start',
      'kafka-sink': 'services/kafka/broker.sh start',
      'postgres': 'services/postgres/postgres.sh start',
      'pubsub': 'services/pubsub/emulator.sh start',
      'flink': 'runners/flink/cluster.sh start',
      'redis': 'services/redis/redis.sh start',
      'hdfs': 'services/hdfs/hdfs.sh start',
  }[service]
  if service == 'pubsub':
    env['PUBSUB_EMULATOR_HOST'] = address
  proc, elapsed = run([*args, '--output', str(tmp_path / 'out')], env)
  assert_one_line_failure(proc, elapsed, address, 'connection refused', fix)
  assert not (tmp_path / 'out').exists() or not any(
      (tmp_path / 'out').iterdir()), 'the run started'


@pytest.mark.slow
@pytest.mark.parametrize('runner, variable, master, shown', [
    ('flink', 'FLINK_MASTER', 'localhost:{port}', 'http://localhost:{port}'),
    ('spark', 'SPARK_MASTER', 'spark://127.0.0.1:{port}',
     'spark://127.0.0.1:{port}'),
])
def test_cluster_mode_without_a_cluster_names_the_master(
    tmp_path, runner, variable, master, shown):
  import importlib
  options = importlib.import_module(f'runners.{runner}.{runner}_options')
  try:
    options.find_job_server_jar()
  except RuntimeError:
    pytest.skip(f'runners/{runner}/setup.sh has not run (the job server jar)')
  port = closed_port()
  proc, elapsed = run(['cluster', '--output', str(tmp_path / 'out')],
                      {variable: master.format(port=port)},
                      module=f'runners.{runner}.run')
  assert_one_line_failure(proc, elapsed, shown.format(port=port),
                          'connection refused',
                          f'runners/{runner}/cluster.sh start')


def test_a_spark_worker_pool_that_is_down_names_the_spark_script():
  from apache_beam.options.pipeline_options import PipelineOptions
  from pipelines.reachability import Unreachable, check_runner
  port = closed_port()
  options = PipelineOptions([
      '--runner=SparkRunner', '--spark_master_url=local[2]',
      '--environment_type=EXTERNAL',
      f'--environment_config=localhost:{port}'])
  with pytest.raises(Unreachable, match='runners/spark/cluster.sh start'):
    check_runner(options)


@pytest.fixture
def silent_listener():
  """A loopback port that accepts connections and never answers."""
  server = socket.socket()
  server.bind(('127.0.0.1', 0))
  server.listen(16)
  accepted = []
  stop = threading.Event()

  def accept():
    server.settimeout(0.2)
    while not stop.is_set():
      try:
        accepted.append(server.accept()[0])
      except OSError:
        continue

  thread = threading.Thread(target=accept, daemon=True)
  thread.start()
  yield server.getsockname()[1]
  stop.set()
  thread.join()
  for conn in accepted:
    conn.close()
  server.close()


@pytest.mark.slow
def test_an_open_port_that_is_not_kafka_is_not_taken_for_kafka(
    silent_listener, tmp_path):
  address = f'127.0.0.1:{silent_listener}'
  proc, elapsed = run(['--sink', f'kafka://{address}/results', '--output',
                       str(tmp_path / 'out')])
  assert_one_line_failure(proc, elapsed, address, 'does not answer as Kafka')


def test_an_http_server_that_is_not_flink_is_not_taken_for_flink():
  from pipelines.reachability import Unreachable, check_flink_master

  class NotFlink(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # pylint: disable=invalid-name
      body = b'{"hello": "world"}'
      self.send_response(200)
      self.send_header('Content-Length', str(len(body)))
      self.end_headers()
      self.wfile.write(body)

    def log_message(self, *args):
      pass

  server = http.server.HTTPServer(('127.0.0.1', 0), NotFlink)
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  try:
    with pytest.raises(Unreachable, match='not as Flink'):
      check_flink_master(f'127.0.0.1:{server.server_port}')
  finally:
    server.shutdown()
    server.server_close()


def test_a_file_run_checks_no_service_and_takes_no_time(tmp_path):
  from apache_beam.options.pipeline_options import PipelineOptions
  from pipelines.options import config_from_options
  from pipelines.reachability import check_services
  config = config_from_options(PipelineOptions(
      ['--sink', f'sqlite:///{tmp_path}/x.db']))
  started = time.monotonic()
  check_services(config, PipelineOptions(['--runner=FnApiRunner']))
  assert time.monotonic() - started < 0.1


def test_a_dataflow_run_is_not_checked_from_the_launcher():
  from apache_beam.options.pipeline_options import PipelineOptions
  from pipelines.options import config_from_options
  from pipelines.reachability import check_services
  port = closed_port()
  config = config_from_options(PipelineOptions(
      ['--sink', f'kafka://127.0.0.1:{port}/t']))
  check_services(config, PipelineOptions(['--runner=DataflowRunner']))


@pytest.mark.parametrize('text, expected', [
    ('localhost:9092', ('localhost', 9092)),
    ('http://localhost:8081/', ('localhost', 8081)),
    ('[::1]:50000', ('::1', 50000)),
    ('kafka-host', ('kafka-host', 7)),
])
def test_addresses_are_read_as_host_and_port(text, expected):
  from pipelines.reachability import host_port
  assert host_port(text, 7) == expected
