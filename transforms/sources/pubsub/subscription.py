"""The subscription to read: its name, and ResolveSubscription.

ResolveSubscription runs once when the pipeline starts. With a subscription
it checks that it exists and reads its ack deadline; with a topic it
creates a subscription named at construction time (``<topic id>-sales-<8
hex>``; re-running the step finds it), with a one-day inactivity expiry so
an abandoned one is deleted by Pub/Sub. A topic subscription only sees
messages published after it exists.
"""
from __future__ import annotations

import logging
import re
import uuid
from typing import Iterable, NamedTuple, Optional

import apache_beam as beam

_LOG = logging.getLogger(__name__)

# Pub/Sub's bounds of an ack deadline.
MIN_ACK_DEADLINE_S = 10
MAX_ACK_DEADLINE_S = 600

_SUBSCRIPTION_RE = re.compile(r'^projects/[^/]+/subscriptions/[^/]+$')
_TOPIC_RE = re.compile(r'^projects/[^/]+/topics/[^/]+$')


def check_subscription_path(path: str) -> str:
  if not _SUBSCRIPTION_RE.match(path or ''):
    raise ValueError(
        f'Pub/Sub subscription must look like projects/P/subscriptions/S, '
        f'not {path!r}')
  return path


def check_topic_path(path: str) -> str:
  if not _TOPIC_RE.match(path or ''):
    raise ValueError(
        f'Pub/Sub topic must look like projects/P/topics/T, not {path!r}')
  return path


def subscription_for_topic(topic: str, suffix: Optional[str] = None) -> str:
  """The name of the subscription created for reading ``topic``."""
  project, topic_id = topic.split('/')[1], topic.split('/')[3]
  suffix = suffix or uuid.uuid4().hex[:8]
  # Subscription ids: 3..255 chars, start with a letter.
  sub_id = f'{topic_id[:200]}-sales-{suffix}'
  if not sub_id[0].isalpha():
    sub_id = 's' + sub_id
  return f'projects/{project}/subscriptions/{sub_id}'


def subscriber_client():
  # Honours PUBSUB_EMULATOR_HOST (plain-text channel, no credentials).
  from google.cloud import pubsub_v1
  return pubsub_v1.SubscriberClient()


class ReaderSpec(NamedTuple):
  """One reader of a subscription: the element the splittable DoFn gets."""
  subscription: str
  reader: int
  ack_deadline_s: int  # the subscription's own ack deadline


class SubscriptionRequest(NamedTuple):
  """The subscription a source reads, and by how many readers."""
  subscription: str  # projects/P/subscriptions/S
  topic: Optional[str]  # create the subscription on it; None: it exists
  num_readers: int  # parallel pullers: one ReaderSpec each
  ack_deadline_s: int  # a created subscription's ack deadline
  timeout_s: float  # the timeout of each call on the subscription


class ResolveSubscriptionFn(beam.DoFn):
  """Impulse -> one ReaderSpec per reader (creates a topic subscription)."""

  def __init__(self, request: SubscriptionRequest):
    self._request = request

  def process(self, unused_impulse) -> Iterable[ReaderSpec]:
    client = subscriber_client()
    try:
      if self._request.topic:
        sub = self._create_or_get(client)
      else:
        sub = self._get(client)
    finally:
      client.close()
    deadline = int(getattr(sub, 'ack_deadline_seconds', 0) or
                   MIN_ACK_DEADLINE_S)
    for reader in range(self._request.num_readers):
      yield ReaderSpec(self._request.subscription, reader, deadline)

  def _create_or_get(self, client):
    """The topic's subscription, created unless it exists."""
    from google.api_core import exceptions
    name, topic = self._request.subscription, self._request.topic
    try:
      sub = client.create_subscription(
          request={
              'name': name,
              'topic': topic,
              'ack_deadline_seconds': self._request.ack_deadline_s,
              'expiration_policy': {'ttl': {'seconds': 86400}},
          },
          timeout=self._request.timeout_s)
      _LOG.warning('Pub/Sub: created subscription %s on %s', name, topic)
      return sub
    except exceptions.AlreadyExists:
      return client.get_subscription(request={'subscription': name},
                                     timeout=self._request.timeout_s)
    except exceptions.NotFound as e:
      raise RuntimeError(
          f'Pub/Sub topic {topic} not found: {e.message}') from None

  def _get(self, client):
    """The given subscription's settings (None if we may not read them)."""
    from google.api_core import exceptions
    name = self._request.subscription
    try:
      return client.get_subscription(request={'subscription': name},
                                     timeout=self._request.timeout_s)
    except exceptions.NotFound:
      raise RuntimeError(f'Pub/Sub subscription {name} not found') from None
    except exceptions.PermissionDenied:
      # Pub/Sub Subscriber may pull but not read the settings
      # (pubsub.subscriptions.get is in Pub/Sub Viewer): assume the
      # shortest ack deadline, which only means earlier extensions.
      _LOG.warning(
          'Pub/Sub: no permission to read %s (pubsub.subscriptions.get); '
          'assuming a %d s ack deadline', name, MIN_ACK_DEADLINE_S)
      return None
