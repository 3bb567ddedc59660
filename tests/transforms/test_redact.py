"""The one redaction rule of every message (transforms/redact.py)."""
import pytest

from transforms.redact import (looks_secret, redact_property_line,
                               redact_text, redact_url)


@pytest.mark.parametrize('url, shown', [
    ('kafka://user:hunter2@h:9092/t', 'kafka://user:***@h:9092/t'),
    ('postgresql://u:p@ss/w0rd@h/db', 'postgresql://u:***@h/db'),
    ('redis://:hunter2@h:6379/0', 'redis://:***@h:6379/0'),
    ('postgresql://u@h/db?password=hunter2&sslmode=require',
     'postgresql://u@h/db?password=***&sslmode=require'),
    ('kafka://h:9092/t?sasl.password=hunter2',
     'kafka://h:9092/t?sasl.password=***'),
    ('https://ghp_0123456789abcdefghijklmnopqrstuvwxyz@github.com/x',
     'https://***@github.com/x'),
    ('postgresql://sales@127.0.0.1:5432/sales',
     'postgresql://sales@127.0.0.1:5432/sales'),
    ('sqlite:///out/sales.db', 'sqlite:///out/sales.db'),
])
def test_urls(url, shown):
  assert redact_url(url) == shown


@pytest.mark.parametrize('line, shown', [
    ('sasl.password: hunter2', 'sasl.password=***'),
    ('sasl.password hunter2', 'sasl.password=***'),
    ('ssl.key.password=hunter2', 'ssl.key.password=***'),
    ('bootstrap.servers', 'bootstrap.servers'),
    ('hunter2-secret-token', '***'),
])
def test_property_lines_keep_the_key_only(line, shown):
  assert redact_property_line(line) == shown


def test_free_text_hides_every_url_password_and_secret_setting():
  text = ("unknown sink 'mysql://root:hun@ter2@db/x' and "
          "'kafka://u:pw2@h/t'; sasl.password: abc, api_key=xyz; "
          "password authentication failed for user \"sales\"")
  out = redact_text(text)
  for secret in ('ter2', 'pw2', 'abc', 'xyz'):
    assert secret not in out
  assert 'password authentication failed for user "sales"' in out


def test_secret_names():
  for name in ('sasl.password', 'ssl.key.password', 'ssl.key.pem', 'ssl_key',
               'sasl.oauthbearer.client.secret', 'access_token'):
    assert looks_secret(name), name
  for name in ('ssl.key.location', 'ssl.certificate.pem', 'bootstrap.servers',
               'sasl.username'):
    assert not looks_secret(name), name
