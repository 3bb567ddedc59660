"""What reaches the terminal during a run: log records and stderr writes,
minus the runner noise a run is known to make (a Ctrl-C's closed channels,
Prism's harmless finalization errors).
"""
from __future__ import annotations

import logging
import sys
import threading
from typing import Any

_LOG = logging.getLogger('pipeline')

_HARMLESS = 'not in a finalizable state'
# How a worker thread reports that the runner's end of a gRPC channel went
# away (Prism stopped, or the job was cancelled).
_CHANNEL_CLOSED = ('StatusCode.UNAVAILABLE', 'StatusCode.CANCELLED',
                   'Socket closed', 'Stream removed')
# A Ctrl-C reaches Prism and this process together; a worker thread may see
# the channel close before our SIGINT handler has run. Such an error waits
# this long for the stop to be marked before it is reported as a failure.
STOP_GRACE_SECONDS = 3.0
# Beam's own chatter about the runner services it starts and stops, and
# about a bounded run rewriting its outputs: (logger, message start) ->
# the level it shows at. A failure of those services still surfaces: as an
# error of the run, which the CLI reports.
CHATTER = {
    ('apache_beam.utils.subprocess_server', 'Really starting service'):
        logging.DEBUG,
    ('apache_beam.utils.subprocess_server', 'Really destroying service'):
        logging.DEBUG,
    ('apache_beam.utils.subprocess_server', 'Starting service with'):
        logging.DEBUG,
    ('PrismRunner', 'empty transform'): logging.DEBUG,
    ('apache_beam.io.filebasedsink', 'Deleting '): logging.INFO,
    # Building the graph, once per annotated transform: not progress.
    ('apache_beam.typehints.native_type_compatibility',
     'Converting string literal type hint'): logging.DEBUG,
    ('apache_beam.runners.worker.statecache', 'Creating state cache'):
        logging.DEBUG,
}


def chatter_level(record: logging.LogRecord) -> int:
  """The level a record shows at: lower for known chatter, else its own."""
  if record.levelno >= logging.ERROR:
    return record.levelno
  for (name, start), level in CHATTER.items():
    if record.name == name and str(record.msg).startswith(start):
      return min(level, record.levelno)
  return record.levelno


class RunNoiseFilter(logging.Filter):
  """Keeps known-harmless runner noise off the terminal.

  - Prism asks every bundle of a stage that uses bundle finalization to
    finalize, including bundles that registered no callback (the SDF's
    split stage); the SDK reports that as an error with a traceback and
    carries on.
  - Beam's start/stop chatter of the runner services (CHATTER) shows at
    DEBUG (or INFO), where it belongs.
  - After a Ctrl-C, workers and job-state readers report their channels
    closing as errors (logged, or raised in Beam's background threads):
    the expected end of the run. In a bounded run such reports never show:
    the job's result is what fails the run.
  The SDK worker both logs these (through Beam's job-message stream, on the
  root logger) and prints them to stderr, so the filter guards the root
  handlers, stderr and uncaught errors of threads. Anything else passes
  untouched.
  """

  def __init__(self, grace_s: float = STOP_GRACE_SECONDS) -> None:
    super().__init__()
    self._stopping = threading.Event()
    self._grace_s = grace_s
    self._failures_surface = False

  def stop_requested(self) -> None:
    self._stopping.set()

  def failures_surface(self) -> None:
    """A bounded run: a failing step fails the run, and the CLI reports it
    in one line; Beam's own ERROR record of it (a traceback) then shows only
    with --log_level=DEBUG."""
    self._failures_surface = True

  def _reported_by_cli(self, record: logging.LogRecord) -> bool:
    return (self._failures_surface and record.levelno == logging.ERROR
            and record.exc_info is not None
            and record.name.startswith('apache_beam.runners')
            and not logging.getLogger().isEnabledFor(logging.DEBUG))

  def _after_stop(self, text: str) -> bool:
    """True if text is an error the stop explains; a closed channel waits
    for a stop that is on its way."""
    if self._stopping.is_set():
      return True
    closed = any(mark in text for mark in _CHANNEL_CLOSED)
    if closed and self._failures_surface:
      # A bounded run: the job's own result says whether it failed (and
      # the CLI reports that); a job server that closes its workers'
      # channels as the job ends (Spark's) is not a failure.
      return True
    return closed and self._stopping.wait(self._grace_s)

  def is_noise(self, text: str) -> bool:
    """For writes to stderr: after the stop only the main thread (the CLI's
    own messages) still writes there."""
    return _HARMLESS in text or (
        self._stopping.is_set()
        and threading.current_thread() is not threading.main_thread())

  def filter(self, record: logging.LogRecord) -> bool:
    if record.levelno >= logging.CRITICAL:
      return True
    level = chatter_level(record)
    if level != record.levelno:
      record.levelno, record.levelname = level, logging.getLevelName(level)
      if not logging.getLogger().isEnabledFor(level):
        return False
    if self._reported_by_cli(record):
      return False
    text = record.getMessage()
    if record.exc_info:
      text += str(record.exc_info[1])
    return _HARMLESS not in text and not self._after_stop(text)

  def thread_error(self, args: threading.ExceptHookArgs) -> None:
    """threading.excepthook: a background thread's error, unless the stop
    explains it."""
    if self._after_stop(f'{args.exc_type.__name__}: {args.exc_value}'):
      _LOG.debug('background thread %s ended after the stop: %s',
                 getattr(args.thread, 'name', '?'), args.exc_value)
      return
    threading.__excepthook__(args)


class _FilteredStream:
  """stderr, minus the writes RunNoiseFilter calls noise."""

  def __init__(self, stream: Any, noise: RunNoiseFilter) -> None:
    self._stream = stream
    self._noise = noise

  def write(self, text: str) -> int:
    if self._noise.is_noise(text):
      return len(text)
    return self._stream.write(text)

  def __getattr__(self, name: str) -> Any:
    return getattr(self._stream, name)


def configure_logging(level: str) -> RunNoiseFilter:
  noise = RunNoiseFilter()
  terminal = sys.stderr
  sys.stderr = _FilteredStream(terminal, noise)
  # Log records pass through the filter below; only direct writes to
  # stderr (a thread's traceback, say) go through the filtered stream.
  logging.basicConfig(
      stream=terminal,
      level=getattr(logging, level, logging.WARNING),
      format='%(asctime)s %(levelname)s %(name)s: %(message)s')
  for handler in logging.getLogger().handlers:
    handler.addFilter(noise)
  threading.excepthook = noise.thread_error
  return noise
