"""--sink URLs: a bad or unknown one is refused in one line that never shows
a password; a Kafka URL carries no credentials (pipelines/wiring.py,
transforms/redact.py)."""
import os
import subprocess
import sys

import pytest

from pipelines.wiring import SinkUrlError, parse_kafka_url, sink_for_url

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
SECRETS = ('hunter2', 'p@ss', 'w0rd', 's3cret')


def assert_hidden(text):
  for secret in SECRETS:
    assert secret not in text, text


@pytest.mark.parametrize('url', [
    'kafka://user:hunter2@127.0.0.1:9092/orders',  # credentials in a URL
    'kafka://user:p@ss/w0rd@127.0.0.1:9092/orders',
    'kafka://user@127.0.0.1:9092/orders',
    'kafka://user:hunter2@127.0.0.1:9092',  # and no topic
    'kafka://127.0.0.1:9092/orders?sasl.password=hunter2',
    'mysql://root:hunter2@db/sales',  # an unknown scheme
    'redis://:hunter2@127.0.0.1:6379/0',
    'sqlite://root:hunter2@host/x.db',
    'pubsub://user:hunter2@projects/p/topics/t',
    'bigquery://user:hunter2@p:d',
    'postgresql://sales:hunter2@127.0.0.1:5432/sales',
    'postgresql://sales@127.0.0.1/sales?password=s3cret',
])
def test_a_refused_sink_url_never_shows_its_password(url):
  with pytest.raises(SinkUrlError) as err:
    sink_for_url(url)
  assert_hidden(str(err.value))
  assert str(err.value).strip() and '\n' not in str(err.value)


def test_a_kafka_url_with_credentials_says_where_they_go():
  with pytest.raises(SinkUrlError) as err:
    parse_kafka_url('kafka://user:hunter2@127.0.0.1:9092/orders')
  assert 'kafka://user:***@127.0.0.1:9092/orders' in str(err.value)
  assert '--kafka_sink_config_file' in str(err.value)


def test_a_plain_kafka_url_is_parsed():
  assert parse_kafka_url('kafka://a:9092,b:9093/orders.v1') == (
      'a:9092,b:9093', 'orders.v1')


@pytest.mark.parametrize('url', [
    'kafka://user:hunter2@127.0.0.1:9/orders',
    'mysql://root:hunter2@db/sales',
    'sqlite://root:hunter2@host/x.db',
])
def test_the_cli_refuses_them_in_one_redacted_line(url, tmp_path):
  proc = subprocess.run(
      [sys.executable, '-m', 'pipeline', '--output', str(tmp_path / 'out'),
       '--sink', url], cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 2, proc.stderr
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error:'), proc.stderr
  assert_hidden(proc.stderr + proc.stdout)
  assert not (tmp_path / 'out').exists()  # refused before anything is made


@pytest.mark.parametrize('text', [
    'sasl.password=hunter2\n',  # a literal secret
    'security.protocol=SASL_SSL\nsasl.password: hunter2\n',  # Java-style
])
def test_a_properties_file_with_a_literal_secret_stops_the_run_first(
    text, tmp_path):
  props = tmp_path / 'producer.properties'
  props.write_text(text)
  proc = subprocess.run(
      [sys.executable, '-m', 'pipeline', '--output', str(tmp_path / 'out'),
       '--sink', 'kafka://127.0.0.1:9/orders',  # never reached
       '--kafka_sink_config_file', str(props)],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 1, proc.stderr
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error:'), proc.stderr
  assert 'sasl.password' in lines[0] and 'producer.properties' in lines[0]
  assert_hidden(proc.stderr + proc.stdout)
