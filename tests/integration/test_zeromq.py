"""The ZeroMQ source and tools over real sockets on loopback (pyzmq).

ZeroMQ keeps no log (docs/zeromq.md): these tests prove what it can give.
On loopback, with a PUSH sender that binds and a pipeline PULL socket that
connects, a PUSH socket waits for the reader (and for room under the
high-water marks, which are set far above the sample's 3000 messages)
instead of dropping: nothing is lost, so the stream must equal the
bounded run exactly (`live_batch`, the session's one bounded run over the
same sample, which also writes Redis).
"""
import sqlite3
import threading

import pytest

from services.kafka.broker import free_port
from tests.fixtures.prism import prism_streaming_args
from tests.integration.streaming import (WINDOW_FLAGS, dead_letter_reasons,
                                         results,
                                         streaming_pipeline, top_products,
                                         wait_for)
from tools.replay_to_zmq import send
from tools.retime import read_lines
from tools.zmq_to_kafka import bridge

pytestmark = [pytest.mark.zeromq, pytest.mark.integration]


@pytest.mark.prism
@pytest.mark.redis  # the shared bounded run (live_batch) also writes Redis
def test_the_sample_over_zeromq_converges_to_the_bounded_run(
    tmp_path, live_batch, live_sample):
  batch_db = live_batch.db
  endpoint = f'tcp://127.0.0.1:{free_port()}'
  stream_db = str(tmp_path / 'zeromq.db')
  log_path = str(tmp_path / 'run.log')
  lines = read_lines(live_sample)
  halves = [tmp_path / 'first.jsonl', tmp_path / 'second.jsonl']
  halves[0].write_text('\n'.join(lines[:1500]) + '\n', encoding='utf-8')
  halves[1].write_text('\n'.join(lines[1500:]) + '\n', encoding='utf-8')
  sent = []
  runner = [a for a in prism_streaming_args() if a != '--streaming']
  with streaming_pipeline(
      '--source', 'zeromq', '--streaming', '--zmq_endpoint', endpoint,
      '--early_firing_seconds', '1', *WINDOW_FLAGS, *runner,
      '--sink', f'sqlite:///{stream_db}', '--log_level=DEBUG',
      log_path=log_path, whole_group=False) as proc:
    # The sender binds and waits for the pipeline to connect: started
    # together, nothing is sent before the reader is there. The second
    # half goes once the CLI has counted some of the first (its log).
    sender = threading.Thread(target=lambda: sent.append(send(
        str(halves[0]), endpoint, wait_s=240)))
    sender.start()
    assert wait_for(lambda: counted_some(log_path), 240, proc)
    sender.join(60)
    sent.append(send(str(halves[1]), endpoint, wait_s=60))
    expected = results(batch_db)
    converged = wait_for(lambda: results(stream_db) == expected, 240, proc)
    got = results(stream_db)
    assert converged, (f'{len(set(got) ^ set(expected))} rows differ; '
                       f'streamed {len(got)}, batch {len(expected)}; dead '
                       f'letters {dict(dead_letter_reasons(stream_db))}')
    # Top products are written by their own step: they may trail.
    assert wait_for(lambda: top_products(stream_db) ==
                    top_products(batch_db), 60, proc)
    assert wait_for(lambda: dead_letter_reasons(stream_db) ==
                    dead_letter_reasons(batch_db), 60, proc)
  assert [s['messages'] for s in sent] == [1500, 1500]
  # Stopped with Prism still up, the summary counts every message read
  # (a portable runner's result answered every query with its first
  # counts, so the summary showed the counts of the first snapshot).
  summary = dict(line.rsplit(None, 1) for line in
                 proc.stdout_text.splitlines()[1:] if line.strip())
  assert int(summary['records read']) == len(lines) == 3000
  assert summary['accounted for'] == 'yes'

  # A dead letter's position is its message's sequence number (from 0):
  # the payload of message N as sent, malformed ones included.
  with sqlite3.connect(stream_db) as conn:
    letters = conn.execute('SELECT source, partition, position, reason, '
                           'payload FROM dead_letters').fetchall()
  assert len(letters) == 99
  assert {(s, p) for s, p, _, _, _ in letters} == {(endpoint, -1)}
  for _, _, position, _, payload in letters:
    assert lines[position] == payload
  assert sum(1 for *_, reason, _ in letters if reason == 'malformed') == 6


def counted_some(log_path: str) -> bool:
  """Whether the CLI's log shows a snapshot of its counts above zero."""
  with open(log_path, encoding='utf-8') as f:
    return any('counts as of' in line and not line.rstrip().endswith(
        ': 0 records read') for line in f)


def read_topic(bootstrap, topic, expected, partitions=3):
  """Every value of the topic's partitions, from the start; reads until
  `expected` values and then until nothing more comes."""
  from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
  consumer = Consumer({'bootstrap.servers': bootstrap, 'group.id': topic,
                       'enable.auto.commit': False})
  consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING)
                   for p in range(partitions)])
  values, empty = [], 0
  try:
    while empty < (1 if len(values) >= expected else 60):
      msgs = [m for m in consumer.consume(1000, timeout=1.0)
              if not m.error()]
      empty = 0 if msgs else empty + 1
      values += [m.value().decode('utf-8') for m in msgs]
  finally:
    consumer.close()
  return values


def test_the_bridge_delivers_every_message_to_kafka_exactly_once(
    kafka_broker, kafka_topic_factory, live_sample):
  topic = kafka_topic_factory(partitions=3)
  endpoint = f'tcp://127.0.0.1:{free_port()}'
  bridged = {}
  bridge_thread = threading.Thread(target=lambda: bridged.update(bridge(
      endpoint, kafka_broker.bootstrap, topic, max_messages=3000,
      idle_exit_s=120)))
  bridge_thread.start()
  sent = send(live_sample, endpoint, wait_s=120)
  bridge_thread.join(150)
  assert sent['messages'] == bridged['messages'] == 3000

  values = read_topic(kafka_broker.bootstrap, topic, 3000)
  # Every line once: the same multiset (the sample repeats some lines on
  # purpose, its duplicates; they arrive as often as they were sent).
  assert sorted(values) == sorted(read_lines(live_sample))


def test_a_sub_reader_receives_a_pub_feed_of_its_topic(live_sample):
  """PUB/SUB: the sender waits for the subscription (a PUB socket drops
  what no subscriber takes), then every event arrives, topic frame apart."""
  from transforms.sources.zeromq import event_frame, sockets
  endpoint = f'tcp://127.0.0.1:{free_port()}'
  sent = {}
  sender = threading.Thread(target=lambda: sent.update(send(
      live_sample, endpoint, socket_kind='pub', topic='orders', wait_s=60)))
  sender.start()
  shared = sockets.acquire(endpoint, 'sub', 'orders', 1_000_000)
  got = []
  try:
    with shared.lock:
      while len(got) < 3000:
        frames = shared.receive(30_000)
        assert frames is not None, f'{len(got)} received'
        assert frames[0] == b'orders'
        got.append(event_frame(frames).decode('utf-8'))
  finally:
    sockets.release(shared)
  sender.join(60)
  assert sent['messages'] == 3000
  assert got == read_lines(live_sample)
