"""The Redis sink against a real redis-server (services/redis/redis.sh).

The SQLite sink is the oracle: one bounded run over the sample writes both,
and every Redis hash must hold exactly the SQLite row. Pane order is
enforced inside Redis: two writers sending panes out of order, and writers
racing on the same keys, leave the newest pane.
"""
import json
import pathlib
import random
import sqlite3
import threading

import pytest

from pipelines.cli import main
from tests.fixtures.sink_rows import T0, dead, result, top, write_rows
from tests.integration.streaming import (kafka_stream_args,
                                         streaming_pipeline, wait_for)
from tools.replay_to_kafka import replay
from transforms.sinks.redis_sink import WriteToRedis
from transforms.sinks.redis_sink import scripts
from transforms.sinks.redis_sink.store import RedisStore

pytestmark = [pytest.mark.redis, pytest.mark.integration]

# The SQLite columns compared (updated_at is each writer's own clock).
RESULT_COLUMNS = ('window_start', 'window_end', 'customer_id', 'category',
                  'orders', 'units', 'revenue_usd', 'distinct_customers',
                  'avg_order_value_usd', 'generation', 'pane_timing',
                  'pane_index', 'is_final')
TOP_COLUMNS = ('window_start', 'window_end', 'customer_id', 'rank',
               'product_id', 'product_name', 'category', 'orders', 'units',
               'revenue_usd', 'generation', 'pane_timing', 'pane_index',
               'is_final')
DEAD_COLUMNS = ('source', 'partition', 'position', 'reason', 'detail',
                'payload')


def sqlite_rows(db, table, columns):
  with sqlite3.connect(db) as conn:
    rows = conn.execute(f'SELECT {", ".join(columns)} FROM {table}')
    return sorted(tuple(str(v) for v in row) for row in rows)


def redis_results(client):
  rows = [client.hgetall(k) for k in client.scan_iter('sales:result:*')]
  return sorted(tuple(r[c] for c in RESULT_COLUMNS) for r in rows)


def redis_top_products(client):
  rows = []
  for key in client.scan_iter('sales:top_rows:*'):
    for field, value in client.hgetall(key).items():
      if field.startswith('product:'):
        r = json.loads(value)
        rows.append(tuple(str(r[c]) for c in TOP_COLUMNS))
  return sorted(rows)


def redis_dead_letters(client):
  return sorted(tuple(e[c] for c in DEAD_COLUMNS)
                for _, e in client.xrange('sales:dead_letters'))


def snapshot(client):
  """Every key's content, by type (the dead-letter stream aside)."""
  out = {}
  for key in client.scan_iter('*'):
    if key.startswith('sales:dead'):
      continue
    kind = client.type(key)
    if kind == 'hash':
      out[key] = client.hgetall(key)
    elif kind == 'zset':
      out[key] = client.zrange(key, 0, -1, withscores=True)
    elif kind == 'string':
      out[key] = client.get(key)
  return out


def test_the_bounded_sample_gives_exactly_the_sqlite_rows(live_batch):
  db, client = live_batch

  expected = sqlite_rows(db, 'sales_by_category', RESULT_COLUMNS)
  assert len(expected) > 400
  assert redis_results(client) == expected
  assert redis_top_products(client) == sqlite_rows(db, 'top_products',
                                                   TOP_COLUMNS)
  dead_letters = sqlite_rows(db, 'dead_letters', DEAD_COLUMNS)
  assert len(dead_letters) == 99
  assert redis_dead_letters(client) == dead_letters

  # Each window's leaderboard: products by revenue, as the ranks say.
  with sqlite3.connect(db) as conn:
    boards = {}
    for start, end, product in conn.execute(
        'SELECT window_start, window_end, product_id FROM top_products '
        'ORDER BY window_start, window_end, rank'):
      boards.setdefault((start, end), []).append(product)
    windows = conn.execute(
        "SELECT DISTINCT window_start, window_end FROM sales_by_category "
        "WHERE customer_id = ''").fetchall()
  ids = {}
  for key in client.scan_iter('sales:result:*'):
    row = client.hgetall(key)
    ids[(row['window_start'], row['window_end'])] = '|'.join(
        key.split(':', 2)[2].split('|')[:3])
  for window, products in boards.items():
    assert client.zrevrange(f'sales:top:{ids[window]}', 0, -1) == products

  # The day index lists every window; "now" is the newest one, in one call.
  by_day = set()
  for key in client.scan_iter('sales:day:*'):
    by_day |= set(client.zrange(key, 0, -1))
  assert by_day == set(ids.values())
  newest = max(windows)
  latest = client.hgetall('sales:latest')
  assert latest['window'] == ids[newest]
  latest_rows = sorted(tuple(str(r[c]) for c in RESULT_COLUMNS) for r in (
      json.loads(v) for f, v in latest.items() if f.startswith('row:')))
  assert latest_rows == [r for r in expected if (r[0], r[1]) == newest]

  # Retention: a window's keys expire (default 7 days after their last
  # change); the latest index does not.
  some_key = next(client.scan_iter('sales:result:*'))
  assert 0 < client.ttl(some_key) <= 7 * 24 * 3600
  assert client.ttl('sales:latest') == -1


