"""The shared fixtures, registered once for the whole suite.

A session fixture imported into several test modules is several fixtures,
each set up once: a Kafka broker, a PostgreSQL check, a bounded run per
module. Registered here as plugins, each is defined once, so the whole suite
shares one of each. Test modules use them by name and never import them.
"""
pytest_plugins = [
    'tests.fixtures.browser',
    'tests.fixtures.flink',
    'tests.fixtures.hdfs',
    'tests.fixtures.kafka',
    'tests.fixtures.postgres',
    'tests.fixtures.pubsub',
    'tests.fixtures.redis',
    'tests.fixtures.samples',
    'tests.fixtures.live_batch',  # after redis and samples, which it uses
    'tests.fixtures.spark',
]
