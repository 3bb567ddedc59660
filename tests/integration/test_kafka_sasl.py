"""Kafka over SASL_SSL (SCRAM-SHA-512 over TLS) for real (issue #14, item 6).

The session broker (tests/fixtures/kafka.py) has a SASL_SSL listener with a
certificate from the project's local CA and a generated SCRAM password
(services/kafka/broker.sh). ``python -m pipeline`` reads its input and
writes its results through that listener only, with the password from a
file (the source's properties) and from the environment (the sink's); the
results are the reference computation's. A wrong password is one line
naming the login, before the run, with the password nowhere in the output.
"""
from __future__ import annotations

import json
import os
import pathlib
import stat
import subprocess
import sys
import time
import uuid
from decimal import Decimal

import pytest

from tests.reference import compute_expected, round_cents

pytestmark = [pytest.mark.kafka, pytest.mark.integration, pytest.mark.tls]

ROOT = pathlib.Path(__file__).resolve().parents[2]
SAMPLE = ROOT / 'data' / 'sample' / 'orders.jsonl'
LINES = 80  # the sample's first lines: valid orders, duplicates, bad ones


@pytest.fixture
def sasl(kafka_broker):
  if kafka_broker.sasl_bootstrap is None:
    pytest.skip('KAFKA_BOOTSTRAP_SERVERS names a broker without the '
                'project\'s SASL_SSL listener')
  return kafka_broker


def properties(path: pathlib.Path, config) -> str:
  path.write_text(''.join(f'{k}={v}\n' for k, v in config.items()
                          if k != 'bootstrap.servers'))
  return str(path)


def pipeline(*args, env=None) -> subprocess.CompletedProcess:
  return subprocess.run(
      [sys.executable, '-m', 'pipeline', *args], cwd=ROOT,
      env=dict(os.environ, **(env or {})), capture_output=True, text=True,
      timeout=600)


def test_secrets_are_generated_private(sasl):
  for path in (sasl.sasl_password_file,
               os.path.join(sasl.data_dir, 'tls', 'server.key'),
               os.path.join(sasl.data_dir, 'tls', 'server.pem'),
               os.path.join(sasl.data_dir, 'server.properties')):
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
  password = pathlib.Path(sasl.sasl_password_file).read_text()
  assert len(password) == 32
  for name in os.listdir(sasl.data_dir):
    full = os.path.join(sasl.data_dir, name)
    if os.path.isfile(full):  # logs, config: never the password
      assert password not in pathlib.Path(full).read_text(errors='replace')


def test_pipeline_reads_and_writes_through_sasl_ssl(sasl, tmp_path):
  from confluent_kafka import Consumer, Producer

  from transforms.kafka_client import resolve_client_config
  lines = SAMPLE.read_bytes().split(b'\n')[:LINES]
  src = tmp_path / 'orders.jsonl'
  src.write_bytes(b'\n'.join(lines) + b'\n')
  expected = compute_expected([str(src)], str(ROOT / 'data' / 'catalog.csv'),
                              str(ROOT / 'data' / 'fx_rates.csv'))
  topic = f'sasl-in-{uuid.uuid4().hex[:8]}'
  out = f'sasl-out-{uuid.uuid4().hex[:8]}'
  sasl.create_topic(topic, 2)
  outputs = [out, out + '.top_products', out + '.dead_letters']
  for name in outputs:
    sasl.create_topic(name, 1)
  client = resolve_client_config({}, sasl.sasl_client_config())
  producer = Producer(dict(client, **{'linger.ms': 0}))
  for i, line in enumerate(lines):
    producer.produce(topic, value=line, partition=i % 2)
  assert producer.flush(30) == 0

  source_props = properties(tmp_path / 'source.properties',
                            sasl.sasl_client_config())
  sink_props = properties(tmp_path / 'sink.properties',
                          sasl.sasl_client_config('env:SALES_KAFKA_PW'))
  password = pathlib.Path(sasl.sasl_password_file).read_text()
  done = pipeline(
      '--source', 'kafka', '--kafka_bounded',
      '--kafka_bootstrap_servers', sasl.sasl_bootstrap,
      '--kafka_topic', topic, '--kafka_config_file', source_props,
      '--sink', f'kafka://{sasl.sasl_bootstrap}/{out}',
      '--kafka_sink_config_file', sink_props,
      '--output', str(tmp_path / 'out'),
      env={'SALES_KAFKA_PW': password})
  assert done.returncode == 0, done.stderr[-3000:]
  assert password not in done.stdout + done.stderr

  want = {out: {f'{r["window_start_ms"]}|{r["window_end_ms"]}|'
                f'{r["customer_id"]}|{r["category"]}':
                str(round_cents(Decimal(r['revenue_usd'])))
                for r in expected.results},
          out + '.top_products': len(expected.top_products),
          out + '.dead_letters': len(expected.dead_letters)}
  consumer = Consumer(dict(client, **{
      'group.id': 'check-' + out, 'auto.offset.reset': 'earliest'}))
  consumer.subscribe(outputs)
  got = {name: {} for name in outputs}
  deadline = time.monotonic() + 60
  while time.monotonic() < deadline and (
      len(got[out]) < len(want[out]) or
      any(len(got[n]) < want[n] for n in outputs[1:])):
    message = consumer.poll(0.5)
    if message is not None and message.error() is None:
      got[message.topic()][message.key().decode()] = json.loads(
          message.value())
  consumer.close()
  assert {k: v['revenue_usd'] for k, v in got[out].items()} == want[out]
  assert {n: len(got[n]) for n in outputs[1:]} == {
      n: want[n] for n in outputs[1:]}
  assert expected.dead_letters  # the sample's first lines hold bad ones


def test_a_wrong_password_is_one_clear_line(sasl, tmp_path):
  wrong = tmp_path / 'wrong-password'
  wrong.write_text('not-the-password\n')
  wrong.chmod(0o600)
  props = properties(tmp_path / 'wrong.properties',
                     sasl.sasl_client_config(f'file:{wrong}'))
  started = time.monotonic()
  done = pipeline('--source', 'kafka', '--kafka_bounded',
                  '--kafka_bootstrap_servers', sasl.sasl_bootstrap,
                  '--kafka_topic', 'orders', '--kafka_config_file', props,
                  '--output', str(tmp_path / 'out'))
  assert done.returncode != 0
  errors = [line for line in done.stderr.splitlines()
            if line.startswith('error:')]
  assert errors == [
      f'error: Kafka at {sasl.sasl_bootstrap} refused the login (SASL '
      f'authentication error: Authentication failed during authentication '
      f'due to invalid credentials with SASL mechanism SCRAM-SHA-512); check '
      f'sasl.username and sasl.password in --kafka_config_file'], done.stderr
  assert 'Traceback' not in done.stderr
  assert 'not-the-password' not in done.stdout + done.stderr
  assert time.monotonic() - started < 120
