"""Publishes the pipeline's results to Pub/Sub topics as JSON.

    {'results': ..., 'top_products': ..., 'dead_letters': ...} \\
        | WriteToPubSubTopics.from_url('pubsub://projects/P/topics/sales')

URL: ``pubsub://projects/P/topics/T`` writes

* results       -> ``projects/P/topics/T``
* top_products  -> ``projects/P/topics/T.top_products``
* dead_letters  -> ``projects/P/topics/T.dead_letters``
* mined kinds (transforms/sinks/mined.py), when given -> ``T`` plus the
  Kafka sink's suffix (``T.alerts``, ``T.product_pairs``, ...); attributes
  ``kind``, ``key`` (the key columns joined by ``|``) and ``pane_index``
  when the rows have panes

(the Kafka sink's naming, so both transports look alike). Other topic ids
can be given as query parameters:
``pubsub://projects/P/topics/T?top_products=T2&dead_letters=T3``. The topics
must exist (the sink needs only ``pubsub.topics.publish``, i.e. the Pub/Sub
Publisher role); with ``?create=true`` missing topics are created first
(needs Pub/Sub Editor; meant for the local emulator).

Message data: one JSON object per row, UTF-8. Results and top products use
``transforms.sinks.rows.json_ready``: money as strings rounded to cents,
``window_start``/``window_end`` as ISO-8601 UTC and ``*_ms`` epoch
milliseconds, pane timing, index and finality. Dead letters are
``dead_letter_dict`` (reason, detail, payload, source, partition, position).

Attributes: ``kind`` (results | top_products | dead_letters) and ``key``,
the row's identity (``<window_start_ms>|<window_end_ms>|<customer_id>|
<category or rank>``, dead letters ``<source>|<partition>|<position>``), plus
``pane_index`` for result rows, so a subscriber can upsert on ``key`` and
refuse an older pane that arrives after a newer one (Pub/Sub does not keep
order).

Delivery: one publisher client per DoFn instance; ``finish_bundle`` waits
for every publish of the bundle and fails the bundle if any failed, so the
runner retries it (at-least-once; the keyed upserts make that idempotent).
"""
from __future__ import annotations

import json
import logging
import urllib.parse
from typing import Any, Dict, List, NamedTuple, Optional

import apache_beam as beam

from transforms.records import DeadLetter
from transforms.sinks.mined import MINED_TABLES, json_row, mined_key
from transforms.sinks.rows import (DEAD_LETTERS, RESULTS, TOP_PRODUCTS,
                                   dead_letter_dict, json_ready, row_key)

_LOG = logging.getLogger(__name__)


class PubSubTopics(NamedTuple):
  results: str
  top_products: str
  dead_letters: str
  create: bool = False


def parse_pubsub_url(url: str) -> PubSubTopics:
  """``pubsub://projects/P/topics/T[?top_products=..&dead_letters=..]``."""
  parsed = urllib.parse.urlsplit(url)
  if parsed.scheme.lower() != 'pubsub':
    raise ValueError(f'not a Pub/Sub URL: {url!r}')
  path = (parsed.netloc + parsed.path).strip('/')
  parts = path.split('/')
  if len(parts) != 4 or parts[0] != 'projects' or parts[2] != 'topics' or (
      not parts[1] or not parts[3]):
    raise ValueError(
        f'bad Pub/Sub sink {url!r}: use pubsub://projects/P/topics/T')
  project, topic_id = parts[1], parts[3]
  query = urllib.parse.parse_qs(parsed.query)
  unknown = set(query) - {TOP_PRODUCTS, DEAD_LETTERS, 'create'}
  if unknown:
    raise ValueError(f'bad Pub/Sub sink {url!r}: unknown option '
                     f'{sorted(unknown)[0]!r}')

  def topic(name: Optional[str], default_id: str) -> str:
    if not name:
      return f'projects/{project}/topics/{default_id}'
    return name if name.startswith('projects/') else (
        f'projects/{project}/topics/{name}')

  create = query.get('create', ['false'])[-1].lower() in ('1', 'true', 'yes')
  return PubSubTopics(
      results=f'projects/{project}/topics/{topic_id}',
      top_products=topic(query.get(TOP_PRODUCTS, [None])[-1],
                         f'{topic_id}.{TOP_PRODUCTS}'),
      dead_letters=topic(query.get(DEAD_LETTERS, [None])[-1],
                         f'{topic_id}.{DEAD_LETTERS}'),
      create=create)


