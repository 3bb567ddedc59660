"""Writes the pipeline's results to Kafka as JSON (confluent-kafka).

``WriteToKafka(bootstrap_servers, topic)`` is applied to a dict::

    {'results': PCollection[CategoryResult],
     'top_products': PCollection[TopProduct],
     'dead_letters': PCollection[DeadLetter]}

(any subset of the keys) and writes

* results       -> ``<topic>``               key ``<window_start_ms>|<window_end_ms>|<customer_id>|<category>``
* top_products  -> ``<topic>.top_products``  key ``<window_start_ms>|<window_end_ms>|<customer_id>|<rank>``
* dead_letters  -> ``<topic>.dead_letters``  key ``<source>|<partition>|<position>``
* mined kinds (transforms/sinks/mined.py), when given: anomalies ->
  ``<topic>.alerts``, the others -> ``<topic>.<kind>``; key: the table's
  key columns joined by ``|``

Values are JSON objects with the row's fields; Decimals are strings rounded
to cents (ROUND_HALF_UP); times are epoch ms, and result rows also carry
window_start/window_end as ISO-8601 UTC. Keys carry the row's identity
(window and dimension), so a compacted topic keeps the latest pane of each
row and consumers can upsert on the key; ``pane_index`` in the value lets a
consumer refuse an older pane that arrives after a newer one.

One producer per DoFn instance (setup/teardown); ``finish_bundle`` flushes
and fails the bundle if any message was not acknowledged, so the runner
retries the bundle (at-least-once; the keyed upserts make retries
idempotent). Producer properties: ``producer_config`` (dict; ``env:NAME`` /
``file:PATH`` values for secrets) and ``producer_config_file``.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Mapping, Optional

import apache_beam as beam

from transforms.sinks.mined import MINED_KINDS, MINED_TABLES, json_row
from transforms.sinks.mined import mined_key
from transforms.sinks.rows import dead_letter_dict, json_ready
from transforms.records import CategoryResult, DeadLetter, TopProduct
from transforms.kafka_client import KafkaConnection

_LOG = logging.getLogger(__name__)

# The producer's settings a user's properties may override.
PRODUCER = {
    'enable.idempotence': True,
    'acks': 'all',
    'linger.ms': 20,
    'compression.type': 'lz4',
}


def result_key(row: CategoryResult) -> str:
  return '%d|%d|%s|%s' % (
      row.window_start_ms, row.window_end_ms, row.customer_id, row.category)


def top_product_key(row: TopProduct) -> str:
  return '%d|%d|%s|%d' % (
      row.window_start_ms, row.window_end_ms, row.customer_id, row.rank)


def dead_letter_key(row: DeadLetter) -> str:
  return '%s|%s|%s' % (
      row.source, '' if row.partition is None else row.partition, row.position)


def encode_row(row, kind: str = '') -> tuple:
  """(key bytes, JSON value bytes) for a CategoryResult/TopProduct/DeadLetter,
  or a row (dict) of the mined ``kind``."""
  if kind in MINED_TABLES:
    value = json.dumps(json_row(kind, row), sort_keys=True,
                       separators=(',', ':'))
    return mined_key(kind, row).encode('utf-8'), value.encode('utf-8')
  if isinstance(row, CategoryResult):
    key = result_key(row)
  elif isinstance(row, TopProduct):
    key = top_product_key(row)
  elif isinstance(row, DeadLetter):
    key = dead_letter_key(row)
  else:
    raise TypeError('cannot write %r to Kafka' % type(row))
  body = (dead_letter_dict(row) if isinstance(row, DeadLetter) else
          json_ready(row))
  value = json.dumps(body, sort_keys=True, separators=(',', ':'))
  return key.encode('utf-8'), value.encode('utf-8')


class _ProduceFn(beam.DoFn):
  """Produces each row to one topic; flushes and checks acks per bundle."""
  def __init__(self, connection: KafkaConnection, topic: str,
               flush_timeout_s: float, kind: str = ''):
    self._connection = connection
    self._topic = topic
    self._flush_timeout_s = flush_timeout_s
    self._kind = kind

  def setup(self):
    from confluent_kafka import Producer
    self._producer = Producer(self._connection.client_config(PRODUCER))
    self._errors = []

  def start_bundle(self):
    self._errors = []

  def _on_delivery(self, err, msg):
    if err is not None:
      self._errors.append(str(err))

  def process(self, row):
    key, value = encode_row(row, self._kind)
    while True:
      try:
        self._producer.produce(
            self._topic, key=key, value=value, on_delivery=self._on_delivery)
        break
      except BufferError:
        self._producer.poll(0.5)  # local queue full: let it drain
    self._producer.poll(0)

  def finish_bundle(self):
    remaining = self._producer.flush(self._flush_timeout_s)
    if remaining or self._errors:
      errors, self._errors = self._errors, []
      raise RuntimeError(
          'Kafka sink %s: %d message(s) not delivered, errors: %s' %
          (self._topic, remaining, errors[:5]))

  def teardown(self):
    producer = getattr(self, '_producer', None)
    if producer is not None:
      producer.flush(self._flush_timeout_s)
      self._producer = None


class WriteToKafka(beam.PTransform):
  """Writes {'results', 'top_products', 'dead_letters'} to Kafka topics.

  Topics: ``<topic>``, ``<topic>.top_products``, ``<topic>.dead_letters``
  (override with ``topics={'results': ..., ...}``). The topics must exist
  or the broker must auto-create them.
  """
  SUFFIXES = {
      'results': '',
      'top_products': '.top_products',
      'dead_letters': '.dead_letters',
      **{kind: t.topic_suffix for kind, t in MINED_TABLES.items()},
  }

  def __init__(self, bootstrap_servers: str, topic: str,
               producer_config: Optional[Mapping[str, Any]] = None,
               producer_config_file: Optional[str] = None,
               topics: Optional[Mapping[str, str]] = None,
               flush_timeout_s: float = 60.0):
    super().__init__()
    self._connection = KafkaConnection(bootstrap_servers, producer_config,
                                       producer_config_file)
    self._topics = {k: topic + s for k, s in self.SUFFIXES.items()}
    self._topics.update(topics or {})
    self._flush_timeout_s = flush_timeout_s

  def topic_for(self, name: str) -> str:
    return self._topics[name]

  def expand(self, pcolls):
    if not isinstance(pcolls, dict):
      raise TypeError(
          'WriteToKafka expects a dict of PCollections: results, '
          'top_products, dead_letters')
    unknown = set(pcolls) - set(self.SUFFIXES)
    if unknown:
      raise ValueError('WriteToKafka: unknown outputs %s' % sorted(unknown))
    written = {}
    for name in ('results', 'top_products', 'dead_letters') + MINED_KINDS:
      if name not in pcolls:
        continue
      step = ''.join(p.capitalize() for p in name.split('_'))
      written[name] = pcolls[name] | 'Write%s' % step >> beam.ParDo(
          _ProduceFn(self._connection, self._topics[name],
                     self._flush_timeout_s, name))
    return written
