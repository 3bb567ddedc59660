"""Kafka client configuration, shared by the Kafka source, the Kafka sink
and tools/replay_to_kafka.py.

Any librdkafka property can be given in a dict or in a properties file
(``key=value`` lines). A value ``env:NAME`` is read from the environment
variable NAME and ``file:PATH`` from a file, where the client is created
(on the worker), so secrets never appear in the pipeline graph, options or
command line. Secret properties (``sasl.password`` ...) given as literal
values are refused, in a dict and in a properties file alike.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import threading
import time
from typing import Any, Dict, List, Mapping, Optional, Tuple

from transforms.redact import redact_property_line

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
# Beyond SECRET_KEYS, any property whose name says it holds a password or a
# secret (a newer librdkafka's, or a plugin's) is a secret too.
_SECRET_NAME = re.compile(r'(?i)passw(or)?d|secret')


def is_secret_key(key: str) -> bool:
  """True for a property that must come from ``env:`` or ``file:``."""
  return key in SECRET_KEYS or bool(_SECRET_NAME.search(key))


def _literal_secret_error(key: str, where: str = '') -> ValueError:
  return ValueError(
      '%sKafka property %r must come from the environment or a file '
      '("env:NAME" or "file:PATH"), not a literal value' % (where, key))


def _is_reference(value: Any) -> bool:
  return isinstance(value, str) and value.startswith(_REFERENCES)


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
  if is_secret_key(key):
    raise _literal_secret_error(key)
  return value


def read_properties_file(path: str) -> Dict[str, str]:
  """Reads ``key=value`` lines (``#`` and ``!`` comments allowed) into a
  dict. A line that is not ``key=value`` is an error naming the file, the
  line number and the key, never the value (it may be a secret)."""
  props = {}
  with open(path, encoding='utf-8') as f:
    for number, line in enumerate(f, 1):
      line = line.strip()
      if not line or line.startswith('#') or line.startswith('!'):
        continue
      key, sep, value = line.partition('=')
      if not sep:
        raise ValueError(
            '%s, line %d: not a key=value line (%s); write it as key=value'
            % (path, number, redact_property_line(line)))
      props[key.strip()] = value.strip()
  return props


def check_properties_file(path: str) -> Dict[str, str]:
  """Reads a properties file and refuses literal secrets in it: the same
  rule as for a dict, so a secret never sits in a file that is copied,
  committed or shipped with a job. Returns the properties, unresolved."""
  props = read_properties_file(path)
  for k, v in props.items():
    if is_secret_key(k) and not _is_reference(v):
      raise _literal_secret_error(k, f'{path}: ')
  return props


def resolve_client_config(
    base: Mapping[str, Any],
    config: Optional[Mapping[str, Any]] = None,
    config_file: Optional[str] = None,
    forced: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
  """Builds a librdkafka config: base < file < dict < forced.

  ``env:``/``file:`` references are resolved everywhere; a secret property
  given as a literal value is refused, in the file as in the dict.
  """
  out = dict(base)
  if config_file:
    for k, v in check_properties_file(config_file).items():
      out[k] = _resolve_value(k, v) if _is_reference(v) else v
  for k, v in (config or {}).items():
    out[k] = _resolve_value(k, v)
  for k, v in (forced or {}).items():
    if k in out and str(out[k]).lower() != str(v).lower():
      if is_secret_key(k):
        _LOG.warning('Kafka property %s overridden', k)
      else:
        _LOG.warning('Kafka property %s=%r overridden to %r', k, out[k], v)
    out[k] = v
  return out


def check_no_literal_secrets(config: Optional[Mapping[str, Any]]) -> None:
  """Fails fast at construction time if a secret is given as a literal."""
  for k, v in (config or {}).items():
    if is_secret_key(k) and not _is_reference(v):
      raise _literal_secret_error(k)


@dataclasses.dataclass(frozen=True)
class KafkaConnection:
  """How one client reaches Kafka, as one value a DoFn carries: the
  brokers, extra librdkafka properties (a dict; literal secrets are refused
  here, at construction) and a properties file. Both are resolved where the
  client is made (``client_config``), so ``env:``/``file:`` values are read
  on the worker."""
  bootstrap_servers: str
  properties: Optional[Mapping[str, Any]] = None
  properties_file: Optional[str] = None

  def __post_init__(self) -> None:
    check_no_literal_secrets(self.properties)
    object.__setattr__(self, 'properties', dict(self.properties or {}))

  def client_config(self, defaults: Optional[Mapping[str, Any]] = None,
                    forced: Optional[Mapping[str, Any]] = None
                    ) -> Dict[str, Any]:
    """The client's configuration: the brokers and ``defaults`` < the file
    < the dict < ``forced``, librdkafka's logs routed through Python
    logging."""
    base = {'bootstrap.servers': self.bootstrap_servers, **(defaults or {})}
    return with_routed_logs(resolve_client_config(
        base, self.properties, self.properties_file, forced))


# -- librdkafka's own logs ---------------------------------------------------
# librdkafka writes its logs straight to the process's stderr (``%3|...|FAIL``)
# unless a client is given a Python ``logger``; a broker that is down then
# repeats its connection failure every few dozen milliseconds, per client.
# Every client of the project routes them here instead, at WARNING and up,
# with a broker's failures collapsed to one line per outage and one line when
# it is back.

LIBRDKAFKA_LOGGER = 'kafka.librdkafka'
# How often each client reports its brokers' states (to notice a recovery).
STATS_INTERVAL_MS = 5000
# An identical message (not a connection failure) is shown once this often.
REPEAT_WINDOW_S = 60.0


_THREAD_PREFIX = re.compile(r'^\[thrd:[^\]]*\]:\s*')


def _broker_address(name: str) -> str:
  """'127.0.0.1:9092/bootstrap' or 'localhost:9092/1' -> host:port."""
  name = name.strip()
  if '://' in name:
    name = name.split('://', 1)[1]
  return name.split('/', 1)[0]


class BrokerOutages(logging.Filter):
  """Collapses librdkafka's records on the ``kafka.librdkafka`` logger.

  A connection failure (facility FAIL, or "brokers are down") starts an
  outage of its broker: its first record is rewritten into one warning
  naming the broker and the reason, the rest of the outage is dropped. The
  clients' periodic statistics end the outage when the broker is UP again
  (``on_stats``), with one warning saying so. Any other message shows at
  most once per ``REPEAT_WINDOW_S``. Process-wide: every client of a worker
  shares one view of each broker.
  """

  def __init__(self, repeat_window_s: float = REPEAT_WINDOW_S) -> None:
    super().__init__()
    self._lock = threading.Lock()
    self._down: Dict[str, float] = {}  # broker -> when its outage began
    self._seen: Dict[str, float] = {}  # other message -> when last shown
    self._repeat_window_s = repeat_window_s

  @staticmethod
  def _parts(record: logging.LogRecord) -> Tuple[str, str]:
    # confluent-kafka logs ('%s [%s] %s', facility, client name, message).
    args = record.args if isinstance(record.args, tuple) else ()
    facility, text = ((str(args[0]), str(args[2])) if len(args) == 3 else
                      ('', record.getMessage()))
    # librdkafka prefixes the thread: '[thrd:host:port/bootstrap]: ...'
    return facility, _THREAD_PREFIX.sub('', text)

  def outages(self) -> List[str]:
    with self._lock:
      return sorted(self._down)

  def filter(self, record: logging.LogRecord) -> bool:
    facility, text = self._parts(record)
    now = time.monotonic()
    with self._lock:
      if facility == 'FAIL' or 'Connect to' in text:
        broker = _broker_address(text.split(': ', 1)[0])
        if broker in self._down:
          return False
        self._down[broker] = now
        reason = text.rsplit('failed: ', 1)[-1].split(' (after', 1)[0]
        record.msg = ('Kafka broker %s is unreachable (%s); retrying, '
                      'one line per outage')
        record.args = (broker, reason.strip().rstrip('.') or 'failed')
        record.levelno, record.levelname = logging.WARNING, 'WARNING'
        return True
      if 'brokers are down' in text and self._down:
        return False
      key = re.sub(r'\d+', '#', f'{facility} {text}')
      if now - self._seen.get(key, -self._repeat_window_s) < (
          self._repeat_window_s):
        return False
      self._seen[key] = now
      return True

  def on_stats(self, stats_json: str) -> None:
    """A client's ``stats_cb``: ends the outage of a broker now UP."""
    if not self._down:
      return
    try:
      brokers = json.loads(stats_json).get('brokers', {})
    except ValueError:
      return
    for name, broker in brokers.items():
      if broker.get('state') != 'UP':
        continue
      address = _broker_address(broker.get('nodename') or name)
      with self._lock:
        began = self._down.pop(address, None)
      if began is not None:
        logging.getLogger(LIBRDKAFKA_LOGGER).warning(
            'Kafka broker %s is reachable again (after %.0f s)', address,
            time.monotonic() - began)


OUTAGES = BrokerOutages()


def librdkafka_logger() -> logging.Logger:
  """The logger librdkafka's messages go to: WARNING and up, collapsed."""
  logger = logging.getLogger(LIBRDKAFKA_LOGGER)
  if OUTAGES not in logger.filters:
    logger.addFilter(OUTAGES)
  if logger.level == logging.NOTSET:
    logger.setLevel(logging.WARNING)
  return logger


def with_routed_logs(conf: Mapping[str, Any]) -> Dict[str, Any]:
  """A client config whose librdkafka logs go through Python logging.

  Added where a client is created (on the worker): a logger and a callback
  are not picklable and have no place in a properties file. A user's own
  ``logger`` or statistics settings are kept.
  """
  out = dict(conf)
  out.setdefault('logger', librdkafka_logger())
  if 'stats_cb' not in out and 'statistics.interval.ms' not in out:
    out['statistics.interval.ms'] = STATS_INTERVAL_MS
    out['stats_cb'] = OUTAGES.on_stats
  return out
