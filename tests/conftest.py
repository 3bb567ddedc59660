"""The shared fixtures, registered once for the whole suite, and how the
suite is shared between pytest-xdist workers.

A session fixture imported into several test modules is several fixtures,
each set up once: a Kafka broker, a PostgreSQL check, a bounded run per
module. Registered here as plugins, each is defined once, so the whole suite
shares one of each. Test modules use them by name and never import them.

scripts/test.sh runs the suite on two workers (``-n 2 --dist loadgroup``):
each worker runs whole groups (``xdist_group``), and a group is a test
module, so a module's fixtures are set up once, except that every test of
a family that starts a cluster (Flink, Spark, HDFS) or shares a session
fixture that starts a service or runs a job (Redis and its live batch,
the Pub/Sub emulator) is one group: one worker starts
that cluster or runs that job, once. Without ``-n`` the groups change
nothing (docs/testing.md).
"""
import pytest

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

# A test of one of these families runs in that family's one group.
FAMILY_GROUPS = {'flink': 'clusters', 'spark': 'clusters', 'hdfs': 'clusters',
                 'redis': 'redis', 'pubsub': 'pubsub'}


def xdist_group_of(item: pytest.Item) -> str:
  """The worker group of a test: its cluster family's, else its module's."""
  for marker in item.iter_markers():
    if marker.name in FAMILY_GROUPS:
      return FAMILY_GROUPS[marker.name]
  return item.nodeid.split('::', 1)[0]


def pytest_collection_modifyitems(items):
  for item in items:
    if not any(item.iter_markers('xdist_group')):
      item.add_marker(pytest.mark.xdist_group(xdist_group_of(item)))
