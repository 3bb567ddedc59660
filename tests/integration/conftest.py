"""Fixtures the feeds' modules (test_redis_sink.py, test_zeromq.py) share.

A session fixture imported into two test modules is two fixtures, each set
up once: two Kafka brokers, two bounded runs. Defined once here, the two
modules share one of each (they do not import them), which keeps their
time within budget. Modules that import their own keep their own.
"""
from tests.fixtures.kafka import kafka_broker, kafka_topic_factory  # noqa: F401  pylint: disable=unused-import
from tests.fixtures.live_batch import live_batch  # noqa: F401  pylint: disable=unused-import
from tests.fixtures.redis import redis_db, redis_server  # noqa: F401  pylint: disable=unused-import
from tests.fixtures.samples import live_sample  # noqa: F401  pylint: disable=unused-import
