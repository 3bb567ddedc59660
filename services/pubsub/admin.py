"""Topics, subscriptions and replays on Pub/Sub (the emulator or the real one).

    export PUBSUB_EMULATOR_HOST=127.0.0.1:8085    # or real credentials
    python -m services.pubsub.admin create-topic projects/sales-local/topics/orders
    python -m services.pubsub.admin create-subscription \\
        projects/sales-local/subscriptions/orders-sales --topic projects/sales-local/topics/orders
    python -m services.pubsub.admin publish --topic projects/sales-local/topics/orders \\
        --input data/sample/orders.jsonl --shuffle-seconds 600 --seed 1
    python -m services.pubsub.admin pull projects/sales-local/subscriptions/results-sub

* ``publish`` replays a JSON Lines file (``.gz`` ok), one message per
  non-blank line, data = the line as is. ``--shuffle-seconds S`` publishes in
  a bounded disorder: events are sorted by event time, then shuffled among
  events of the same S-second span of event time; keep S within the
  pipeline's allowed lateness. Lines without a readable event time travel
  with the line before them. ``--event-time-attribute NAME`` also sets the
  attribute NAME to the event time (epoch ms), for ``--event_time_from
  transport --pubsub_event_time_attribute NAME``. ``--rate R`` publishes about
  R messages per second (0 = as fast as possible). ``--retime now`` moves
  every event time by one offset so the file ends just before now
  (tools/retime.py).
* ``create-*`` are idempotent (an existing topic/subscription is fine).
* ``pull`` prints (and acknowledges) up to ``--max`` messages as JSON lines.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import List, Optional, Tuple

from tools.retime import add_retime_flag, read_lines
from tools.shuffle import bounded_shuffle
from transforms.sources.unbounded import payload_event_time_ms

Event = Tuple[Optional[int], str]


def read_events(path: str, retime: Optional[str] = None) -> List[Event]:
  """(event time ms, line) of each non-blank line, re-timed to end just
  before `retime` (now, or a time) when it is given."""
  return [(payload_event_time_ms(line.encode('utf-8')), line)
          for line in read_lines(path, retime)]


def create_topic(topic: str) -> None:
  from google.api_core import exceptions
  from google.cloud import pubsub_v1
  try:
    pubsub_v1.PublisherClient().create_topic(request={'name': topic},
                                             timeout=30)
  except exceptions.AlreadyExists:
    pass


def create_subscription(subscription: str, topic: str,
                        ack_deadline_s: int = 60) -> None:
  from google.api_core import exceptions
  from google.cloud import pubsub_v1
  client = pubsub_v1.SubscriberClient()
  try:
    client.create_subscription(
        request={'name': subscription, 'topic': topic,
                 'ack_deadline_seconds': ack_deadline_s}, timeout=30)
  except exceptions.AlreadyExists:
    pass
  finally:
    client.close()


def publish(topic: str, events: List[Event], rate: float = 0.0,
            event_time_attribute: Optional[str] = None) -> dict:
  from google.cloud import pubsub_v1
  publisher = pubsub_v1.PublisherClient(
      batch_settings=pubsub_v1.types.BatchSettings(max_messages=500,
                                                   max_latency=0.01))
  started = time.monotonic()
  futures = []
  for i, (t, line) in enumerate(events):
    if rate > 0:
      wait = started + i / rate - time.monotonic()
      if wait > 0:
        time.sleep(wait)
    attrs = {}
    if event_time_attribute and t is not None:
      attrs[event_time_attribute] = str(t)
    futures.append(publisher.publish(topic, line.encode('utf-8'), **attrs))
  for f in futures:
    f.result(timeout=60)
  publisher.stop()
  return {'messages': len(events), 'seconds': time.monotonic() - started,
          'untimed': sum(1 for t, _ in events if t is None)}


def pull(subscription: str, max_messages: int = 100,
         ack: bool = True) -> List[dict]:
  from google.cloud import pubsub_v1
  client = pubsub_v1.SubscriberClient()
  try:
    response = client.pull(request={'subscription': subscription,
                                    'max_messages': max_messages},
                           timeout=30)
    out = [{'message_id': r.message.message_id,
            'attributes': dict(r.message.attributes),
            'data': r.message.data.decode('utf-8', 'replace')}
           for r in response.received_messages]
    if ack and response.received_messages:
      client.acknowledge(request={
          'subscription': subscription,
          'ack_ids': [r.ack_id for r in response.received_messages]})
    return out
  finally:
    client.close()


def main(argv=None) -> int:
  ap = argparse.ArgumentParser(prog='python -m services.pubsub.admin',
                               description=__doc__.split('\n')[0])
  sub = ap.add_subparsers(dest='command', required=True)
  p = sub.add_parser('create-topic')
  p.add_argument('topic', help='projects/P/topics/T')
  p = sub.add_parser('create-subscription')
  p.add_argument('subscription', help='projects/P/subscriptions/S')
  p.add_argument('--topic', required=True)
  p.add_argument('--ack-deadline', type=int, default=60)
  p = sub.add_parser('publish')
  p.add_argument('--topic', required=True)
  p.add_argument('--input', required=True, help='JSON Lines file (.gz ok)')
  p.add_argument('--shuffle-seconds', type=float, default=0.0)
  p.add_argument('--seed', type=int, default=None)
  p.add_argument('--rate', type=float, default=0.0)
  p.add_argument('--event-time-attribute', default=None)
  p.add_argument('--create', action='store_true',
                 help='create the topic first if missing')
  add_retime_flag(p)
  p = sub.add_parser('pull')
  p.add_argument('subscription')
  p.add_argument('--max', type=int, default=100)
  p.add_argument('--no-ack', action='store_true')
  args = ap.parse_args(argv)

  if args.command == 'create-topic':
    create_topic(args.topic)
    print(args.topic)
  elif args.command == 'create-subscription':
    create_subscription(args.subscription, args.topic, args.ack_deadline)
    print(args.subscription)
  elif args.command == 'publish':
    if args.create:
      create_topic(args.topic)
    events = bounded_shuffle(read_events(args.input, args.retime),
                             args.shuffle_seconds,
                             args.seed)
    s = publish(args.topic, events, args.rate, args.event_time_attribute)
    print('published %d messages (%d without event time) to %s in %.2f s' %
          (s['messages'], s['untimed'], args.topic, s['seconds']))
  elif args.command == 'pull':
    for row in pull(args.subscription, args.max, not args.no_ack):
      print(json.dumps(row, sort_keys=True))
  return 0


if __name__ == '__main__':
  sys.exit(main())
