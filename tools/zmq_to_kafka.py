"""Bridge a ZeroMQ feed into a Kafka topic, for replay and exactness.

    python -m tools.zmq_to_kafka --endpoint tcp://127.0.0.1:5556 \\
        --bootstrap-servers 127.0.0.1:9092 --topic orders \\
        [--socket pull|sub] [--zmq-topic T] [--partitions 3] \\
        [--max-messages N] [--idle-exit-seconds S] [--producer-config-file F]

ZeroMQ keeps no log: the pipeline reading it directly (``--source zeromq``)
cannot replay after a restart, and a message sent while it is down is gone
(docs/zeromq.md). Run this bridge instead, always on, and point the
pipeline at Kafka (``--source kafka``): Kafka keeps the messages, commits
the pipeline's offsets, and ``--recover`` replays them.

* Connects a PULL (or SUB, ``--zmq-topic`` filter) socket to the endpoint,
  as the pipeline would; the sender binds it (``tools.replay_to_zmq``).
* Every message received is produced once (its last frame is the value;
  no key, so the producer spreads them over the partitions), with an
  idempotent producer (``enable.idempotence``, ``acks=all``): a retry never
  writes a message twice. Messages are flushed before the bridge exits, and
  the exit code is 1 if any could not be delivered.
* Stops on Ctrl-C / SIGTERM, after ``--max-messages``, or after
  ``--idle-exit-seconds`` without a message (0 = never). Prints one line:
  ``bridged N messages from ENDPOINT to topic T in X s``.

What a bridge cannot add: a message ZeroMQ dropped before the bridge
received it (the bridge was down, a PUB feed outran it) never reaches
Kafka. Keep the bridge running beside the sender.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from typing import Optional

from tools.replay_to_kafka import ensure_topic
from transforms.kafka_client import KafkaConnection
from transforms.sources.zeromq import (DEFAULT_HWM, check_endpoint,
                                       check_socket, event_frame)


def bridge(endpoint: str, bootstrap_servers: str, topic: str,
           socket_kind: str = 'pull', zmq_topic: str = '',
           partitions: int = 3, max_messages: int = 0,
           idle_exit_s: float = 0.0,
           producer_config_file: Optional[str] = None,
           stop: Optional[threading.Event] = None) -> dict:
  """Moves messages from ZeroMQ to Kafka until told to stop; returns
  {'messages', 'seconds'}. Raises RuntimeError if any message was not
  delivered to Kafka."""
  import zmq
  from confluent_kafka import Producer
  endpoint = check_endpoint(endpoint)
  socket_kind = check_socket(socket_kind, zmq_topic)
  stop = stop or threading.Event()
  conf = KafkaConnection(bootstrap_servers,
                         properties_file=producer_config_file).client_config()
  try:
    ensure_topic(bootstrap_servers, topic, partitions, conf)
  except Exception as e:  # pylint: disable=broad-except
    reason = getattr(e.args[0], 'str', lambda: str(e))() if e.args else e
    raise RuntimeError(f'cannot use Kafka at {bootstrap_servers} ({reason}); '
                       f'start it with services/kafka/broker.sh start or '
                       f'pass --bootstrap-servers') from None
  producer = Producer(dict(conf, **{'enable.idempotence': True,
                                    'acks': 'all', 'linger.ms': 5}))
  errors = []

  def on_delivery(err, _msg):
    if err is not None:
      errors.append(str(err))

  context = zmq.Context()
  sock = context.socket(zmq.PULL if socket_kind == 'pull' else zmq.SUB)
  sock.setsockopt(zmq.RCVHWM, DEFAULT_HWM)
  sock.setsockopt(zmq.LINGER, 0)
  if socket_kind == 'sub':
    sock.setsockopt(zmq.SUBSCRIBE, zmq_topic.encode('utf-8'))
  sock.connect(endpoint)
  count = 0
  started = last = time.monotonic()
  try:
    while not stop.is_set():
      if max_messages and count >= max_messages:
        break
      if not sock.poll(200):
        producer.poll(0)
        if idle_exit_s and time.monotonic() - last >= idle_exit_s:
          break
        continue
      value = event_frame(sock.recv_multipart())
      while True:
        try:
          producer.produce(topic, value=value, on_delivery=on_delivery)
          break
        except BufferError:
          producer.poll(0.2)  # the local queue is full: let it drain
      producer.poll(0)
      count += 1
      last = time.monotonic()
  finally:
    sock.close()
    context.term()
    remaining = producer.flush(60)
  if remaining or errors:
    raise RuntimeError(f'{remaining} message(s) not delivered to Kafka; '
                       f'errors: {errors[:3]}')
  return {'messages': count, 'seconds': time.monotonic() - started}


def main(argv=None) -> int:
  ap = argparse.ArgumentParser(prog='python -m tools.zmq_to_kafka',
                               description=__doc__.split('\n')[0])
  ap.add_argument('--endpoint', default='tcp://127.0.0.1:5556',
                  help='ZeroMQ endpoint to connect to')
  ap.add_argument('--socket', choices=('pull', 'sub'), default='pull')
  ap.add_argument('--zmq-topic', default='', help='SUB topic filter')
  ap.add_argument('--bootstrap-servers', required=True)
  ap.add_argument('--topic', required=True, help='Kafka topic to write')
  ap.add_argument('--partitions', type=int, default=3,
                  help='partitions when the topic must be created')
  ap.add_argument('--max-messages', type=int, default=0,
                  help='stop after this many messages; 0 = no limit')
  ap.add_argument('--idle-exit-seconds', type=float, default=0.0,
                  help='stop after this long without a message; 0 = never')
  ap.add_argument('--producer-config-file', default=None,
                  help='librdkafka key=value file (secrets as env:/file:)')
  args = ap.parse_args(argv)
  stop = threading.Event()
  for signum in (signal.SIGINT, signal.SIGTERM):
    signal.signal(signum, lambda *_: stop.set())
  try:
    s = bridge(args.endpoint, args.bootstrap_servers, args.topic,
               args.socket, args.zmq_topic, args.partitions,
               args.max_messages, args.idle_exit_seconds,
               args.producer_config_file, stop)
  except Exception as e:  # pylint: disable=broad-except
    print(f'error: {str(e).splitlines()[0] if str(e) else type(e).__name__}',
          file=sys.stderr)
    return 1
  print('bridged %d messages from %s to topic %s in %.2f s' % (
      s['messages'], args.endpoint, args.topic, s['seconds']))
  return 0


if __name__ == '__main__':
  sys.exit(main())
