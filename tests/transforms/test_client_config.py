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


def test_a_literal_secret_in_a_properties_file_is_refused(tmp_path):
  """docs/streaming.md: a literal sasl.password is refused, in a file too."""
  props = tmp_path / 'client.properties'
  props.write_text('security.protocol=SASL_SSL\nsasl.password=hunter2\n')
  with pytest.raises(ValueError) as err:
    resolve_client_config({}, None, str(props))
  assert 'sasl.password' in str(err.value)
  assert 'hunter2' not in str(err.value)
  from transforms.kafka_client import check_properties_file
  with pytest.raises(ValueError):
    check_properties_file(str(props))


@pytest.mark.parametrize('line', [
    'sasl.password: hunter2',  # Java's other separators
    'sasl.password hunter2',
    'ssl.key.password:hunter2',
])
def test_a_line_that_is_not_key_equals_value_never_shows_its_value(
    tmp_path, line):
  props = tmp_path / 'java.properties'
  props.write_text(f'security.protocol=SSL\n{line}\n')
  with pytest.raises(ValueError) as err:
    read_properties_file(str(props))
  message = str(err.value)
  assert 'hunter2' not in message
  assert 'java.properties' in message and 'line 2' in message
  assert line.split()[0].rstrip(':').split(':')[0] in message


def test_other_secret_keys_and_references_in_a_file(tmp_path, monkeypatch):
  from transforms.kafka_client import check_properties_file
  props = tmp_path / 'p.properties'
  props.write_text('ssl.keystore.password=hunter2\n')
  with pytest.raises(ValueError, match='ssl.keystore.password'):
    check_properties_file(str(props))
  props.write_text('sasl.oauthbearer.client.secret=hunter2\n')
  with pytest.raises(ValueError, match='client.secret'):
    check_properties_file(str(props))
  monkeypatch.setenv('KAFKA_PW', 'hunter2')
  props.write_text('sasl.password=env:KAFKA_PW\nssl.key.location=/k.pem\n')
  check_properties_file(str(props))  # references and key paths are fine
  assert resolve_client_config({}, None, str(props))['sasl.password'] == (
      'hunter2')


def test_an_overridden_secret_is_not_logged(tmp_path, caplog, monkeypatch):
  monkeypatch.setenv('KAFKA_PW', 'hunter2')
  resolve_client_config({}, {'sasl.password': 'env:KAFKA_PW'},
                        forced={'sasl.password': 'other-secret'})
  assert 'hunter2' not in caplog.text and 'other-secret' not in caplog.text