def encode_message(kind: str, row) -> Dict[str, Any]:
  """{'data': bytes, 'attributes': {...}} for one row."""
  if kind in MINED_TABLES:
    body = json_row(kind, row)
    attributes = {'kind': kind, 'key': mined_key(kind, row)}
    if MINED_TABLES[kind].has_panes:
      attributes['pane_index'] = str(row['pane_index'])
  elif isinstance(row, DeadLetter):
    body = dead_letter_dict(row)
    attributes = {'kind': kind, 'key': row_key(row)}
  else:
    body = json_ready(row)
    attributes = {'kind': kind, 'key': row_key(row),
                  'pane_index': str(row.pane_index)}
  data = json.dumps(body, sort_keys=True, separators=(',', ':'),
                    default=str).encode('utf-8')
  return {'data': data, 'attributes': attributes}


def ensure_topics(topics: List[str]) -> None:
  """Creates the topics that do not exist (emulator convenience)."""
  from google.api_core import exceptions
  from google.cloud import pubsub_v1
  publisher = pubsub_v1.PublisherClient()
  for topic in topics:
    try:
      publisher.create_topic(request={'name': topic}, timeout=30)
    except exceptions.AlreadyExists:
      pass


class _PublishFn(beam.DoFn):
  """Publishes each row to one topic; waits for every publish per bundle."""

  def __init__(self, kind: str, topic: str, create: bool,
               timeout_s: float) -> None:
    self._kind = kind
    self._topic = topic
    self._create = create
    self._timeout_s = timeout_s

  def setup(self):
    from google.cloud import pubsub_v1
    if self._create:
      ensure_topics([self._topic])
    self._publisher = pubsub_v1.PublisherClient(
        batch_settings=pubsub_v1.types.BatchSettings(
            max_messages=500, max_latency=0.05))
    self._futures = []

  def start_bundle(self):
    self._futures = []

  def process(self, row):
    message = encode_message(self._kind, row)
    self._futures.append(
        self._publisher.publish(self._topic, message['data'],
                                **message['attributes']))

  def finish_bundle(self):
    futures, self._futures = self._futures, []
    errors = []
    for future in futures:
      try:
        future.result(timeout=self._timeout_s)
      except Exception as e:  # pylint: disable=broad-except
        errors.append(e)
    if errors:
      raise RuntimeError(
          f'Pub/Sub: {len(errors)} of {len(futures)} messages to '
          f'{self._topic} were not published: {errors[0]}')

  def teardown(self):
    publisher = getattr(self, '_publisher', None)
    if publisher is not None:
      try:
        publisher.stop()
      except Exception:  # pylint: disable=broad-except
        pass


class WriteToPubSubTopics(beam.PTransform):
  """{'results', 'top_products', 'dead_letters'} -> Pub/Sub topics (JSON).

  Any subset of the keys may be given.
  """

  def __init__(self, topics: PubSubTopics, timeout_s: float = 60.0) -> None:
    super().__init__()
    self._topics = topics
    self._timeout_s = timeout_s

  @classmethod
  def from_url(cls, url: str) -> 'WriteToPubSubTopics':
    return cls(parse_pubsub_url(url))

  @property
  def topics(self) -> PubSubTopics:
    return self._topics

  def mined_topic(self, kind: str) -> str:
    """The topic of a mined kind: the results topic plus its suffix."""
    return self._topics.results + MINED_TABLES[kind].topic_suffix

  def expand(self, outputs: Dict[str, beam.PCollection]) -> None:
    mined = [(k, ''.join(p.title() for p in k.split('_')))
             for k in MINED_TABLES]
    for kind, step in [(RESULTS, 'Results'), (TOP_PRODUCTS, 'TopProducts'),
                       (DEAD_LETTERS, 'DeadLetters')] + mined:
      if kind not in outputs:
        continue
      topic = (self.mined_topic(kind) if kind in MINED_TABLES else
               getattr(self._topics, kind))
      _ = outputs[kind] | f'Publish{step}' >> beam.ParDo(
          _PublishFn(kind, topic, self._topics.create, self._timeout_s))
