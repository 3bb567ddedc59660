"""Start and stop the project's single-node Kafka broker from Python.

A thin wrapper over ``services/kafka/broker.sh`` (which fetches Kafka's jars
from Maven Central into the cache and runs a KRaft broker+controller JVM on
127.0.0.1). Used by the test fixtures (tests/fixtures/kafka.py)::

    broker = KafkaBroker()            # free ports, a fresh temp data dir
    broker.start()                    # returns when the broker is healthy
    broker.create_topic('orders', partitions=3)
    ... broker.bootstrap ...          # '127.0.0.1:<port>'
    broker.stop()                     # the JVM is gone when this returns

Or as a context manager: ``with KafkaBroker() as broker: ...``.

``KafkaBroker(sasl=True)`` adds a SASL_SSL listener (SCRAM-SHA-512 over TLS,
docs/security.md) on another free port: ``sasl_bootstrap``, and
``sasl_client_config()`` for a client (the password as ``file:PATH``).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from typing import Dict, Optional

BROKER_SH = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'broker.sh')


def free_port() -> int:
  """A TCP port on 127.0.0.1 that is free right now."""
  with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def create_topic(bootstrap: str, name: str, partitions: int = 1,
                 config: Optional[Dict[str, str]] = None,
                 timeout_s: float = 30.0) -> str:
  """Creates a topic on any broker (no-op if it exists) and waits for leaders."""
  from confluent_kafka import KafkaException
  from confluent_kafka.admin import AdminClient, NewTopic
  admin = AdminClient({'bootstrap.servers': bootstrap})
  futures = admin.create_topics(
      [NewTopic(name, num_partitions=partitions, replication_factor=1,
                config=config or {})],
      operation_timeout=timeout_s)
  try:
    futures[name].result(timeout=timeout_s)
  except KafkaException as e:
    if 'TOPIC_ALREADY_EXISTS' not in str(e):
      raise
  deadline = time.monotonic() + timeout_s
  while time.monotonic() < deadline:
    md = admin.list_topics(name, timeout=5)
    t = md.topics.get(name)
    if (t is not None and t.error is None and len(t.partitions) >= partitions
        and all(p.leader >= 0 for p in t.partitions.values())):
      return name
    time.sleep(0.1)
  raise TimeoutError('topic %s has no leaders after %ss' % (name, timeout_s))


class KafkaBroker:
  """A real Kafka broker (KRaft, one node) on 127.0.0.1."""

  def __init__(
      self,
      port: Optional[int] = None,
      controller_port: Optional[int] = None,
      data_dir: Optional[str] = None,
      cache_dir: Optional[str] = None,
      start_timeout_s: int = 120,
      keep_data: bool = False,
      sasl: bool = False,
      sasl_user: str = 'sales'):
    self.port = port or free_port()
    self.controller_port = controller_port or free_port()
    while self.controller_port == self.port:
      self.controller_port = free_port()
    self.sasl_port = None
    while sasl and self.sasl_port in (None, self.port, self.controller_port):
      self.sasl_port = free_port()
    self.sasl_user = sasl_user
    self._own_data_dir = data_dir is None
    self.data_dir = data_dir or tempfile.mkdtemp(prefix='kafka-broker-')
    self.cache_dir = cache_dir
    self.start_timeout_s = start_timeout_s
    self.keep_data = keep_data
    self._running = False

  @property
  def bootstrap(self) -> str:
    return '127.0.0.1:%d' % self.port

  @property
  def sasl_bootstrap(self) -> Optional[str]:
    """The SASL_SSL listener, or None without one."""
    return '127.0.0.1:%d' % self.sasl_port if self.sasl_port else None

  @property
  def ca_file(self) -> str:
    """The CA certificate that signed the SASL_SSL listener's."""
    return os.path.join(self.data_dir, 'tls', 'ca.crt')

  @property
  def sasl_password_file(self) -> str:
    """The SCRAM user's password (0600, made by broker.sh)."""
    return os.path.join(self.data_dir, 'secrets', self.sasl_user + '.password')

  def sasl_client_config(self, password_ref: Optional[str] = None
                         ) -> Dict[str, str]:
    """librdkafka settings for the SASL_SSL listener; the password is a
    reference (default ``file:`` the generated password file)."""
    return {
        'bootstrap.servers': self.sasl_bootstrap,
        'security.protocol': 'SASL_SSL',
        'sasl.mechanisms': 'SCRAM-SHA-512',
        'sasl.username': self.sasl_user,
        'sasl.password': password_ref or 'file:' + self.sasl_password_file,
        'ssl.ca.location': self.ca_file,
    }

  @property
  def log_file(self) -> str:
    return os.path.join(self.data_dir, 'broker.log')

  def _env(self) -> Dict[str, str]:
    env = dict(os.environ)
    env.update({
        'KAFKA_PORT': str(self.port),
        'KAFKA_CONTROLLER_PORT': str(self.controller_port),
        'KAFKA_DATA_DIR': self.data_dir,
        'KAFKA_START_TIMEOUT': str(self.start_timeout_s),
    })
    if self.cache_dir:
      env['SALES_CACHE'] = self.cache_dir
    env.pop('KAFKA_SASL_PORT', None)
    if self.sasl_port:
      env['KAFKA_SASL_PORT'] = str(self.sasl_port)
      env['KAFKA_SASL_USER'] = self.sasl_user
    return env

  def _run(self, command: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        ['bash', BROKER_SH, command], env=self._env(), capture_output=True,
        text=True, timeout=self.start_timeout_s + 300)
    if check and proc.returncode != 0:
      raise RuntimeError(
          'broker.sh %s failed (exit %d):\n%s\n%s' %
          (command, proc.returncode, proc.stdout, proc.stderr))
    return proc

  def setup(self) -> None:
    """Fetches the jars (no-op when already in the cache)."""
    self._run('setup')

  def start(self) -> 'KafkaBroker':
    self._run('start')
    self._running = True
    return self

  def is_running(self) -> bool:
    return self._run('status', check=False).returncode == 0

  def stop(self) -> None:
    self._run('stop', check=False)
    self._running = False
    if self._own_data_dir and not self.keep_data:
      shutil.rmtree(self.data_dir, ignore_errors=True)

  def admin(self):
    from confluent_kafka.admin import AdminClient
    return AdminClient({'bootstrap.servers': self.bootstrap})

  def create_topic(self, name: str, partitions: int = 1,
                   config: Optional[Dict[str, str]] = None,
                   timeout_s: float = 30.0) -> str:
    """Creates ``name`` (no-op if it exists) and waits until it has leaders."""
    return create_topic(self.bootstrap, name, partitions, config, timeout_s)

  def __enter__(self) -> 'KafkaBroker':
    return self.start()

  def __exit__(self, *exc) -> None:
    self.stop()


if __name__ == '__main__':
  import sys
  with KafkaBroker() as b:
    print('broker at', b.bootstrap, 'data', b.data_dir)
    b.create_topic('smoke', 3)
    print('topic created; stopping', file=sys.stderr)
