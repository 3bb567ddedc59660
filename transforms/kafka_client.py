"""Kafka client configuration, shared by the Kafka source, the Kafka sink
and tools/replay_to_kafka.py.

Any librdkafka property can be given in a dict or in a properties file
(``key=value`` lines). A value ``env:NAME`` is read from the environment
variable NAME and ``file:PATH`` from a file, where the client is created
(on the worker), so secrets never appear in the pipeline graph, options or
command line. Secret properties (``sasl.password`` ...) given as literal
values are refused.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Dict, Mapping, Optional

_LOG = logging.getLogger(__name__)

# librdkafka properties that hold secrets: never accepted as literals.
SECRET_KEYS = frozenset({
    'sasl.password',
    'sasl.oauthbearer.client.secret',
    'sasl.oauthbearer.config',
    'ssl.key.password',
    'ssl.keystore.password',
    'ssl.key.pem',
    'ssl_key',
})

_REFERENCES = ('env:', 'file:')


def _literal_secret_error(key: str) -> ValueError:
  return ValueError(
      'Kafka property %r must come from the environment or a file '
      '("env:NAME" or "file:PATH"), not a literal value' % key)


def _resolve_value(key: str, value: Any) -> Any:
  if isinstance(value, str):
    if value.startswith('env:'):
      name = value[4:]
      if name not in os.environ:
        raise ValueError(
            'Kafka property %r refers to environment variable %r, which is '
            'not set' % (key, name))
      return os.environ[name]
    if value.startswith('file:'):
      with open(value[5:], encoding='utf-8') as f:
        return f.read().strip()
  if key in SECRET_KEYS:
    raise _literal_secret_error(key)
  return value


def read_properties_file(path: str) -> Dict[str, str]:
  """Reads ``key=value`` lines (``#`` comments allowed) into a dict."""
  props = {}
  with open(path, encoding='utf-8') as f:
    for line in f:
      line = line.strip()
      if not line or line.startswith('#') or line.startswith('!'):
        continue
      key, sep, value = line.partition('=')
      if not sep:
        raise ValueError('%s: not a key=value line: %r' % (path, line))
      props[key.strip()] = value.strip()
  return props


def resolve_client_config(
    base: Mapping[str, Any],
    config: Optional[Mapping[str, Any]] = None,
    config_file: Optional[str] = None,
    forced: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
  """Builds a librdkafka config: base < file < dict < forced.

  Literal values of a properties file are trusted (the file itself is the
  secret store); ``env:``/``file:`` references are resolved everywhere.
  """
  out = dict(base)
  if config_file:
    for k, v in read_properties_file(config_file).items():
      out[k] = _resolve_value(k, v) if v.startswith(_REFERENCES) else v
  for k, v in (config or {}).items():
    out[k] = _resolve_value(k, v)
  for k, v in (forced or {}).items():
    if k in out and str(out[k]).lower() != str(v).lower():
      _LOG.warning('Kafka property %s=%r overridden to %r', k, out[k], v)
    out[k] = v
  return out


def check_no_literal_secrets(config: Optional[Mapping[str, Any]]) -> None:
  """Fails fast at construction time if a secret is given as a literal."""
  for k, v in (config or {}).items():
    if k in SECRET_KEYS and not (
        isinstance(v, str) and v.startswith(_REFERENCES)):
      raise _literal_secret_error(k)
