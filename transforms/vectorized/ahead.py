"""One element worked on ahead, for DoFns of bounded columnar steps.

A DoFn hands an element's work to a thread and, meanwhile, emits the
element before it: the bundle thread's share (emitting, and the steps the
runner fused after this one) overlaps the thread's (numpy and Arrow
kernels, which release the GIL). The last element is emitted by
finish_bundle. Every output keeps its own element's window and timestamp,
whichever element is being processed when it is emitted.
(docs/performance.md, "Fourth round": the check of 1M orders about 0.2 s
shorter.) The memory of one more element is held: cheap for a chunk of a
file, not for a dedupe bucket (+157 MB at 5M orders, tried and not kept).
"""
from __future__ import annotations

from concurrent.futures import Future
from typing import Any, Callable, Iterable, List, NamedTuple, Optional, Tuple

import apache_beam as beam
from apache_beam.utils.windowed_value import WindowedValue

# A piece of an element's work and what emits its result.
Work = Tuple[Future, Callable[[Any], Iterable]]


class _Held(NamedTuple):
  work: List[Work]
  window: Any
  timestamp: Any


class OneAhead:
  """Holds the last element's work until the next element, or the end of
  the bundle; call `reset` in start_bundle."""

  def __init__(self) -> None:
    self._held: Optional[_Held] = None

  def reset(self) -> None:
    self._held = None

  def hold(self, work: List[Work], window: Any, timestamp: Any
           ) -> Iterable:
    """Holds this element's work; yields the outputs of the one before."""
    held, self._held = self._held, _Held(work, window, timestamp)
    if held is not None:
      yield from _emitted(held)

  def release(self) -> Iterable:
    """The outputs of the element held last (for finish_bundle)."""
    held, self._held = self._held, None
    if held is not None:
      yield from _emitted(held)


def done(result: Any) -> Future:
  """A future already holding `result` (work done on the bundle thread)."""
  future: Future = Future()
  future.set_result(result)
  return future


def _emitted(held: _Held) -> Iterable:
  for future, emit in held.work:
    for out in emit(future.result()):
      yield _in_window(out, held.window, held.timestamp)


def _in_window(out: Any, window: Any, timestamp: Any) -> Any:
  if isinstance(out, beam.pvalue.TaggedOutput):
    return beam.pvalue.TaggedOutput(
        out.tag, WindowedValue(out.value, timestamp, (window,)))
  return WindowedValue(out, timestamp, (window,))
