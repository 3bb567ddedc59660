"""Kafka client settings: librdkafka properties from a file or a dict,
secrets only from the environment or a file
(transforms/kafka_client.py)."""
import pytest

from transforms.kafka_client import (check_no_literal_secrets,
                                     read_properties_file,
                                     resolve_client_config)


def test_a_properties_file_with_env_and_file_references(tmp_path, monkeypatch):
  secret = tmp_path / 'secret.txt'
  secret.write_text('s3cr3t\n')
  props = tmp_path / 'client.properties'
  props.write_text('# security\n'
                   'security.protocol = SASL_SSL\n'
                   '! also a comment\n'
                   'sasl.username=env:KAFKA_USER\n'
                   f'sasl.password=file:{secret}\n'
                   'ssl.ca.location=/etc/ca=bundle.pem\n')
  monkeypatch.setenv('KAFKA_USER', 'alice')
  conf = resolve_client_config({'bootstrap.servers': 'b:9092'}, None,
                               str(props))
  assert conf == {
      'bootstrap.servers': 'b:9092',
      'security.protocol': 'SASL_SSL',
      'sasl.username': 'alice',
      'sasl.password': 's3cr3t',  # stripped of its newline
      'ssl.ca.location': '/etc/ca=bundle.pem',  # split at the first '='
  }


def test_precedence_base_then_file_then_dict_then_forced(tmp_path):
  props = tmp_path / 'p.properties'
  props.write_text('a=file\nb=file\nc=file\n')
  conf = resolve_client_config({'a': 'base', 'd': 'base'}, {'b': 'dict'},
                               str(props), forced={'c': 'forced'})
  assert conf == {'a': 'file', 'b': 'dict', 'c': 'forced', 'd': 'base'}


def test_a_literal_secret_in_a_dict_is_refused():
  with pytest.raises(ValueError, match='sasl.password'):
    check_no_literal_secrets({'sasl.password': 'hunter2'})
  with pytest.raises(ValueError, match='not a literal'):
    resolve_client_config({}, {'ssl.key.password': 'hunter2'})
  check_no_literal_secrets({'sasl.password': 'env:PW',
                            'security.protocol': 'SSL'})


def test_a_missing_environment_variable_is_named(monkeypatch):
  monkeypatch.delenv('NO_SUCH_KAFKA_VAR', raising=False)
  with pytest.raises(ValueError, match='NO_SUCH_KAFKA_VAR.*not set'):
    resolve_client_config({}, {'sasl.password': 'env:NO_SUCH_KAFKA_VAR'})


def test_a_line_without_equals_is_an_error_naming_the_file(tmp_path):
  props = tmp_path / 'bad.properties'
  props.write_text('security.protocol\n')
  with pytest.raises(ValueError, match='bad.properties.*key=value'):
    read_properties_file(str(props))
