"""The Redis sink's URL and password rules (pure logic, no server):
transforms/sinks/redis_sink/store.py and the pane rank its scripts get."""
import pytest

from tests.fixtures.sink_rows import result
from transforms.sinks.redis_sink import parse_redis_url, read_password
from transforms.sinks.redis_sink.scripts import pane_args
from transforms.sinks.redis_sink.store import RedisStore


@pytest.mark.parametrize('url, expected', [
    ('redis://127.0.0.1:6379/0', ('127.0.0.1', 6379, 0, None)),
    ('redis://sales@localhost:16379/3', ('localhost', 16379, 3, 'sales')),
    ('redis://127.0.0.1', ('127.0.0.1', 6379, 0, None)),
    ('redis://[::1]:7000/1', ('::1', 7000, 1, None)),
])
def test_a_redis_url_names_host_port_db_and_user(url, expected):
  a = parse_redis_url(url)
  assert (a.host, a.port, a.db, a.user) == expected


@pytest.mark.parametrize('url', [
    'redis://:hunter2@127.0.0.1:6379/0',
    'redis://sales:hunter2@127.0.0.1:6379/0',
    'redis://sales:p@ss/w0rd@127.0.0.1:6379/0',
])
def test_a_password_in_the_url_is_refused_and_hidden(url):
  with pytest.raises(ValueError) as err:
    parse_redis_url(url)
  message = str(err.value)
  assert '--redis_password' in message and '\n' not in message
  for secret in ('hunter2', 'p@ss', 'w0rd'):
    assert secret not in message


@pytest.mark.parametrize('url', [
    'redis://127.0.0.1:6379/x', 'redis://127.0.0.1:6379/0?db=1',
    'redis:///0', 'redis://127.0.0.1:99999/0', 'redis://127.0.0.1:6379/16x',
])
def test_a_malformed_url_is_one_line(url):
  with pytest.raises(ValueError) as err:
    parse_redis_url(url)
  assert 'Redis sink' in str(err.value) and '\n' not in str(err.value)


def test_the_password_comes_from_env_file_or_rediscli_auth(tmp_path,
                                                           monkeypatch):
  secret = tmp_path / 'pw'
  secret.write_text('from-file\n')
  monkeypatch.setenv('MY_REDIS_PW', 'from-env')
  monkeypatch.setenv('REDISCLI_AUTH', 'from-redis-cli')
  assert read_password('env:MY_REDIS_PW') == 'from-env'
  assert read_password(f'file:{secret}') == 'from-file'
  assert read_password('') == 'from-redis-cli'
  monkeypatch.delenv('REDISCLI_AUTH')
  assert read_password('') is None
  with pytest.raises(ValueError, match='NOT_SET_HERE is not set'):
    read_password('env:NOT_SET_HERE')


def test_a_literal_password_flag_is_refused_without_echoing_it():
  with pytest.raises(ValueError) as err:
    RedisStore('redis://127.0.0.1:6379/0', password='hunter2')
  assert 'hunter2' not in str(err.value)


def test_the_scripts_get_the_database_sinks_pane_rank():
  # (generation, pane_index, is_final): a final pane outranks a non-final
  # one of the same index, a recovery generation outranks both.
  assert pane_args(result(pane_index=3, final=False), 0) == ['0', '3', '0']
  assert pane_args(result(pane_index=3, final=True), 7) == ['7', '3', '1']
