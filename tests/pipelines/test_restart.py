"""When a run recovers by itself (pipelines/restart.py): the cases decided
without asking Kafka. The restart itself, against a real broker and Prism,
is tests/integration/test_plain_restart.py."""
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.options import config_from_options
from pipelines.restart import plan_restart, restores_state

KAFKA = ['--source', 'kafka', '--kafka_bootstrap_servers', '127.0.0.1:1']


def plan(*argv: str):
  options = PipelineOptions(list(argv))
  config = config_from_options(options)
  return config, plan_restart(config, options)


def test_a_flink_savepoint_restores_state():
  assert restores_state(PipelineOptions(['--savepoint_path=/sp/savepoint-1']))
  assert not restores_state(PipelineOptions(['--streaming']))


def test_runs_that_keep_or_rebuild_their_state_are_left_alone():
  # bounded, a savepoint resume, an explicit --recover, another source: no
  # broker is asked (127.0.0.1:1 would fail the call)
  for argv in ([*KAFKA, '--kafka_bounded'],
               [*KAFKA, '--streaming', '--savepoint_path=/sp/savepoint-1'],
               [*KAFKA, '--streaming', '--recover'],
               ['--streaming', '--source', 'pubsub', '--pubsub_topic',
                'projects/p/topics/t']):
    config, planned = plan(*argv)
    assert planned is config, argv
