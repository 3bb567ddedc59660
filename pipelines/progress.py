"""Progress of a bounded run on the terminal: records read so far and the
rate, one line rewritten in place, and nothing at all when stdout is not a
terminal (a pipe, a file, CI), so logs and captured output stay clean.

Where the figures come from:
- runners that run the job asynchronously (Prism, Flink, Spark, Dataflow)
  report their live counters (``records_read``) while it runs
  (pipelines/run.py reads them);
- the in-process FnApiRunner (the default for bounded runs) reports its
  counters only when the job is done, so its reading steps' progress
  records (transforms/metrics.ReadProgress) feed the line instead
  (`progress_from_readers`).
"""
from __future__ import annotations

import contextlib
import logging
import sys
import time
from typing import Callable, Dict, Iterator, Optional, TextIO

from transforms.metrics import PROGRESS_LOGGER

__all__ = ['ProgressLine', 'progress_from_readers', 'progress_text']


def progress_text(records: int, elapsed_s: float) -> str:
  """'read 12,345 records, 4,115 records/s' (the average since the start)."""
  rate = records / elapsed_s if elapsed_s > 0 else 0.0
  return f'read {records:,} records, {rate:,.0f} records/s'


class ProgressLine:
  """One progress line on a terminal, rewritten at most every interval_s.

  Quiet (writes nothing) unless the stream is a terminal.
  """

  def __init__(self, stream: Optional[TextIO] = None,
               interval_s: float = 1.0,
               clock: Callable[[], float] = time.monotonic) -> None:
    self._stream = stream if stream is not None else sys.stdout
    isatty = getattr(self._stream, 'isatty', None)
    self.enabled = bool(isatty and isatty())
    self._interval_s = interval_s
    self._clock = clock
    self._started = clock()
    self._last_shown = float('-inf')
    self._width = 0

  def update(self, records: int) -> None:
    """Shows the count read so far (throttled to the interval)."""
    now = self._clock()
    if not self.enabled or now - self._last_shown < self._interval_s:
      return
    self._last_shown = now
    text = progress_text(records, now - self._started)
    pad = max(self._width - len(text), 0)
    self._stream.write('\r' + text + ' ' * pad)
    self._stream.flush()
    self._width = len(text)

  def clear(self) -> None:
    """Removes the line, so the summary starts on a clean line."""
    if self.enabled and self._width:
      self._stream.write('\r' + ' ' * self._width + '\r')
      self._stream.flush()
      self._width = 0


class _ReaderTotals(logging.Handler):
  """Sums the latest total of each reader and shows it on the line."""

  def __init__(self, line: ProgressLine) -> None:
    super().__init__(logging.DEBUG)
    self._line = line
    self._totals: Dict[int, int] = {}

  def emit(self, record: logging.LogRecord) -> None:
    reader, records = getattr(record, 'reader', None), getattr(
        record, 'records', None)
    if reader is None or records is None:
      return
    self._totals[reader] = records
    self._line.update(sum(self._totals.values()))


@contextlib.contextmanager
def progress_from_readers(stream: Optional[TextIO] = None) -> Iterator[None]:
  """While the block runs (an in-process runner's run), the reading steps'
  progress records on a terminal's progress line; nothing when the stream
  is not a terminal. The line is removed at the end."""
  line = ProgressLine(stream)
  if not line.enabled:
    yield
    return
  log = logging.getLogger(PROGRESS_LOGGER)
  handler = _ReaderTotals(line)
  level, propagate = log.level, log.propagate
  log.setLevel(logging.DEBUG)
  log.propagate = False
  log.addHandler(handler)
  try:
    yield
  finally:
    log.removeHandler(handler)
    log.setLevel(level)
    log.propagate = propagate
    with handler.lock:  # a worker thread may be writing the line
      line.clear()
