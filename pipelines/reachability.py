"""Is every external service a run needs there? Checked before the run.

Without these checks a service that is not running shows up deep inside
the run: librdkafka retrying every 50 ms for half a minute, a Flink job
server's ConnectException a minute later, a database sink that gives up
after reading every input. Here each service the flags name is tried once,
with a short timeout, and a failure is one line naming what was tried and
what to do (``Unreachable``; the CLI prints it and exits 1).

What is checked, when the run uses it:
- Kafka (``--source kafka``, ``--sink kafka://``): a TCP connection to the
  bootstrap servers, then a metadata request with the run's client settings
  (so an open port that is not Kafka fails too), then the topic.
- PostgreSQL (``--sink postgresql://``): a login (transforms/sinks/
  postgres_sink.py), so a wrong password fails here as well.
- Redis (``--sink redis://``): an authenticated PING (transforms/sinks/
  redis_sink/store.py), so a wrong password fails here as well.
- The Pub/Sub emulator (``PUBSUB_EMULATOR_HOST`` with Pub/Sub in the run):
  a TCP connection, then the subscription or topic read from.
- HDFS (``--input hdfs://``, ``--output hdfs://``): the --hdfs_* flags are
  given and the NameNode answers WebHDFS (``check_hdfs``; checked before the
  inputs are listed).
- Flink (``--runner FlinkRunner`` with a cluster ``--flink_master``): its REST
  API answers as Flink; an EXTERNAL worker pool (``--environment_config``)
  accepts connections.
- Spark (a SparkRunner with a ``spark://`` ``--spark_master_url``): the
  standalone master accepts connections (its RPC port speaks no HTTP).

A DataflowRunner run is not checked: its workers, not this machine, talk to
the services, and may reach what this machine cannot.
"""
from __future__ import annotations

import errno
import json
import logging
import os
import re
import socket
import time
import urllib.error
import urllib.request
from typing import List, Optional, Tuple

from apache_beam.options.pipeline_options import (PipelineOptions,
                                                  PortableOptions,
                                                  StandardOptions)

from pipelines.options import SalesConfig

_LOG = logging.getLogger('pipeline')

# Each check's own bound; a run's checks are few (one per service).
TIMEOUT_S = 3.0
# A topic the source reads may be created a moment after the run starts
# (the streaming quickstart starts the replay and the pipeline together).
TOPIC_WAIT_S = 5.0

KAFKA_FIX = 'start it with services/kafka/broker.sh start'
FLINK_FIX = ('start it with runners/flink/cluster.sh start or pass '
             '--flink_master (FLINK_MASTER for runners.flink.run)')
SPARK_FIX = ('start it with runners/spark/cluster.sh start or pass '
             '--spark_master_url (SPARK_MASTER for runners.spark.run)')
PUBSUB_FIX = ('start it with services/pubsub/emulator.sh start or unset '
              'PUBSUB_EMULATOR_HOST')


class Unreachable(RuntimeError):
  """A service the run needs cannot be used; the message says which, at
  what address, why, and what to do."""


def host_port(address: str, default_port: int) -> Tuple[str, int]:
  """'host:port', '[::1]:port', 'host' or 'scheme://host:port/...' ->
  (host, port)."""
  text = address.strip()
  if '://' in text:
    text = text.split('://', 1)[1]
  text = text.split('/', 1)[0]
  if text.startswith('['):
    host, _, rest = text[1:].partition(']')
    port = rest.lstrip(':')
  else:
    host, _, port = text.rpartition(':') if ':' in text else (text, '', '')
  try:
    return host or 'localhost', int(port) if port else default_port
  except ValueError:
    raise Unreachable(f'cannot understand the address {address!r}; '
                      'use host:port') from None


def tcp_problem(host: str, port: int,
                timeout_s: float = TIMEOUT_S) -> Optional[str]:
  """None if host:port accepts a TCP connection, else the reason in words."""
  try:
    with socket.create_connection((host, port), timeout=timeout_s):
      return None
  except socket.timeout:
    return f'no answer within {timeout_s:g} s'
  except socket.gaierror:
    return f'unknown host {host}'
  except OSError as e:
    if e.errno == errno.ECONNREFUSED:
      return 'connection refused'
    return (e.strerror or str(e)).lower()