def test_out_of_order_panes_from_two_writers_keep_the_newest(
    redis_server, redis_db):
  url, client = redis_db
  ref = redis_server.password_ref
  newest = [result('books', pane_index=2, timing='LATE', final=True,
                   orders=5, revenue='50.00'),
            result('toys', pane_index=1, timing='ON_TIME', final=True,
                   orders=3, revenue='30.00')]
  newest_top = [top(1, 'p1', '40.00', pane_index=2, timing='LATE'),
                top(2, 'p2', '10.00', pane_index=2, timing='LATE')]
  older = [result('books', pane_index=1, timing='ON_TIME', final=False,
                  orders=4, revenue='40.00'),
           result('books', pane_index=0, timing='EARLY', final=False,
                  orders=1),
           result('toys', pane_index=1, timing='ON_TIME', final=False,
                  orders=2)]
  older_top = [top(1, 'p3', '99.00', pane_index=0, timing='EARLY', final=False),
               top(2, 'p1', '1.00', pane_index=0, timing='EARLY', final=False),
               top(3, 'p2', '0.50', pane_index=0, timing='EARLY', final=False)]
  write_rows(WriteToRedis(url, password=ref), newest, newest_top,
             [dead(1), dead(2)])
  before = snapshot(client)
  # The second writer replays the newest panes and sends older ones.
  write_rows(WriteToRedis(url, password=ref), older + newest,
             older_top + newest_top, [dead(2), dead(3)])

  after = snapshot(client)
  assert after == before  # nothing changed, updated_at included
  books = client.hgetall(f'sales:result:{T0}|{T0 + 3600000}||books')
  assert (books['orders'], books['pane_index'], books['is_final'],
          books['revenue_usd']) == ('5', '2', '1', '50.00')
  toys = client.hgetall(f'sales:result:{T0}|{T0 + 3600000}||toys')
  assert (toys['orders'], toys['is_final']) == ('3', '1')
  window = f'{T0}|{T0 + 3600000}|'
  assert client.zrevrange(f'sales:top:{window}', 0, -1,
                          withscores=True) == [('p1', 40.0), ('p2', 10.0)]
  # A dead letter is added once per source position.
  assert [e['position'] for _, e in client.xrange('sales:dead_letters')] == [
      '1', '2', '3']
  # A recovery run (higher generation) replaces even a final pane.
  write_rows(WriteToRedis(url, password=ref, generation=5),
             [result('books', pane_index=0, orders=6, revenue='60.00')])
  books = client.hgetall(f'sales:result:{T0}|{T0 + 3600000}||books')
  assert (books['orders'], books['generation']) == ('6', '5')


def test_racing_writers_leave_the_newest_pane(redis_server, redis_db):
  """Eight threads write panes 0..11 of the same 20 rows in random orders,
  each through its own connection: without an atomic compare-and-write a
  slower older pane would land after a newer one."""
  url, client = redis_db
  rows = [result(f'c{k}', pane_index=p, final=(p == 11), orders=p + 1)
          for k in range(20) for p in range(12)]

  def writer(seed):
    store = RedisStore(url, redis_server.password_ref)
    store.ensure_schema()
    mine = rows[:]
    random.Random(seed).shuffle(mine)
    for i in range(0, len(mine), 7):
      batch = [scripts.result_call(r, 'now', 0, 0) for r in mine[i:i + 7]]
      store.run_in_transaction(lambda pipe, b=batch: [
          store.scripts['results'](keys=k, args=a, client=pipe)
          for k, a in b])
    store.close()

  threads = [threading.Thread(target=writer, args=(s,)) for s in range(8)]
  for t in threads:
    t.start()
  for t in threads:
    t.join(60)
  got = [client.hgetall(k) for k in client.scan_iter('sales:result:*')]
  assert len(got) == 20
  assert {(r['pane_index'], r['orders'], r['is_final']) for r in got} == {
      ('11', '12', '1')}


