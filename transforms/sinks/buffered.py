"""``BufferedStoreFn``: the DoFn skeleton of the store-writing sinks.

Each DoFn instance opens its own copy of a picklable store in ``setup``,
buffers a bundle's rows, and writes them at the end of the bundle (or every
``batch_size`` rows) through the subclass's ``write_bundle`` hook.
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Dict, Iterable, Optional

import apache_beam as beam


class BufferedStoreFn(beam.DoFn):
  """Buffers rows per bundle and writes them to a store in batches.

  Subclasses give ``new_buffer`` (an object with ``add``, ``__len__`` and
  ``clear``) and ``write_bundle`` (writes the buffer's rows; the buffer is
  cleared afterwards). ``setup`` may be extended (call ``super().setup()``
  first): the opened store is ``self._store``.
  """

  def __init__(self, store: Any, batch_size: int) -> None:
    self._store_proto = store
    self._batch_size = batch_size
    self._store: Optional[Any] = None
    self._buffer: Optional[Any] = None

  def new_buffer(self) -> Any:
    raise NotImplementedError

  def write_bundle(self, buffer: Any) -> None:
    raise NotImplementedError

  def setup(self):
    self._store = copy.copy(self._store_proto)
    self._store.open()
    self._store.ensure_schema()

  def start_bundle(self):
    self._buffer = self.new_buffer()

  def process(self, row):
    self._buffer.add(row)
    if len(self._buffer) >= self._batch_size:
      self._flush()

  def finish_bundle(self):
    self._flush()

  def teardown(self):
    if self._store is not None:
      self._store.close()
      self._store = None

  def _flush(self) -> None:
    if self._buffer is None or not len(self._buffer):
      return
    self.write_bundle(self._buffer)
    self._buffer.clear()


def write_kinds(pcolls: Dict[str, beam.PCollection], kinds: Iterable[str],
                verb: str, make_fn: Callable[[str], beam.DoFn]
                ) -> Dict[str, beam.PCollection]:
  """Applies ``make_fn(kind)`` to each of ``kinds`` that ``pcolls`` has, as
  the step '<verb><Kind>' (e.g. 'UpsertTopProducts'); returns the outputs."""
  out = {}
  for kind in kinds:
    if kind in pcolls:
      name = ''.join(p.title() for p in kind.split('_'))
      out[kind] = pcolls[kind] | f'{verb}{name}' >> beam.ParDo(make_fn(kind))
  return out
