"""Flink restores the sales job from its own state: a two-TaskManager
standalone cluster, job parallelism 2, a 4-partition topic, sinks SQLite
and PostgreSQL.

One job's life, in the order an operator meets it (one job, so two
submissions instead of four):
1. a TaskManager is SIGKILLed mid-stream (panes in the stores, a third of
   the sample still to come); Flink's restart strategy restores the job
   from its last completed checkpoint on the surviving TaskManager, and the
   tables converge to the bounded run over what was sent, with no
   --recover;
2. the job is stopped with a savepoint (an upgrade), the last third arrives
   while it is down, the group's committed offsets are moved past it (so
   only offsets restored from Flink state can find it), and the job resumed
   from the savepoint converges to the bounded run over the whole sample.
Nothing counted twice: results, top products and dead letters equal the
bounded run's in both stores.
"""
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.fixtures.flink import CLUSTER_SH, rest, standalone_cluster, cancel_job
from tests.integration.streaming import (ROOT, WINDOW_FLAGS,
                                         dead_letter_reasons, drop_sink_tables,
                                         results, run_bounded, top_products,
                                         wait_for)
from tests.integration.test_postgres_streaming import (describe_difference,
                                                       snapshot, split_sample)
from tools.replay_to_kafka import replay

pytestmark = [pytest.mark.flink, pytest.mark.kafka, pytest.mark.postgres,
              pytest.mark.integration, pytest.mark.slow]

JOB = 'sales-recovery'


@pytest.fixture(scope='module')
def two_taskmanagers(tmp_path_factory, postgres_server):
  # after postgres_server: the worker pool inherits its PGPASSWORD
  yield from standalone_cluster(tmp_path_factory.mktemp('flink-2tm'),
                                taskmanagers=2)


def sqlite_tables(db: str):
  return {'results': results(db), 'top': top_products(db),
          'dead': dead_letter_reasons(db)}


def both(db: str, url: str):
  return sqlite_tables(db), snapshot(url)


def expected_for(tmp_path, sample: str, url: str):
  """The bounded run's tables over ``sample``, in SQLite and PostgreSQL
  (one run writing both)."""
  db = tmp_path / f'bounded-{os.path.basename(sample)}.db'
  run_bounded('--input', sample, '--output', '', '--sink', f'sqlite:///{db}',
              '--sink', url)
  expected = sqlite_tables(str(db)), snapshot(url)
  drop_sink_tables(url)
  return expected


def commit_end_offsets(bootstrap: str, topic: str, group: str) -> None:
  """Moves the group's committed offsets to the end of every partition: a
  job that took its read positions from them would skip what is there."""
  from confluent_kafka import Consumer, TopicPartition
  consumer = Consumer({'bootstrap.servers': bootstrap, 'group.id': group,
                       'enable.auto.commit': False})
  try:
    parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    ends = [TopicPartition(topic, p, consumer.get_watermark_offsets(
        TopicPartition(topic, p), timeout=10)[1]) for p in sorted(parts)]
    consumer.commit(offsets=ends, asynchronous=False)
  finally:
    consumer.close()


def submit(cluster, args, *extra):
  """`python -m runners.flink.run cluster ...` as a user runs it."""
  env = dict(cluster['env'],
             FLINK_MASTER=f'localhost:{cluster["rest_port"]}',
             BEAM_WORKER_POOL=f'localhost:{cluster["pool_port"]}',
             FLINK_CHECKPOINT_MS='3000')
  return subprocess.Popen(
      [sys.executable, '-m', 'runners.flink.run', 'cluster', *args, *extra],
      cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      text=True, start_new_session=True)


def running_job(port: int):
  jobs = [j for j in rest(port, '/jobs/overview')['jobs']
          if j['name'] == JOB and j['state'] == 'RUNNING']
  return jobs[-1]['jid'] if jobs else None


def checkpoints(port: int, jid: str) -> dict:
  return rest(port, f'/jobs/{jid}/checkpoints')


