"""Replay a JSON Lines file of order events into a Kafka topic.

    python -m tools.replay_to_kafka --input FILE[.gz] --topic T \\
        --bootstrap-servers 127.0.0.1:9092 [--rate EVENTS_PER_S] \\
        [--shuffle-seconds S] [--seed N] [--partitions N] [--key order_id|none]
        [--retime now]

* Lines are keyed by ``order_id`` (so one order always lands in the same
  partition); ``--key none`` spreads them round-robin instead (no key).
* ``--shuffle-seconds S`` replays the events in a bounded disorder: events
  are ordered by event time, then shuffled only among events whose event
  times lie in the same S-second span, so no event is produced after one
  that is more than S seconds of event time newer (relative to the sorted
  order). Keep S within the pipeline's allowed lateness and the replay
  produces the same final results as a batch run. S = 0 keeps file order.
* ``--rate R`` produces about R events per second (0 = as fast as possible).
* The topic is created with ``--partitions`` partitions if it is missing.
* Lines whose event time cannot be parsed (and lines that are not JSON) are
  produced too (dirty records must reach the pipeline's dead letters): they
  keep their place relative to the neighbouring line of the file.
* ``--retime now`` moves every event time by one offset (whole hours) so
  the file ends just before now: an old file replays as live traffic, with
  its gaps, disorder and dirty lines kept (tools/retime.py).
* Prints one summary line: ``replayed N lines (M without event time) to
  topic T in X s (R/s)``.

Secrets for the producer: ``--producer-config-file`` (``key=value`` lines,
``env:NAME`` / ``file:PATH`` values resolved), never a flag value.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import List, Optional, Tuple

from tools.retime import add_retime_flag, read_lines
from tools.shuffle import bounded_shuffle
from transforms.kafka_client import KafkaConnection
from transforms.sources.unbounded import (
    event_time_ms_or_none as parse_event_time_ms)


def _line_info(line: str) -> Tuple[Optional[int], Optional[str]]:
  """(event time ms or None, order_id or None) of a JSON line."""
  try:
    obj = json.loads(line)
  except ValueError:
    return None, None
  if not isinstance(obj, dict):
    return None, None
  order_id = obj.get('order_id')
  return (parse_event_time_ms(obj.get('event_time')),
          order_id if isinstance(order_id, str) and order_id else None)


def read_events(path: str, retime: Optional[str] = None
                ) -> List[Tuple[Optional[int], Optional[str], str]]:
  """(event time ms, order_id, line) of each non-blank line, re-timed to
  end just before `retime` (now, or a time) when it is given."""
  events = []
  for line in read_lines(path, retime):
    t, key = _line_info(line)
    events.append((t, key, line))
  return events


def ensure_topic(bootstrap: str, topic: str, partitions: int,
                 conf: dict) -> int:
  """Creates the topic if missing; returns its partition count."""
  from confluent_kafka import KafkaException
  from confluent_kafka.admin import AdminClient, NewTopic
  admin = AdminClient(conf)
  md = admin.list_topics(timeout=30)
  if topic in md.topics and md.topics[topic].error is None:
    return len(md.topics[topic].partitions)
  fut = admin.create_topics(
      [NewTopic(topic, num_partitions=partitions, replication_factor=1)])
  try:
    fut[topic].result(timeout=30)
  except KafkaException as e:
    if 'TOPIC_ALREADY_EXISTS' not in str(e):
      raise
  deadline = time.monotonic() + 30
  while time.monotonic() < deadline:
    t = admin.list_topics(topic, timeout=5).topics.get(topic)
    if t is not None and t.error is None and t.partitions and all(
        p.leader >= 0 for p in t.partitions.values()):
      return len(t.partitions)
    time.sleep(0.1)
  raise TimeoutError('topic %s has no leaders' % topic)


def replay(input_path: str, topic: str, bootstrap_servers: str,
           rate: float = 0.0, shuffle_seconds: float = 0.0,
           seed: Optional[int] = None, partitions: int = 3,
           key_mode: str = 'order_id',
           producer_config_file: Optional[str] = None,
           retime: Optional[str] = None) -> dict:
  from confluent_kafka import Producer
  conf = KafkaConnection(bootstrap_servers,
                         properties_file=producer_config_file).client_config()
  nparts = ensure_topic(bootstrap_servers, topic, partitions, conf)
  producer = Producer(dict(conf, **{
      'enable.idempotence': True, 'acks': 'all', 'linger.ms': 5}))
  events = bounded_shuffle(read_events(input_path, retime), shuffle_seconds,
                           seed)
  errors = []

  def on_delivery(err, _msg):
    if err is not None:
      errors.append(str(err))

  started = time.monotonic()
  untimed = 0
  for i, (t, key, line) in enumerate(events):
    if t is None:
      untimed += 1
    if rate > 0:
      wait = started + i / rate - time.monotonic()
      if wait > 0:
        time.sleep(wait)
    kwargs = {}
    if key_mode == 'order_id' and key is not None:
      kwargs['key'] = key.encode('utf-8')
    elif key_mode == 'none' or key is None:
      kwargs['partition'] = i % nparts  # round-robin
    while True:
      try:
        producer.produce(topic, value=line.encode('utf-8'),
                         on_delivery=on_delivery, **kwargs)
        break
      except BufferError:
        producer.poll(0.2)
    producer.poll(0)
  remaining = producer.flush(60)
  elapsed = time.monotonic() - started
  if remaining or errors:
    raise RuntimeError('%d not delivered; errors: %s' % (remaining, errors[:5]))
  return {'lines': len(events), 'untimed': untimed, 'topic': topic,
          'seconds': elapsed}


def main(argv=None) -> int:
  ap = argparse.ArgumentParser(
      prog='python -m tools.replay_to_kafka', description=__doc__.split('\n')[0])
  ap.add_argument('--input', required=True, help='JSON Lines file (.gz ok)')
  ap.add_argument('--topic', required=True)
  ap.add_argument('--bootstrap-servers', required=True)
  ap.add_argument('--rate', type=float, default=0.0,
                  help='events per second; 0 = as fast as possible')
  ap.add_argument('--shuffle-seconds', type=float, default=0.0,
                  help='bounded event-time disorder window, seconds')
  ap.add_argument('--seed', type=int, default=None)
  ap.add_argument('--partitions', type=int, default=3,
                  help='partitions when the topic must be created')
  ap.add_argument('--key', choices=('order_id', 'none'), default='order_id',
                  help='message key: order_id, or none (round-robin)')
  ap.add_argument('--producer-config-file', default=None,
                  help='librdkafka key=value file (secrets as env:/file:)')
  add_retime_flag(ap)
  args = ap.parse_args(argv)
  s = replay(args.input, args.topic, args.bootstrap_servers, args.rate,
             args.shuffle_seconds, args.seed, args.partitions, args.key,
             args.producer_config_file, args.retime)
  print('replayed %d lines (%d without event time) to topic %s in %.2f s '
        '(%.0f/s)' % (s['lines'], s['untimed'], s['topic'], s['seconds'],
                      s['lines'] / s['seconds'] if s['seconds'] > 0 else 0))
  return 0


if __name__ == '__main__':
  sys.exit(main())
