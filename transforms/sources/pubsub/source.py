"""ReadFromPubSubNative: the PTransform (see the package docstring)."""
from __future__ import annotations

from typing import Optional

import apache_beam as beam

from transforms.sources.pubsub.read import PullSettings
from transforms.sources.pubsub.read import ReadMessagesFn
from transforms.sources.pubsub.subscription import MAX_ACK_DEADLINE_S
from transforms.sources.pubsub.subscription import MIN_ACK_DEADLINE_S
from transforms.sources.pubsub.subscription import ResolveSubscriptionFn
from transforms.sources.pubsub.subscription import SubscriptionRequest
from transforms.sources.pubsub.subscription import check_subscription_path
from transforms.sources.pubsub.subscription import check_topic_path
from transforms.sources.pubsub.subscription import subscription_for_topic
from transforms.sources.unbounded import WatermarkRule


class ReadFromPubSubNative(beam.PTransform):
  """Reads a Pub/Sub subscription into ``RawRecord``s at event time.

  Args:
    subscription: ``projects/P/subscriptions/S`` to read; or
    topic: ``projects/P/topics/T``: a subscription is created for it when
      the pipeline starts (``subscription`` then names it; default
      ``<topic id>-sales-<8 hex>``).
    event_time: ``'payload'`` (the JSON ``event_time`` field) or
      ``'transport'`` (``timestamp_attribute``, else the publish time).
    timestamp_attribute: a message attribute holding the event time (epoch
      ms or RFC 3339); also used for ``RawRecord.transport_time_ms``.
    idle_timeout_s: wall-clock seconds of empty pulls after which the
      watermark follows the clock.
    idle_lag_s: how far behind the clock an idle watermark stays (default:
      ``idle_timeout_s``).
    max_out_of_orderness_s: the watermark trails the highest event time by
      this much (default 0).
    backlog_hold_s: how long full pulls (a backlog) may hold the watermark.
    num_readers: parallel pullers on the subscription (default 1).
    max_messages: messages per pull.
    max_read_s: seconds of pulling before a self-checkpoint.
    pull_timeout_s: RPC timeout of one pull.
    ack_deadline_s: lease of received messages (extended when the
      subscription's deadline is shorter; 10..600).
  """

  def __init__(self,
               subscription: Optional[str] = None,
               topic: Optional[str] = None,
               event_time: str = 'payload',
               timestamp_attribute: Optional[str] = None,
               idle_timeout_s: float = 10.0,
               idle_lag_s: Optional[float] = None,
               max_out_of_orderness_s: float = 0.0,
               backlog_hold_s: float = 30.0,
               num_readers: int = 1,
               max_messages: int = 1000,
               max_read_s: float = 1.0,
               pull_timeout_s: float = 10.0,
               ack_deadline_s: int = 120,
               resolve_timeout_s: float = 60.0):
    super().__init__()
    if not subscription and not topic:
      raise ValueError('Pub/Sub source: give a subscription '
                       '(--pubsub_subscription) or a topic (--pubsub_topic)')
    if topic:
      check_topic_path(topic)
      subscription = subscription or subscription_for_topic(topic)
    check_subscription_path(subscription)
    if event_time not in ('payload', 'transport'):
      raise ValueError("event_time must be 'payload' or 'transport'")
    if num_readers < 1:
      raise ValueError('num_readers must be >= 1')
    if not 1 <= max_messages <= 1000:
      raise ValueError('max_messages must be 1..1000')
    if not MIN_ACK_DEADLINE_S <= ack_deadline_s <= MAX_ACK_DEADLINE_S:
      raise ValueError('ack_deadline_s must be 10..600')
    self.subscription = subscription
    self.topic = topic
    self._request = SubscriptionRequest(subscription, topic, num_readers,
                                        ack_deadline_s, resolve_timeout_s)
    self._pull = PullSettings(
        event_time, timestamp_attribute or None,
        WatermarkRule.of(idle_timeout_s, idle_lag_s, max_out_of_orderness_s),
        backlog_hold_s, max_messages, max_read_s, pull_timeout_s,
        ack_deadline_s)

  @classmethod
  def from_config(cls, config) -> 'ReadFromPubSubNative':
    """The source a SalesConfig asks for (--pubsub_subscription/_topic,
    --event_time_from, --pubsub_event_time_attribute)."""
    if not config.pubsub_subscription and not config.pubsub_topic:
      raise ValueError('--source pubsub needs --pubsub_subscription '
                       'projects/P/subscriptions/S or --pubsub_topic '
                       'projects/P/topics/T')
    if config.pubsub_subscription and config.pubsub_topic:
      raise ValueError('give --pubsub_subscription or --pubsub_topic, '
                       'not both')
    return cls(
        subscription=config.pubsub_subscription or None,
        topic=config.pubsub_topic or None,
        event_time=config.event_time_from,
        timestamp_attribute=config.pubsub_event_time_attribute or None)

  def expand(self, pbegin):
    return (
        pbegin
        | 'Impulse' >> beam.Impulse()
        | 'ResolveSubscription' >> beam.ParDo(
            ResolveSubscriptionFn(self._request))
        | 'DistributeReaders' >> beam.Reshuffle()
        | 'ReadMessages' >> beam.ParDo(ReadMessagesFn(self._pull)))