def test_taskmanager_kill_then_savepoint_upgrade_converge_to_the_bounded_run(
    two_taskmanagers, postgres_database, kafka_broker,
    kafka_topic_factory, live_sample, tmp_path):
  cluster, url = two_taskmanagers, postgres_database
  port = cluster['rest_port']
  # two thirds (A, B) now and while a TaskManager is down; C after the stop
  sent_before_stop, part_c = split_sample(tmp_path, live_sample, every=3)
  (tmp_path / 'ab').mkdir()
  part_a, part_b = split_sample(tmp_path / 'ab', sent_before_stop, every=2)
  expected_ab = expected_for(tmp_path, sent_before_stop, url)
  expected_all = expected_for(tmp_path, live_sample, url)
  topic = kafka_topic_factory(partitions=4)
  db = str(tmp_path / 'live.db')
  args = ['--source', 'kafka', '--streaming', '--kafka_bootstrap_servers',
          kafka_broker.bootstrap, '--kafka_topic', topic, '--kafka_group_id',
          'flink-recovery', '--early_firing_seconds', '1', *WINDOW_FLAGS,
          '--sink', f'sqlite:///{db}', '--sink', url, '--parallelism', '2',
          '--job_name', JOB]
  replay(part_a, topic, kafka_broker.bootstrap, shuffle_seconds=3600,
         seed=41, partitions=4)
  job = {}
  first = submit(cluster, args)
  try:
    # 1. Kill a TaskManager mid-stream.
    def panes_and_checkpoints():
      job['jid'] = job.get('jid') or running_job(port)
      if not job['jid'] or len(results(db)) < 20:
        return False
      return checkpoints(port, job['jid'])['counts']['completed'] >= 2

    assert wait_for(panes_and_checkpoints, 240, first)
    tms = rest(port, '/taskmanagers')['taskmanagers']
    busy = [tm for tm in tms if tm['freeSlots'] < tm['slotsNumber']]
    assert len(busy) == 2, f'the job does not span both TaskManagers: {tms}'
    before = both(db, url)
    assert before != (expected_ab[0], expected_ab[1])
    pid = int((cluster['dir'] / 'run' / 'taskmanager-2.pid').read_text())
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    replay(part_b, topic, kafka_broker.bootstrap, shuffle_seconds=3600,
           seed=42, partitions=4)

    def restored_pane():
      # the job restored (all its tasks restart on failover), then a pane
      return (checkpoints(port, job['jid'])['latest']['restored'] and
              sqlite_tables(db) != before[0])

    deadline = killed_at + 180
    while not restored_pane() and time.monotonic() < deadline:
      assert first.poll() is None, first.stderr.read()[-3000:]
      time.sleep(0.5)  # finer than wait_for: this is the measured figure
    assert restored_pane(), 'no pane from the restored job in 180 s'
    first_pane_s = time.monotonic() - killed_at
    print(f'\nTaskManager SIGKILL -> first new pane: {first_pane_s:.1f} s')
    restarted = subprocess.run(['bash', str(CLUSTER_SH), 'start'],
                               env=cluster['env'], capture_output=True,
                               text=True, timeout=300)
    assert restarted.returncode == 0, restarted.stderr

    def converged_ab():
      return both(db, url) == expected_ab

    assert wait_for(converged_ab, 240, first), describe_difference(
        snapshot(url), expected_ab[1])
    restored = checkpoints(port, job['jid'])['latest']['restored']
    assert restored and not restored['is_savepoint'], restored
    assert rest(port, f'/jobs/{job["jid"]}')['state'] == 'RUNNING'

    # 2. Stop with a savepoint; C arrives while the job is down.
    stop = subprocess.run(
        [sys.executable, '-m', 'runners.flink.run', 'stop', '--savepoint',
         str(tmp_path / 'savepoints'), '--job', JOB], cwd=ROOT,
        env=dict(cluster['env'], FLINK_MASTER=f'localhost:{port}'),
        capture_output=True, text=True, timeout=300)
    assert stop.returncode == 0, stop.stderr[-2000:]
    assert os.path.isfile(os.path.join(stop.stdout.strip(), '_metadata'))
    out, err = first.communicate(timeout=120)  # the job ended: so does it
    assert first.returncode == 0, err[-3000:]
    assert rest(port, f'/jobs/{job["jid"]}')['state'] == 'FINISHED'
  finally:
    if first.poll() is None:
      os.killpg(first.pid, signal.SIGKILL)
      first.wait(30)
    if job.get('jid') and rest(port, f'/jobs/{job["jid"]}')['state'] == 'RUNNING':
      cancel_job(port, job['jid'])
  replay(part_c, topic, kafka_broker.bootstrap, shuffle_seconds=3600,
         seed=43, partitions=4)
  # The read positions must come from the savepoint's state (the Kafka
  # source's offset restrictions), not from the group: offsets committed at
  # the end would skip C.
  commit_end_offsets(kafka_broker.bootstrap, topic, 'flink-recovery')

  resumed = submit(cluster, args, '--from_savepoint',
                   str(tmp_path / 'savepoints'))
  jid = None
  try:
    assert wait_for(lambda: both(db, url) == expected_all, 240, resumed), (
        describe_difference(snapshot(url), expected_all[1]))
    jid = running_job(port)
    restored = checkpoints(port, jid)['latest']['restored']
    assert restored and restored['is_savepoint'], restored
  finally:
    jid = jid or running_job(port)
    if jid:
      assert cancel_job(port, jid) == 'CANCELED'
    resumed.wait(60)
