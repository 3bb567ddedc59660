"""A native Python Kafka source (confluent-kafka) as a splittable DoFn.

No Java expansion service, no Docker: the read runs inside the Python SDK
worker, so it works on Prism, Flink (PROCESS/LOOPBACK) and Dataflow alike.

Shape of the read (``ReadFromKafkaNative.expand``, source.py)::

    Impulse -> ListPartitions -> DistributePartitions -> ReadPartitions

* ListPartitions (partitions.py) runs once when the pipeline starts and
  emits one ``PartitionSpec`` per partition: its start offset (committed by
  the consumer group, else ``start_offset``) and, in bounded mode, its end.
* ReadPartitions (read.py) is a splittable DoFn with ONE restriction per
  partition, an ``OffsetRange`` of Kafka offsets; it claims every record's
  offset, self-checkpoints unbounded reads, and commits offsets to the
  group from the bundle finalizer only.
* watermark.py: each partition's watermark (event time minus the allowed
  out-of-orderness, the idle rule) and the hold that reports the lowest
  partition's watermark to the runner.
* config.py: the consumer's librdkafka configuration (client settings and
  secrets: transforms/kafka_client.py); client.py: calls on the consumer.

What this source shares with the Pub/Sub source (payload event time,
record timestamps, the never-splitting restriction, the idle-aware
watermark estimator) is in transforms/sources/unbounded.py.
"""
from transforms.sources.kafka.partitions import PartitionRestrictionProvider
from transforms.sources.kafka.partitions import PartitionSpec
from transforms.sources.kafka.read import PartitionReading
from transforms.sources.kafka.read import ReadPartitionFn
from transforms.sources.kafka.read import ReadPartitionUnboundedFn
from transforms.sources.kafka.source import ReadFromKafkaNative
from transforms.sources.kafka.watermark import PartitionWatermarkEstimator
from transforms.sources.kafka.watermark import WatermarkHolds

__all__ = [
    'PartitionReading',
    'PartitionRestrictionProvider',
    'PartitionSpec',
    'PartitionWatermarkEstimator',
    'ReadFromKafkaNative',
    'ReadPartitionFn',
    'ReadPartitionUnboundedFn',
    'WatermarkHolds',
]