# -- Kafka -------------------------------------------------------------------

def _kafka_servers_problem(servers: str) -> Optional[str]:
  """None if any bootstrap server accepts a connection (librdkafka needs
  one), else the first server's reason."""
  reasons = []
  for server in [s for s in servers.split(',') if s.strip()]:
    problem = tcp_problem(*host_port(server, 9092))
    if problem is None:
      return None
    reasons.append(problem)
  return reasons[0] if reasons else 'no bootstrap server given'


def _kafka_metadata(servers: str, config_file: str):
  """The cluster's metadata, asked with the run's own client settings
  (security properties included); None if the properties file is not on
  this machine (it is read on the workers)."""
  from confluent_kafka import KafkaError, KafkaException
  from confluent_kafka.admin import AdminClient

  from transforms.kafka_client import KafkaConnection
  if config_file and not os.path.isfile(config_file):
    _LOG.info('Kafka at %s: %s is not on this machine; metadata not checked',
              servers, config_file)
    return None
  conf = KafkaConnection(servers, properties_file=config_file).client_config()
  secured = str(conf.get('security.protocol', 'PLAINTEXT')).upper() != (
      'PLAINTEXT')
  if not secured:
    try:
      return AdminClient(conf).list_topics(timeout=TIMEOUT_S)
    except KafkaException as e:
      raise Unreachable(_kafka_not_kafka(servers, e)) from None
  # TLS and SASL: a refused login or handshake is final, and said as such
  # (librdkafka reports it through error_cb, served by poll); the handshake
  # takes a loaded machine longer.
  refusals = []
  conf['error_cb'] = lambda err: refusals.append(err) if err.code() in (
      KafkaError._AUTHENTICATION, KafkaError._SSL) else None
  admin = AdminClient(conf)
  deadline = time.monotonic() + 4 * TIMEOUT_S
  while True:
    try:
      return admin.list_topics(timeout=0.5)
    except KafkaException as e:
      failure = e
    admin.poll(0.1)
    if refusals:
      raise Unreachable(_kafka_refusal(servers, refusals[0])) from None
    if time.monotonic() >= deadline:
      raise Unreachable(_kafka_not_kafka(servers, failure)) from None


def _kafka_not_kafka(servers: str, error: Exception) -> str:
  err = error.args[0] if error.args else error
  reason = getattr(err, 'str', lambda: str(err))()
  return (f'Kafka at {servers} does not answer as Kafka ({reason}); '
          f'check the address and --kafka_config_file, or {KAFKA_FIX}')


def _kafka_refusal(servers: str, error) -> str:
  """One line for a refused login (wrong SASL user or password) or TLS
  handshake (a CA that did not sign the broker's certificate)."""
  from confluent_kafka import KafkaError
  reason = re.sub(r' \(after \d+ms in state \w+\)', '',
                  error.str().split(': ', 1)[-1])
  if error.code() == KafkaError._AUTHENTICATION:
    return (f'Kafka at {servers} refused the login ({reason}); check '
            f'sasl.username and sasl.password in --kafka_config_file')
  return (f'Kafka at {servers}: TLS failed ({reason}); check '
          f'security.protocol and ssl.ca.location in --kafka_config_file')


def check_kafka(servers: str, topic: str, config_file: str, reads: bool,
                fix: str) -> None:
  """The brokers answer and ``topic`` exists (a reader's topic may appear
  within TOPIC_WAIT_S); a writer's missing topic is fine if the broker
  creates topics, and said so."""
  problem = _kafka_servers_problem(servers)
  if problem is not None:
    raise Unreachable(f'cannot reach Kafka at {servers} ({problem}); '
                      f'{KAFKA_FIX} or {fix}')
  deadline = time.monotonic() + (TOPIC_WAIT_S if reads else 0)
  while True:
    metadata = _kafka_metadata(servers, config_file)
    if metadata is None or topic in metadata.topics:
      _LOG.info('Kafka at %s: reachable, topic %s', servers,
                'not checked' if metadata is None else f'{topic!r} exists')
      return
    if time.monotonic() >= deadline:
      break
    time.sleep(0.5)
  if reads:
    raise Unreachable(
        f'Kafka topic {topic!r} does not exist at {servers}, and reading '
        f'does not create it; create it (python -m tools.replay_to_kafka '
        f'--topic {topic} ... creates and fills it) or pass --kafka_topic')
  if _broker_creates_topics(servers, config_file, metadata):
    _LOG.info('Kafka topic %r does not exist at %s yet; the broker creates '
              'it on the first write', topic, servers)
    return
  raise Unreachable(
      f'Kafka topic {topic!r} does not exist at {servers}, and the broker '
      f'does not create topics (auto.create.topics.enable=false); create it '
      f'or fix the --sink URL')


