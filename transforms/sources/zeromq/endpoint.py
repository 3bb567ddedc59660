"""ZeroMQ endpoints and socket kinds, checked once for the source and tools.

An endpoint is ``tcp://host:port`` or ``ipc:///path``. The pipeline reads
with a PULL socket (from PUSH senders) or a SUB socket (from a PUB
publisher, with a topic filter); it connects to the endpoint, and the
sender binds it (``tools.replay_to_zmq`` does), so a PUSH sender waits for
the pipeline instead of dropping what it sends.

Messages: one order event (JSON) per message. A multipart message's last
frame is the event (a PUB feed sends ``[topic, event]``; the SUB filter
matches the topic frame); a one-frame message is the event itself.
"""
from __future__ import annotations

import re
from typing import NamedTuple

SOCKET_KINDS = ('pull', 'sub')
# Messages a socket may queue before ZeroMQ pushes back (PULL: the sender
# waits) or drops (SUB: the publisher drops what a slow subscriber cannot
# take). High enough that a burst on loopback never drops.
DEFAULT_HWM = 1_000_000
# Seconds without a message after which the watermark follows the clock.
DEFAULT_IDLE_TIMEOUT_S = 10.0

_TCP = re.compile(r'^tcp://(\[[0-9A-Fa-f:]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$')
_IPC = re.compile(r'^ipc://\S+$')


class ReaderSpec(NamedTuple):
  """What the reader reads."""
  endpoint: str
  socket: str
  topic: str


def check_endpoint(endpoint: str) -> str:
  """The endpoint, stripped; ValueError in one line when it is not
  ``tcp://host:port`` or ``ipc://path``."""
  text = str(endpoint or '').strip()
  match = _TCP.match(text)
  if match and 0 < int(match.group(2)) < 65536:
    return text
  if _IPC.match(text):
    return text
  raise ValueError(f'ZeroMQ endpoint {text!r}: use tcp://host:port (e.g. '
                   f'tcp://127.0.0.1:5556) or ipc:///path')


def check_socket(kind: str, topic: str = '') -> str:
  kind = str(kind or '').strip().lower()
  if kind not in SOCKET_KINDS:
    raise ValueError(f'--zmq_socket must be pull or sub, not {kind!r}')
  if topic and kind != 'sub':
    raise ValueError('--zmq_topic filters a SUB socket: use it with '
                     '--zmq_socket sub')
  return kind


def event_frame(frames) -> bytes:
  """The order event of a message: its last frame."""
  return bytes(frames[-1])
