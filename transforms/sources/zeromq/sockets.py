"""One ZeroMQ socket per endpoint per worker process, shared by readers.

ZeroMQ deals messages out among connected PULL sockets (and copies them to
every SUB socket). A runner may resume a reader's restriction on another
instance of the DoFn in the same process; a socket per instance would
leave messages queued in an instance that never reads again. So every
instance in a process reads from the same socket, opened on first use and
closed when the last instance is torn down, under a lock (ZeroMQ sockets
are not thread-safe).
"""
from __future__ import annotations

import threading
from typing import Dict, Optional, Tuple

_LOCK = threading.Lock()
_SHARED: Dict[Tuple[str, str, str, int], 'SharedSocket'] = {}


class SharedSocket:
  """A connected PULL or SUB socket and the lock its readers take."""

  def __init__(self, endpoint: str, kind: str, topic: str, hwm: int):
    import zmq
    self.key = (endpoint, kind, topic, hwm)
    self.lock = threading.Lock()
    self.users = 0
    context = zmq.Context.instance()
    self.socket = context.socket(zmq.PULL if kind == 'pull' else zmq.SUB)
    self.socket.setsockopt(zmq.RCVHWM, hwm)
    self.socket.setsockopt(zmq.LINGER, 0)
    if kind == 'sub':
      self.socket.setsockopt(zmq.SUBSCRIBE, topic.encode('utf-8'))
    self.socket.connect(endpoint)

  def receive(self, timeout_ms: int) -> Optional[list]:
    """The next message's frames, or None if none arrived in timeout_ms.
    The caller holds ``lock``."""
    if not self.socket.poll(timeout_ms):
      return None
    return self.socket.recv_multipart(copy=True)

  def ready(self) -> bool:
    """A message is waiting (the caller holds ``lock``)."""
    return bool(self.socket.poll(0))


def acquire(endpoint: str, kind: str, topic: str, hwm: int) -> SharedSocket:
  key = (endpoint, kind, topic, hwm)
  with _LOCK:
    shared = _SHARED.get(key)
    if shared is None:
      shared = _SHARED[key] = SharedSocket(endpoint, kind, topic, hwm)
    shared.users += 1
    return shared


def release(shared: SharedSocket) -> None:
  with _LOCK:
    shared.users -= 1
    if shared.users <= 0 and _SHARED.get(shared.key) is shared:
      del _SHARED[shared.key]
      shared.socket.close(linger=0)
