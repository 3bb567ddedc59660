"""The suite's year-ahead run (docs/testing.md): with tests/clock/ on
PYTHONPATH and SALES_CLOCK_OFFSET_DAYS set, every Python process the suite
starts (pytest, the CLI, the replay tools, the SDK workers) sees its wall
clock moved forward by that many days, still ticking: time.time,
time.time_ns, datetime.now and the rest, through time-machine. Monotonic
clocks and sleeps are untouched, as are processes that are not Python (the
JVM services, Prism, the browser). Without the variable this does nothing.

gRPC keeps the real clock: its Python layer turns timeouts into wall-clock
deadlines that its C core compares with the real clock, so a moved
time.time makes each poll wait a year (a server never starts).

libfaketime was tried first: librdkafka hangs under it (with or without
the monotonic clock faked), and without the monotonic clock faked every
time.sleep fails with EINVAL.
"""
import os
import sys
import types

_DAYS = os.environ.get('SALES_CLOCK_OFFSET_DAYS')


def _real_clock_for_grpc() -> None:
  try:
    import grpc  # noqa: F401  pylint: disable=unused-import
    import grpc._channel  # noqa: F401
    import grpc._common  # noqa: F401
    import grpc._server  # noqa: F401
    import grpc._utilities  # noqa: F401
    from grpc._cython import cygrpc  # noqa: F401
  except ImportError:
    return
  import time

  from time_machine import _time_machine
  real = types.ModuleType('time')
  real.__dict__.update({k: v for k, v in vars(time).items()
                        if not k.startswith('__')})
  real.time = _time_machine.original_time
  real.time_ns = _time_machine.original_time_ns
  for name, module in list(sys.modules.items()):
    if name.startswith('grpc') and getattr(module, 'time', None) is time:
      module.time = real


if _DAYS:
  import datetime

  import time_machine

  time_machine.travel(datetime.timedelta(days=float(_DAYS)), tick=True).start()
  _real_clock_for_grpc()