def test_a_wrong_password_is_one_line(redis_server, monkeypatch,
                                     capsys):
  monkeypatch.setenv('WRONG_REDIS_PW', 'not-the-password')
  monkeypatch.delenv('REDISCLI_AUTH', raising=False)
  code = main(['--output', '', '--sink', redis_server.url(0),
               '--redis_password', 'env:WRONG_REDIS_PW'])
  out, err = capsys.readouterr()
  assert code == 1
  lines = err.strip().splitlines()
  assert len(lines) == 1, err
  assert lines[0].startswith('error: Redis at redis://127.0.0.1:')
  assert 'refused the login' in lines[0] and '--redis_password' in lines[0]
  assert 'not-the-password' not in out + err


# --- streaming from Kafka, through a Redis restart --------------------------

VALUE_COLUMNS = RESULT_COLUMNS[:9]  # no pane columns: a stream has its own


def poll(predicate, timeout_s, proc):
  return wait_for(predicate, timeout_s, proc, interval_s=1)


@pytest.mark.kafka
@pytest.mark.prism
def test_a_stream_from_kafka_converges_through_a_redis_restart(
    tmp_path, live_batch, redis_server, redis_db, kafka_broker,
    kafka_topic_factory, live_sample):
  """Half the sample is a backlog, the other half is sent while Redis is
  down: the sink reports the outage once, retries, and once Redis is back
  the streamed rows are exactly the bounded run's. The default steps: the
  re-send they once counted twice under load was Prism running one dedupe
  key in two bundles at once (docs/running.md, "Prism"), fixed in the
  Prism the project builds."""
  batch_db = live_batch.db
  url, client = redis_db
  lines = pathlib.Path(live_sample).read_bytes().split(b'\n')
  first, second = tmp_path / 'first.jsonl', tmp_path / 'second.jsonl'
  first.write_bytes(b'\n'.join(lines[:1500]))
  second.write_bytes(b'\n'.join(lines[1500:]))
  topic = kafka_topic_factory(partitions=3)
  replay(str(first), topic, kafka_broker.bootstrap, shuffle_seconds=3600,
         seed=5, partitions=3)
  log_path = tmp_path / 'stderr.log'
  expected = [r[:9] for r in sqlite_rows(batch_db, 'sales_by_category',
                                         RESULT_COLUMNS)]

  def streamed():
    return sorted(tuple(r[c] for c in VALUE_COLUMNS) for r in (
        client.hgetall(k) for k in client.scan_iter('sales:result:*')))

  with streaming_pipeline(
      *kafka_stream_args(kafka_broker.bootstrap, topic, 'redis'),
      '--sink', url,
      '--redis_password', redis_server.password_ref,
      log_path=log_path) as proc:
    assert poll(lambda: len(streamed()) > 50, 240, proc)
    redis_server.stop()
    try:
      replay(str(second), topic, kafka_broker.bootstrap, seed=6,
             shuffle_seconds=3600, partitions=3)
      assert poll(lambda: 'is unreachable' in log_path.read_text(), 120,
                  proc)
    finally:
      redis_server.start()
    converged = poll(lambda: streamed() == expected, 240, proc)
    got = streamed()
    assert converged, (
        f'{len(set(got) ^ set(expected))} rows differ; streamed {len(got)},'
        f' batch {len(expected)}; only streamed: '
        f'{sorted(set(got) - set(expected))[:3]}; only batch: '
        f'{sorted(set(expected) - set(got))[:3]}; log: '
        f'{log_path.read_text()[-1500:]}')
    assert poll(lambda: len(redis_dead_letters(client)) == 99, 60, proc)
    # Top products are written by their own step: they may trail.
    batch_top = [r[:10] for r in sqlite_rows(batch_db, 'top_products',
                                             TOP_COLUMNS)]
    assert poll(lambda: [r[:10] for r in redis_top_products(client)] ==
                batch_top, 60, proc)
  log = log_path.read_text()
  # One warning as the outage begins and one as it ends, per writing step.
  assert 0 < log.count('is unreachable') == log.count('reachable again'), log
