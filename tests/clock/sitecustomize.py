"""The suite's year-ahead run (docs/testing.md): with tests/clock/ on
PYTHONPATH and SALES_CLOCK_OFFSET_DAYS set, every Python process the suite
starts (the CLI, the replay tools, the SDK workers) sees its wall clock
moved forward by that many days, still ticking: time.time, time.time_ns,
datetime.now and the rest, through time-machine. Monotonic clocks and
sleeps are untouched, as are processes that are not Python (the JVM
services, Prism, the browser). Without the variable this does nothing.

libfaketime was tried first: with the monotonic clock faked it deadlocks
pytest in a futex, without it every time.sleep fails with EINVAL, and the
Kafka broker spins under it.
"""
import os

_DAYS = os.environ.get('SALES_CLOCK_OFFSET_DAYS')
if _DAYS:
  import datetime

  import time_machine

  time_machine.travel(datetime.timedelta(days=float(_DAYS)), tick=True).start()
