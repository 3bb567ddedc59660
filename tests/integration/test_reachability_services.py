"""Preflight against real services (issue #19): a wrong PostgreSQL password
and a missing Kafka topic are one line before the run, naming the address
and never the secret; a reachable service passes the check."""
import os
import subprocess
import sys
import time

import pytest


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
pytestmark = pytest.mark.integration


def run_cli(*args, env=None):
  started = time.monotonic()
  proc = subprocess.run([sys.executable, '-m', 'pipeline', *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=300,
                        env={**os.environ, **(env or {})})
  return proc, time.monotonic() - started


@pytest.mark.postgres
def test_a_wrong_postgres_password_is_one_line_without_the_secret(
    postgres_database, tmp_path):
  secret = 'not-the-password-4711'
  proc, elapsed = run_cli('--output', str(tmp_path / 'out'), '--sink',
                          postgres_database, env={'PGPASSWORD': secret,
                                                  'PGPASSFILE': os.devnull})
  assert proc.returncode == 1, proc.stderr
  assert elapsed < 10, elapsed
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1, proc.stderr
  assert 'password authentication failed' in lines[0]
  assert 'PGPASSWORD' in lines[0]
  assert secret not in proc.stderr + proc.stdout


@pytest.mark.postgres
def test_a_reachable_postgres_passes_the_check(postgres_database):
  from transforms.sinks.postgres_sink import connection_problem
  assert connection_problem(postgres_database) is None


@pytest.mark.kafka
def test_a_missing_source_topic_is_one_line(kafka_broker, tmp_path):
  proc, elapsed = run_cli('--source', 'kafka', '--kafka_bounded',
                          '--kafka_bootstrap_servers', kafka_broker.bootstrap,
                          '--kafka_topic', 'no-such-topic', '--output',
                          str(tmp_path / 'out'))
  assert proc.returncode == 1, proc.stderr
  assert elapsed < 15, elapsed  # the check waits 5 s for the topic
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1, proc.stderr
  assert "Kafka topic 'no-such-topic' does not exist at" in lines[0]
  assert kafka_broker.bootstrap in lines[0]


@pytest.mark.kafka
def test_an_existing_topic_and_an_auto_created_sink_topic_pass(
    kafka_broker, kafka_topic):
  from pipelines.reachability import check_kafka
  check_kafka(kafka_broker.bootstrap, kafka_topic, '', True, '')
  # the project's broker creates topics on first write: not an error
  check_kafka(kafka_broker.bootstrap, 'created-on-write', '', False, '')
