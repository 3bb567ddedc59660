"""The PostgreSQL sink's URL checks and error classes (pure logic; the sink
itself is tested against a real server in tests/integration)."""
import psycopg
import psycopg.errors
import pytest

from transforms.sinks.postgres_sink import (classify, describe_conninfo,
                                            postgres_conninfo, redact)


@pytest.mark.parametrize('url', [
    'postgresql://sales:hunter2@127.0.0.1:5432/sales',
    'postgresql://sales:p@ss@w0rd@127.0.0.1:5432/sales',  # '@' in it
    'postgresql://sales:a/b:c@127.0.0.1/sales',  # '/' and ':' in it
    'postgresql://sales@127.0.0.1/sales?password=hunter2&sslmode=disable',
])
def test_no_part_of_a_password_survives_redaction(url):
  text = redact(url)
  for secret in ('hunter2', 'ss@w0rd', 'w0rd', 'b:c'):
    assert secret not in text
  assert '***' in text
  with pytest.raises(ValueError) as err:
    postgres_conninfo(url)
  assert 'contains a password' in str(err.value)
  for secret in ('hunter2', 'w0rd', 'b:c'):
    assert secret not in str(err.value)


def test_a_url_without_password_passes_and_is_described():
  url = 'postgresql://sales@127.0.0.1:5433/sales'
  assert redact(url) == url
  assert postgres_conninfo(url) == url
  assert describe_conninfo(url) == 'sales@127.0.0.1:5433/sales'


def test_other_schemes_are_refused():
  with pytest.raises(ValueError, match='expected a postgresql://'):
    postgres_conninfo('mysql://u@h/db')


@pytest.mark.parametrize('error, kind', [
    (psycopg.errors.SerializationFailure('x'), 'transient'),
    (psycopg.errors.DeadlockDetected('x'), 'transient'),
    (psycopg.errors.AdminShutdown('x'), 'transient'),
    (psycopg.errors.UniqueViolation('x'), 'permanent'),
    (psycopg.errors.UndefinedTable('x'), 'permanent'),
    (psycopg.OperationalError('connection refused'), 'transient'),
    (psycopg.OperationalError(
        'FATAL: password authentication failed for user "sales"'),
     'permanent'),
    (psycopg.OperationalError('FATAL: database "nope" does not exist'),
     'permanent'),
])
def test_errors_are_classified_for_retry(error, kind):
  assert classify(error) == kind
