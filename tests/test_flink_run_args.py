"""The flags runners/flink/run.py adds to a pipeline's own (pure logic)."""
from runners.flink import flink_options
from runners.flink import run


def _bundle_flags(args):
  return [a for a in args if a.startswith(flink_options.BUNDLE_TIME_FLAG)]


def test_streaming_runs_get_short_bundles(monkeypatch):
  monkeypatch.setattr(flink_options, 'find_job_server_jar',
                      lambda: '/cache/job-server.jar')
  args = run.flink_pipeline_args('local', ['--streaming'])
  assert _bundle_flags(args) == ['--max_bundle_time_mills=250']


def test_a_users_bundle_time_is_not_overridden(monkeypatch):
  monkeypatch.setattr(flink_options, 'find_job_server_jar',
                      lambda: '/cache/job-server.jar')
  args = run.flink_pipeline_args(
      'cluster', ['--streaming', '--max_bundle_time_mills=1000'])
  assert _bundle_flags(args) == []  # the user's flag is the only one


def test_batch_runs_keep_flinks_bundles(monkeypatch):
  monkeypatch.setattr(flink_options, 'find_job_server_jar',
                      lambda: '/cache/job-server.jar')
  assert _bundle_flags(run.flink_pipeline_args('local', [])) == []
