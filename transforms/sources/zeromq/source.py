"""ReadFromZeroMQ: the PTransform (see the package docstring)."""
from __future__ import annotations

from typing import Optional

import apache_beam as beam

from transforms.sources.zeromq.endpoint import (DEFAULT_HWM,
                                                DEFAULT_IDLE_TIMEOUT_S,
                                                ReaderSpec, check_endpoint,
                                                check_socket)
from transforms.sources.zeromq.read import ReadZeroMQFn


class ReadFromZeroMQ(beam.PTransform):
  """Reads a ZeroMQ feed into ``RawRecord``s at their payload event time.

  Output: an unbounded PCollection[RawRecord]; ``source`` is the endpoint,
  ``partition`` None, ``position`` the message's sequence number in this
  run (from 0).

  Args:
    endpoint: ``tcp://host:port`` or ``ipc:///path``; the reader connects.
    socket: ``pull`` (from PUSH senders) or ``sub`` (from a PUB feed).
    topic: a SUB socket's topic filter (prefix of the first frame; '' =
      every message).
    hwm: messages the socket may queue (ZMQ_RCVHWM).
    idle_timeout_s: seconds without messages after which the watermark
      follows the clock.
    idle_lag_s: how far behind the clock an idle watermark stays (default:
      ``idle_timeout_s``).
  """

  def __init__(self, endpoint: str, socket: str = 'pull', topic: str = '',
               hwm: int = DEFAULT_HWM,
               idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S,
               idle_lag_s: Optional[float] = None):
    super().__init__()
    self.spec = ReaderSpec(check_endpoint(endpoint),
                           check_socket(socket, topic), topic or '')
    if hwm < 0:
      raise ValueError('ZeroMQ high-water mark must be >= 0 (0 = no limit)')
    self._hwm = hwm
    self._idle_timeout_s = idle_timeout_s
    self._idle_lag_s = idle_timeout_s if idle_lag_s is None else idle_lag_s

  @classmethod
  def from_config(cls, config) -> 'ReadFromZeroMQ':
    """The source a SalesConfig asks for (--zmq_endpoint, --zmq_socket,
    --zmq_topic, --zmq_idle_timeout_seconds; checked by
    config_from_options)."""
    return cls(config.zmq_endpoint, config.zmq_socket, config.zmq_topic,
               idle_timeout_s=config.zmq_idle_timeout_seconds)

  def expand(self, pbegin):
    spec = self.spec
    return (pbegin
            | 'Impulse' >> beam.Impulse()
            | 'ReaderSpec' >> beam.Map(lambda _: spec)
            | 'ReceiveMessages' >> beam.ParDo(ReadZeroMQFn(
                self._hwm, self._idle_timeout_s, self._idle_lag_s)))
