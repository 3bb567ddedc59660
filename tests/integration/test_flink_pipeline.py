"""The sales pipeline on Apache Flink: the embedded mini cluster ([local])
for bounded and streaming runs, and a real standalone session cluster for
the deployment path, its Python workers started by the TaskManager through
the PROCESS environment (runners/flink/sdk_boot.sh; the worker pool of the
EXTERNAL environment serves the recovery test, test_flink_recovery.py). Streaming runs checkpoint every 5 s and must complete
checkpoints (Flink's own record: chk-<n>/_metadata files, the REST API).
Expected rows come from the local runner's run of the same input (itself
checked against tests/reference.py)."""

import psycopg
import pyarrow.parquet as pq
import pytest

from runners.flink import flink_options
from tests.fixtures.flink import require_flink_setup, rest
from tests.integration.streaming import (SAMPLE, WINDOW_FLAGS, bounded_db,
                                         dead_letter_reasons, drop_sink_tables,
                                         postgres_results, results,
                                         run_bounded, streaming_pipeline,
                                         wait_for)
from tools.replay_to_kafka import replay

pytestmark = [pytest.mark.flink, pytest.mark.integration, pytest.mark.slow]

def parquet(path):
  """All rows of a Parquet output, every column, in a stable order."""
  return sorted(tuple(sorted(r.items()))
                for r in pq.read_table(path).to_pylist())


@pytest.fixture(scope='module')
def local_runner_output(tmp_path_factory):
  out = tmp_path_factory.mktemp('local') / 'out'
  run_bounded('--input', SAMPLE, '--output', str(out))
  return out


def test_bounded_sample_on_flink_local_equals_the_local_runner(
    tmp_path, local_runner_output, postgres_database):
  require_flink_setup()
  out = tmp_path / 'flink'
  proc = run_bounded('--input', SAMPLE, '--output', str(out),
                     '--sink', postgres_database, *flink_options.local_args())
  for name in ('sales_by_category.parquet', 'top_products.parquet'):
    assert parquet(out / name) == parquet(local_runner_output / name)
  assert sorted((out / 'dead_letters.jsonl').read_text().splitlines()) == (
      sorted((local_runner_output / 'dead_letters.jsonl').read_text()
             .splitlines()))
  assert 'records read      3000' in proc.stdout
  # the PostgreSQL sink works the same from Flink
  with psycopg.connect(postgres_database) as conn:
    stored = sorted(conn.execute(
        'SELECT window_start, category, orders, units, revenue_usd, '
        'distinct_customers FROM sales_by_category').fetchall())
  local = sorted(
      (r['window_start'], r['category'], r['orders'], r['units'],
       r['revenue_usd'], r['distinct_customers'])
      for r in pq.read_table(
          local_runner_output / 'sales_by_category.parquet').to_pylist())
  assert stored == local


def completed_checkpoints(checkpoint_dir) -> set:
  """Ids of the completed checkpoints still on disk. Flink writes
  <dir>/<job id>/chk-<n>/_metadata only once checkpoint n is complete
  (acknowledged by every task), and deletes it when a newer one subsumes it."""
  return {int(m.parent.name.split('-')[1])
          for m in checkpoint_dir.glob('*/chk-*/_metadata')}


def test_streaming_from_kafka_on_flink_with_checkpoints_converges_to_the_bounded_run(
    tmp_path, kafka_broker, kafka_topic_factory, postgres_database,
    live_sample):
  """Kafka on Flink's mini cluster, checkpointing, into SQLite and
  PostgreSQL at once: both converge to the bounded run's rows."""
  require_flink_setup()
  drop_sink_tables(postgres_database)
  expected = results(bounded_db(tmp_path, live_sample))
  topic = kafka_topic_factory(partitions=3)
  replay(live_sample, topic, kafka_broker.bootstrap, rate=0.0,
         shuffle_seconds=3600,
         seed=13, partitions=3)
  db = str(tmp_path / 'flink-stream.db')
  checkpoints = tmp_path / 'checkpoints'
  seen = set()

  def converged_and_checkpointed():
    seen.update(completed_checkpoints(checkpoints))
    # a completed checkpoint was acknowledged by every task, the stage
    # {ParseOrders (FX-rate side input), Deduplicate (state, timers),
    # WriteToSQLite} included: unpatched Beam 2.62 declined all of them
    return (len(seen) >= 2 and results(db) == expected
            and postgres_results(postgres_database) == expected)

  with streaming_pipeline(
      '--source', 'kafka', '--kafka_bootstrap_servers', kafka_broker.bootstrap,
      '--kafka_topic', topic, '--kafka_group_id', 'flink-parity',
      '--early_firing_seconds', '2', *WINDOW_FLAGS, '--sink', f'sqlite:///{db}',
      '--sink', postgres_database,
      *flink_options.local_args(streaming=True, checkpoint_ms=5_000,
                                checkpoint_dir=str(checkpoints))) as proc:
    assert wait_for(converged_and_checkpointed, 240, proc), (
        f'completed checkpoints {sorted(seen)}; '
        f'{len(set(results(db)) ^ set(expected))} rows differ in SQLite, '
        f'{len(set(postgres_results(postgres_database)) ^ set(expected))} '
        'in PostgreSQL')
    assert dead_letter_reasons(db) == dead_letter_reasons(
        str(tmp_path / 'batch.db'))


def test_deploy_bounded_sample_to_a_standalone_cluster(
    tmp_path, flink_cluster, local_runner_output):
  port = flink_cluster['rest_port']
  out = tmp_path / 'cluster'
  run_bounded('--input', SAMPLE, '--output', str(out),
              *flink_options.cluster_args(
                  master=f'localhost:{port}', environment='PROCESS',
                  job_name='sales-bounded'))
  assert parquet(out / 'sales_by_category.parquet') == parquet(
      local_runner_output / 'sales_by_category.parquet')
  jobs = [j for j in rest(port, '/jobs/overview')['jobs']
          if j['name'] == 'sales-bounded']
  assert jobs and jobs[-1]['state'] == 'FINISHED', jobs
  detail = rest(port, f'/jobs/{jobs[-1]["jid"]}')
  names = ' | '.join(v['name'] for v in detail['vertices'])
  # the graph shows the pipeline's own step names
  for step in ('ReadOrders', 'ParseOrders', 'Deduplicate', 'AggregateSales'):
    assert step in names, names


