"""The edges: which source and which sinks a configuration asks for.

Transport and store choices are made here and nowhere else; the pipeline
definition (pipelines/sales.py) only sees PTransforms.
"""
from __future__ import annotations

import re
from typing import List, Optional, Tuple

import apache_beam as beam

from pipelines.flags import UsageError
from pipelines.options import SalesConfig
from transforms.redact import redact_text, redact_url
from transforms.sources.files import ReadOrderFiles, expand_patterns
from transforms.vectorized.batches import RecordsAsBatches
from transforms.vectorized.chunks import ReadOrderChunks


class SinkUrlError(ValueError):
  """A --sink URL this product does not understand."""


def source_for(config: SalesConfig) -> beam.PTransform:
  """PBegin -> PCollection[RawRecord] for the configured source."""
  if config.source == 'files' and config.columnar:
    return ReadOrderChunks(expand_patterns(config.inputs),
                           config.input_format)
  if config.source == 'files':
    return ReadOrderFiles(config.inputs, config.input_format)
  if config.source == 'kafka':
    from transforms.sources.kafka import ReadFromKafkaNative
    return ReadFromKafkaNative(
        bootstrap_servers=config.kafka_bootstrap_servers,
        topic=config.kafka_topic,
        group_id=config.kafka_group_id,
        consumer_config_file=config.kafka_config_file or None,
        bounded=config.kafka_bounded,
        event_time='kafka' if config.event_time_from == 'transport' else
        'payload',
        idle_timeout_s=config.kafka_idle_timeout_seconds,
        ignore_committed=config.generation > 0,
        emit_batches=config.columnar)
  if config.source == 'pubsub':
    from transforms.sources.pubsub import (ReadFromPubSubDataflow,
                                           ReadFromPubSubNative)
    if config.pubsub_reader == 'dataflow':
      records = ReadFromPubSubDataflow.from_config(config)
    else:
      records = ReadFromPubSubNative.from_config(config)
    return RecordsAsBatches(records) if config.columnar else records
  if config.source == 'zeromq':
    from transforms.sources.zeromq import ReadFromZeroMQ
    records = ReadFromZeroMQ.from_config(config)
    return RecordsAsBatches(records) if config.columnar else records
  raise ValueError(f'unknown source {config.source!r}')


def sink_for_url(
    url: str,
    generation: int = 0,
    kafka_config_file: str = '',
    redis_password: str = '',
    redis_retention_seconds: Optional[float] = None,
) -> Tuple[str, beam.PTransform]:
  """A (step name, sink transform) pair for one --sink URL.

  generation: for database sinks, how this run's panes rank against earlier
  runs' (see --recover).
  kafka_config_file: librdkafka properties for the Kafka sink's producer.
  redis_password, redis_retention_seconds: the Redis sink's password
  reference (env:NAME / file:PATH) and key retention (None = its default).

  Raises SinkUrlError, in one line that never shows a password, for a URL
  that is unknown, malformed or carries credentials.
  """
  try:
    return _sink_for_url(url, generation, kafka_config_file,
                         (redis_password, redis_retention_seconds))
  except SinkUrlError:
    raise
  except ValueError as e:  # the sink's own check; it may echo the URL
    raise SinkUrlError(redact_text(str(e))) from None


def _sink_for_url(url: str, generation: int, kafka_config_file: str,
                  redis: Tuple[str, Optional[float]] = ('', None)
                  ) -> Tuple[str, beam.PTransform]:
  scheme = url.split(':', 1)[0].lower()
  if scheme == 'sqlite':
    from transforms.sinks.sqlite_sink import WriteToSQLite
    return 'WriteToSQLite', WriteToSQLite(url, generation=generation)
  if scheme in ('postgresql', 'postgres'):
    from transforms.sinks.postgres_sink import WriteToPostgres
    return 'WriteToPostgres', WriteToPostgres(url, generation=generation)
  if scheme == 'kafka':
    from transforms.sinks.kafka_sink import WriteToKafka
    servers, topic = parse_kafka_url(url)
    return 'WriteToKafka', WriteToKafka(
        servers, topic, producer_config_file=kafka_config_file or None)
  if scheme == 'pubsub':
    from transforms.sinks.pubsub_sink import WriteToPubSubTopics
    return 'WriteToPubSub', WriteToPubSubTopics.from_url(url)
  if scheme in ('redis', 'rediss'):
    from transforms.sinks.redis_sink import WriteToRedis
    password, retention = redis
    extra = {} if retention is None else {'retention_s': retention}
    return 'WriteToRedis', WriteToRedis(url, password=password,
                                        generation=generation, **extra)
  if scheme == 'bigquery':
    from transforms.sinks.bigquery_sink import WriteToBigQueryTables
    return 'WriteToBigQuery', WriteToBigQueryTables.from_url(url)
  raise SinkUrlError(
      f'unknown sink {redact_url(url)!r}; use sqlite:///path.db, '
      'postgresql://user@host:port/db, kafka://host:port/topic, '
      'pubsub://projects/P/topics/T, redis://host:port/db or '
      'bigquery:PROJECT:DATASET')


# Kafka's legal topic names.
_TOPIC = re.compile(r'^[A-Za-z0-9._-]{1,249}$')


def parse_kafka_url(url: str) -> Tuple[str, str]:
  """kafka://host:port[,host:port]/topic -> (bootstrap servers, topic).

  A URL with a user part (``kafka://user:pw@host/topic``) is refused: the
  credentials belong in --kafka_sink_config_file, as ``env:``/``file:``
  references, never on a command line.
  """
  rest = url.split('://', 1)[1] if '://' in url else ''
  shown = redact_url(url)
  if '@' in rest:
    raise SinkUrlError(
        f'Kafka sink {shown!r} carries credentials; use '
        f'kafka://host:port/topic and give sasl.username and sasl.password '
        f'(as env:NAME or file:PATH) in --kafka_sink_config_file')
  servers, _, topic = rest.partition('/')
  if not servers or not _TOPIC.match(topic):
    raise SinkUrlError(f'bad Kafka sink {shown!r}; use kafka://host:port/topic '
                       f'(topic: letters, digits, ".", "_", "-")')
  return servers, topic


def sinks_for(config: SalesConfig) -> List[Tuple[str, beam.PTransform]]:
  sinks = []
  if config.output and config.bounded:
    from transforms.sinks.files import WriteOutputFiles
    try:
      sinks.append(('WriteOutputFiles', WriteOutputFiles(config.output)))
    except ValueError as e:  # a pattern, not a directory
      raise UsageError(str(e)) from None
  seen = set()
  for url in config.sinks:
    name, sink = sink_for_url(url, config.generation,
                              config.kafka_sink_config_file,
                              config.redis_password,
                              config.redis_retention_seconds)
    # Two sinks of one kind need distinct step names.
    suffix = 2
    unique = name
    while unique in seen:
      unique, suffix = f'{name}{suffix}', suffix + 1
    seen.add(unique)
    sinks.append((unique, sink))
  return sinks
