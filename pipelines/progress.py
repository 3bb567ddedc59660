"""Progress of a bounded run on the terminal: records read so far and the
rate, one line rewritten in place, and nothing at all when stdout is not a
terminal (a pipe, a file, CI), so logs and captured output stay clean.

The figures are the runner's live counters (``records_read``), read while
the run goes on: runners that run the job asynchronously (Prism, Flink,
Dataflow) report them during the run; the in-process FnApiRunner returns
only when the job is done, so its runs show no progress line.
"""
from __future__ import annotations

import sys
import time
from typing import Callable, Optional, TextIO

__all__ = ['ProgressLine', 'progress_text']


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