def _broker_creates_topics(servers: str, config_file: str, metadata) -> bool:
  """The broker's auto.create.topics.enable; True when it cannot be read
  (a writer's error then names the topic)."""
  from confluent_kafka.admin import AdminClient, ConfigResource

  from transforms.kafka_client import KafkaConnection
  try:
    conf = KafkaConnection(servers,
                           properties_file=config_file).client_config()
    broker = str(next(iter(metadata.brokers)))
    resource = ConfigResource(ConfigResource.Type.BROKER, broker)
    futures = AdminClient(conf).describe_configs([resource],
                                                 request_timeout=TIMEOUT_S)
    entries = futures[resource].result(timeout=TIMEOUT_S)
    return entries['auto.create.topics.enable'].value == 'true'
  except Exception as e:  # pylint: disable=broad-except
    _LOG.debug('reading auto.create.topics.enable: %s', e)
    return True


# -- Pub/Sub -------------------------------------------------------------------

def check_pubsub_emulator(config: SalesConfig) -> None:
  """The emulator named by PUBSUB_EMULATOR_HOST accepts connections, and
  the subscription (or topic) a Pub/Sub source reads exists there."""
  emulator = os.environ.get('PUBSUB_EMULATOR_HOST', '')
  if not emulator:
    # Google Cloud itself: credentials and IAM are the workers' affair.
    _LOG.info('Pub/Sub: Google Cloud (no PUBSUB_EMULATOR_HOST); not checked')
    return
  problem = tcp_problem(*host_port(emulator, 8085))
  if problem is not None:
    raise Unreachable(f'cannot reach the Pub/Sub emulator at {emulator} '
                      f'({problem}); {PUBSUB_FIX}')
  if config.source != 'pubsub':
    return
  from google.api_core import exceptions
  from google.cloud import pubsub_v1
  try:
    if config.pubsub_subscription:
      what, name = 'subscription', config.pubsub_subscription
      pubsub_v1.SubscriberClient().get_subscription(
          request={'subscription': name}, timeout=TIMEOUT_S)
    else:
      what, name = 'topic', config.pubsub_topic
      pubsub_v1.PublisherClient().get_topic(request={'topic': name},
                                            timeout=TIMEOUT_S)
  except exceptions.NotFound:
    raise Unreachable(
        f'Pub/Sub {what} {name} does not exist at the emulator {emulator}; '
        f'create it with python -m services.pubsub.admin create-{what} ...'
    ) from None
  except exceptions.GoogleAPICallError as e:
    raise Unreachable(f'the Pub/Sub emulator at {emulator} does not answer '
                      f'({e.message or type(e).__name__}); {PUBSUB_FIX}'
                      ) from None
  _LOG.info('Pub/Sub emulator at %s: reachable, %s exists', emulator, name)


# -- runners -------------------------------------------------------------------

def check_flink_master(master: str) -> None:
  """Flink's REST API at ``master`` answers, as Flink."""
  base = master if '://' in master else f'http://{master}'
  host, port = host_port(base, 8081)
  problem = tcp_problem(host, port)
  if problem is not None:
    raise Unreachable(f'cannot reach the Flink cluster at {base} ({problem}); '
                      f'{FLINK_FIX}')
  try:
    with urllib.request.urlopen(f'{base.rstrip("/")}/config',
                                timeout=TIMEOUT_S) as response:
      answer = json.loads(response.read(65536) or b'{}')
  except (urllib.error.URLError, OSError, ValueError) as e:
    raise Unreachable(f'the Flink cluster at {base} does not answer its REST '
                      f'API ({getattr(e, "reason", e)}); {FLINK_FIX}'
                      ) from None
  if 'flink-version' not in answer:
    raise Unreachable(f'{base} answers, but not as Flink\'s REST API; '
                      f'{FLINK_FIX}')
  _LOG.info('Flink %s at %s: reachable', answer['flink-version'], base)


