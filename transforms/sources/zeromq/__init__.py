"""A ZeroMQ source (pyzmq) as a splittable DoFn, for Prism and Flink.

    Impulse -> ReaderSpec -> ReceiveMessages (unbounded SDF)

* endpoint.py: endpoints, socket kinds (PULL, SUB + topic), which frame is
  the event.
* sockets.py: one connected socket per endpoint per worker process.
* read.py: ReadZeroMQFn: sequence numbers as positions, the idle-aware
  watermark.
* source.py: ``ReadFromZeroMQ``.

What ZeroMQ cannot guarantee (no log, no offsets, no replay) and the
durable path through Kafka (``python -m tools.zmq_to_kafka``): docs/zeromq.md.
"""
from transforms.sources.zeromq.endpoint import (DEFAULT_HWM, SOCKET_KINDS,
                                                check_endpoint, check_socket,
                                                event_frame)
from transforms.sources.zeromq.source import ReadFromZeroMQ

__all__ = ['ReadFromZeroMQ', 'DEFAULT_HWM', 'SOCKET_KINDS', 'check_endpoint',
           'check_socket', 'event_frame']
