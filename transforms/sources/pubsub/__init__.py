"""A native Python Pub/Sub source (google-cloud-pubsub) as a splittable DoFn.

Beam's own ``ReadFromPubSub`` is implemented by the Dataflow service (and the
legacy DirectRunner); Prism and Flink cannot run it. This source pulls with
the ordinary Pub/Sub client inside the Python SDK worker, so it runs on
Prism, Flink (PROCESS/LOOPBACK) and Dataflow alike, and against the local
emulator (``PUBSUB_EMULATOR_HOST``, see services/pubsub/).

Shape of the read (``ReadFromPubSubNative.expand``, source.py)::

    Impulse -> ResolveSubscription -> (one element per reader)
            -> DistributeReaders (Reshuffle) -> ReadMessages (unbounded SDF)

* subscription.py: ResolveSubscription (finds, or creates for a topic, the
  subscription) and the names of subscriptions and topics.
* read.py: ReadMessages pulls, claims one position per pull, and
  acknowledges from the bundle finalizer only.
* watermark.py: the watermark per pull, the backlog hold, the idle rule.
* messages.py: a message's position and transport time.
* dataflow.py: ``ReadFromPubSubDataflow``, Beam's ``ReadFromPubSub`` for
  DataflowRunner.

What this source shares with the Kafka source (payload event time, record
timestamps, the never-splitting restriction, the idle-aware watermark
estimator) is in transforms/sources/unbounded.py.
"""
from transforms.sources.pubsub.dataflow import ReadFromPubSubDataflow
from transforms.sources.pubsub.messages import message_position
from transforms.sources.pubsub.source import ReadFromPubSubNative
from transforms.sources.pubsub.subscription import check_subscription_path
from transforms.sources.pubsub.subscription import check_topic_path
from transforms.sources.pubsub.subscription import subscription_for_topic

__all__ = [
    'ReadFromPubSubDataflow',
    'ReadFromPubSubNative',
    'check_subscription_path',
    'check_topic_path',
    'message_position',
    'subscription_for_topic',
]