def check_spark_master(master: str) -> None:
  """A standalone master (spark://host:port) accepts connections; a
  local[N] master runs inside the job server and needs nothing."""
  if not master.startswith('spark://'):
    return
  problem = tcp_problem(*host_port(master, 7077))
  if problem is not None:
    raise Unreachable(f'cannot reach the Spark master at {master} '
                      f'({problem}); {SPARK_FIX}')
  _LOG.info('Spark master at %s: reachable', master)


def check_worker_pool(address: str, runner: str = 'flink') -> None:
  """An EXTERNAL worker pool accepts connections; ``runner`` (flink or
  spark) names the cluster script that starts it."""
  problem = tcp_problem(*host_port(address, 50000))
  if problem is not None:
    raise Unreachable(
        f'cannot reach the Beam Python worker pool at {address} ({problem}); '
        f'start it with runners/{runner}/cluster.sh start, or pass another '
        f'--environment_config (BEAM_WORKER_POOL for runners.{runner}.run)')


def _runner(options: PipelineOptions) -> str:
  return str(options.view_as(StandardOptions).runner or '').rsplit('.', 1)[-1]


def check_runner(options: PipelineOptions) -> None:
  """The cluster and worker pool a portable runner will submit to."""
  runner = _runner(options).lower()
  if runner == 'flinkrunner':
    from apache_beam.options.pipeline_options import FlinkRunnerOptions
    master = options.view_as(FlinkRunnerOptions).flink_master or ''
    if master and not master.startswith('['):  # [local], [auto]: in process
      check_flink_master(master)
  if runner == 'sparkrunner':
    from apache_beam.options.pipeline_options import SparkRunnerOptions
    check_spark_master(options.view_as(SparkRunnerOptions).spark_master_url
                       or '')
  portable = options.view_as(PortableOptions)
  if (portable.environment_type or '').upper() == 'EXTERNAL' and (
      portable.environment_config):
    check_worker_pool(portable.environment_config,
                      'spark' if runner == 'sparkrunner' else 'flink')


# -- all of them ---------------------------------------------------------------

def kafka_checks(config: SalesConfig) -> List[Tuple[str, str, str, bool,
                                                   str]]:
  """(servers, topic, properties file, reads, what to fix) per Kafka use."""
  uses = []
  if config.source == 'kafka':
    uses.append((config.kafka_bootstrap_servers, config.kafka_topic,
                 config.kafka_config_file, True, 'pass '
                 '--kafka_bootstrap_servers'))
  for url in config.sinks:
    if url.lower().startswith('kafka:'):
      from pipelines.wiring import parse_kafka_url
      servers, topic = parse_kafka_url(url)
      uses.append((servers, topic, config.kafka_sink_config_file, False,
                   'fix the --sink URL'))
  return uses


def check_services(config: SalesConfig, options: PipelineOptions) -> None:
  """Raises Unreachable for the first service the run needs and cannot
  use. Takes no time for a run on local files into local stores."""
  if _runner(options).lower() == 'dataflowrunner':
    _LOG.info('DataflowRunner: services are reached by the workers; '
              'not checked here')
    return
  started = time.monotonic()
  check_runner(options)
  for servers, topic, config_file, reads, fix in kafka_checks(config):
    check_kafka(servers, topic, config_file, reads, fix)
  for url in config.sinks:
    if url.lower().startswith(('postgresql:', 'postgres:')):
      from transforms.sinks.postgres_sink import connection_problem
      problem = connection_problem(url, int(TIMEOUT_S))
      if problem is not None:
        raise Unreachable(problem)
    if url.lower().startswith(('redis:', 'rediss:')):
      from transforms.sinks import redis_sink
      problem = redis_sink.connection_problem(url, config.redis_password,
                                              TIMEOUT_S)
      if problem is not None:
        raise Unreachable(problem)
  if config.source == 'pubsub' or any(
      u.lower().startswith('pubsub:') for u in config.sinks):
    check_pubsub_emulator(config)
  _LOG.debug('services checked in %.2f s', time.monotonic() - started)
