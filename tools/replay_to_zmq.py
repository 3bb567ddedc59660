"""Send a JSON Lines file of order events over ZeroMQ, one event a message.

    python -m tools.replay_to_zmq --input FILE[.gz] \\
        [--endpoint tcp://127.0.0.1:5556] [--socket push|pub] [--topic T] \\
        [--rate EVENTS_PER_S] [--retime now] [--wait-seconds S]

* The tool binds the endpoint; the pipeline (``--source zeromq``) connects.
* ``--socket push`` (default): a PUSH socket, for the pipeline's PULL. A
  PUSH socket holds each message until a reader is connected and has room,
  so nothing is lost while the pipeline starts (ZeroMQ queues up to the
  high-water mark, then the tool waits).
* ``--socket pub``: a PUB socket, for SUB readers; each message is
  ``[topic, event]``. A PUB socket drops what no subscriber takes, so the
  tool waits (up to ``--wait-seconds``) for the first subscription before
  sending anything; a subscriber that connects later misses what was sent
  before.
* ``--rate R`` sends about R events per second (0 = as fast as possible);
  ``--retime now`` moves the events to end just before now
  (tools/retime.py).
* Exits once every message is handed to a reader (or after
  ``--wait-seconds`` without one: exit 1, saying how many were sent).
  Prints one summary line: ``sent N messages to ENDPOINT in X s (R/s)``.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Optional

from tools.retime import add_retime_flag, read_lines
from transforms.sources.zeromq import DEFAULT_HWM, check_endpoint


class NoReader(RuntimeError):
  """No reader took the messages in time."""


def send(input_path: str, endpoint: str, socket_kind: str = 'push',
         topic: str = '', rate: float = 0.0, retime: Optional[str] = None,
         wait_s: float = 60.0) -> dict:
  """Sends every non-blank line as one message; returns {'messages',
  'seconds'}. Raises NoReader when no reader takes them within wait_s."""
  import zmq
  endpoint = check_endpoint(endpoint)
  lines = [line for line in read_lines(input_path, retime) if line.strip()]
  context = zmq.Context()
  # XPUB: a PUB socket that also tells us when a subscriber arrives.
  sock = context.socket(zmq.PUSH if socket_kind == 'push' else zmq.XPUB)
  sock.setsockopt(zmq.SNDHWM, DEFAULT_HWM)
  sock.setsockopt(zmq.LINGER, int(wait_s * 1000))
  sock.setsockopt(zmq.SNDTIMEO, int(wait_s * 1000))
  sent = 0
  try:
    sock.bind(endpoint)
    if socket_kind == 'pub' and not sock.poll(int(wait_s * 1000)):
      raise NoReader(f'no subscriber on {endpoint} within {wait_s:g} s')
    if socket_kind == 'pub':
      sock.recv()  # the subscription message
    started = time.monotonic()
    for i, line in enumerate(lines):
      if rate > 0:
        pause = started + i / rate - time.monotonic()
        if pause > 0:
          time.sleep(pause)
      frames = [line.encode('utf-8')]
      if socket_kind == 'pub':
        frames.insert(0, topic.encode('utf-8'))
      try:
        sock.send_multipart(frames)
      except zmq.Again:
        raise NoReader(f'no reader took messages on {endpoint} within '
                       f'{wait_s:g} s; {sent} sent') from None
      sent += 1
    elapsed = time.monotonic() - started
  finally:
    sock.close()  # lingers until queued messages are handed over
    context.term()
  return {'messages': sent, 'seconds': elapsed}


def main(argv=None) -> int:
  ap = argparse.ArgumentParser(prog='python -m tools.replay_to_zmq',
                               description=__doc__.split('\n')[0])
  ap.add_argument('--input', required=True, help='JSON Lines file (.gz ok)')
  ap.add_argument('--endpoint', default='tcp://127.0.0.1:5556',
                  help='endpoint to bind (tcp://host:port or ipc:///path)')
  ap.add_argument('--socket', choices=('push', 'pub'), default='push')
  ap.add_argument('--topic', default='', help='PUB only: the topic frame')
  ap.add_argument('--rate', type=float, default=0.0,
                  help='events per second; 0 = as fast as possible')
  ap.add_argument('--wait-seconds', type=float, default=60.0,
                  help='how long to wait for a reader')
  add_retime_flag(ap)
  args = ap.parse_args(argv)
  try:
    s = send(args.input, args.endpoint, args.socket, args.topic, args.rate,
             args.retime, args.wait_seconds)
  except (NoReader, ValueError, OSError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 1
  except Exception as e:  # pylint: disable=broad-except
    print(f'error: {type(e).__name__}: {e}', file=sys.stderr)
    return 1
  print('sent %d messages to %s in %.2f s (%.0f/s)' % (
      s['messages'], args.endpoint, s['seconds'],
      s['messages'] / s['seconds'] if s['seconds'] > 0 else 0))
  return 0


if __name__ == '__main__':
  sys.exit(main())
