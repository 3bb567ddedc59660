"""Dataflow: Beam's ReadFromPubSub, implemented by the Dataflow service."""
from __future__ import annotations

from typing import Optional

import apache_beam as beam

from transforms.records import RawRecord
from transforms.sources.pubsub.messages import message_position
from transforms.sources.pubsub.subscription import check_subscription_path
from transforms.sources.pubsub.subscription import check_topic_path


def _message_to_raw(message, source: str, ts=beam.DoFn.TimestampParam):
  """A PubsubMessage (with attributes) -> RawRecord at the message's time."""
  return RawRecord(
      payload=bytes(message.data or b''),
      source=source,
      partition=None,
      position=message_position(message.message_id or ''),
      source_watermark_ms=None,
      transport_time_ms=ts.micros // 1000)


class ReadFromPubSubDataflow(beam.PTransform):
  """Beam's ``ReadFromPubSub``, for DataflowRunner only.

  The Dataflow service reads the subscription, acknowledges after durable
  commit, de-duplicates redeliveries, and keeps the watermark from the
  backlog's oldest unacknowledged message, using the ``timestamp_attribute``
  (or the publish time) as event time. So it fits ``--event_time_from
  transport`` only: with event times taken from the payload, its
  publish-time watermark would make any replayed (older) event late.
  Records carry no source watermark: records behind the allowed lateness
  are dropped (and counted) by Dataflow instead of becoming ``late`` dead
  letters. Prism and Flink cannot run this transform; use
  ReadFromPubSubNative there.
  """

  def __init__(self, subscription: Optional[str] = None,
               topic: Optional[str] = None,
               timestamp_attribute: Optional[str] = None):
    super().__init__()
    if not subscription and not topic:
      raise ValueError('give a subscription or a topic')
    if subscription:
      check_subscription_path(subscription)
    if topic:
      check_topic_path(topic)
    self.subscription = subscription
    self.topic = None if subscription else topic
    self.timestamp_attribute = timestamp_attribute or None

  @classmethod
  def from_config(cls, config) -> 'ReadFromPubSubDataflow':
    return cls(subscription=config.pubsub_subscription or None,
               topic=config.pubsub_topic or None,
               timestamp_attribute=config.pubsub_event_time_attribute or None)

  def expand(self, pbegin):
    source = self.subscription or self.topic
    return (
        pbegin
        | 'ReadFromPubSub' >> beam.io.ReadFromPubSub(
            topic=self.topic, subscription=self.subscription,
            with_attributes=True,
            timestamp_attribute=self.timestamp_attribute)
        | 'ToRawRecords' >> beam.Map(_message_to_raw, source))
