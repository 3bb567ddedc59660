"""The shared fixtures, registered once for the whole suite, and how the
suite is shared between pytest-xdist workers.

A session fixture imported into several test modules is several fixtures,
each set up once: a Kafka broker, a PostgreSQL check, a bounded run per
module. Registered here as plugins, each is defined once, so the whole suite
shares one of each (one per worker). Test modules use them by name and never
import them.

scripts/test.sh runs the suite on two workers (``-n 2 --dist loadgroup``):
each worker runs whole groups (``xdist_group``), and a group is a test
module, so a module's fixtures are set up once, except that every test of a
family that starts a cluster (Flink; Spark with HDFS) or shares a session
fixture that starts a service or runs a job (Redis and its live batch, the
Pub/Sub emulator) is one group: one worker starts that cluster or runs that
job, once. Without ``-n`` the groups change nothing (docs/testing.md).
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

# A test of one of these families runs in that family's one group (the
# first family listed, for a test of several).
FAMILY_GROUPS = {'flink': 'flink', 'spark': 'spark', 'hdfs': 'spark',
                 'redis': 'redis', 'pubsub': 'pubsub'}


def xdist_group_of(item: pytest.Item) -> str:
  """The worker group of a test: its family's, else its module's."""
  marks = {marker.name for marker in item.iter_markers()}
  for family, group in FAMILY_GROUPS.items():
    if family in marks:
      return group
  return item.nodeid.split('::', 1)[0]


def pytest_collection_modifyitems(items):
  for item in items:
    if not any(item.iter_markers('xdist_group')):
      item.add_marker(pytest.mark.xdist_group(xdist_group_of(item)))
