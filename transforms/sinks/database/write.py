"""The Beam side: ``WriteToDatabase`` and the DoFn that upserts per bundle.

Writes are batched per bundle: rows are buffered in ``process`` (keeping
only the newest pane per key), and written in one transaction per bundle (or
every ``batch_size`` rows) with ``executemany``; rows are written in key
order so concurrent writers take row locks in the same order.
"""
from __future__ import annotations

import copy
import logging
from typing import Any, Dict, Optional

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.sinks.buffered import BufferedStoreFn, write_kinds
from transforms.sinks.database import runs
from transforms.sinks.database.mined import UpsertMinedFn
from transforms.sinks.database.store import Store
from transforms.sinks.database.tables import CATEGORY_TABLE, KINDS, RESULTS
from transforms.sinks.database.upsert import Buffer, write_buffer
from transforms.sinks.mined import MINED_KINDS

_LOG = logging.getLogger(__name__)


class _UpsertFn(BufferedStoreFn):
  """Buffers rows of one kind and upserts them once per bundle."""

  def __init__(self, store: Store, kind: str, run_id: Optional[str],
               batch_size: int, generation: int = 0):
    super().__init__(store, batch_size)
    self._generation = generation
    self._kind = kind
    self._run_id = run_id
    namespace = f'sink.{store.dialect.name}'
    self._changed = Metrics.counter(namespace, f'{kind}_changed')
    self._skipped = Metrics.counter(namespace, f'{kind}_unchanged')

  def setup(self):
    super().setup()
    if self._kind == RESULTS and self._generation == 0:
      self._warn_if_recovered()
    if self._run_id is not None:
      d = self._store.dialect
      now = d.now()
      self._store.run_in_transaction(
          lambda cur: runs.start_run(cur, d, self._run_id, now))

  def _warn_if_recovered(self) -> None:
    """An ordinary run's panes (generation 0) never replace rows a recovery
    run wrote: say so, rather than leave the table silently unchanged."""
    newest = self._store.run_in_transaction(lambda cur: cur.execute(
        f'SELECT max(generation) FROM {CATEGORY_TABLE}').fetchone())
    if newest and newest[0]:
      _LOG.warning(
          '%s: a recovery run (--recover, generation %s) wrote this table; '
          'the panes of this ordinary run rank below its rows and replace '
          'none of them. Restart with --recover.', self._store.describe(),
          newest[0])

  def new_buffer(self) -> Buffer:
    return Buffer(self._kind)

  def write_bundle(self, buffer: Buffer) -> None:
    d = self._store.dialect
    changed, skipped = self._store.run_in_transaction(
        lambda cur: write_buffer(cur, d, buffer, self._run_id, d.now(),
                                 self._generation))
    self._changed.inc(changed)
    self._skipped.inc(skipped)
    _LOG.debug('%s: %s rows changed, %s unchanged in %s', self._kind, changed,
               skipped, self._store.describe())


class WriteToDatabase(beam.PTransform):
  """Upserts results, top products and dead letters into a database.

  Input: a dict with any of the keys 'results' (PCollection[CategoryResult]),
  'top_products' (PCollection[TopProduct]) and 'dead_letters'
  (PCollection[DeadLetter]). Output: the same keys mapped to empty
  PCollections (the writes are the effect). Subclasses give the store.

  run_id: the id of this run in ``pipeline_runs`` (default: a new one, see
    ``new_run_id``); ``track_run=False`` writes no ``pipeline_runs`` row.
  batch_size: rows buffered before a mid-bundle flush.
  generation: 0 normally; a recovery run (--recover) writes with a higher
    generation, so its recomputed panes replace the earlier run's rows.
  """

  def __init__(self, store: Store, run_id: Optional[str] = None,
               track_run: bool = True, batch_size: int = 1000, label=None,
               generation: int = 0):
    super().__init__(label)
    self.generation = generation
    self._store = store
    self.run_id = (run_id or runs.new_run_id()) if track_run else None
    self._batch_size = batch_size

  def expand(self, pcolls):
    if not isinstance(pcolls, dict):
      raise TypeError(
          f'{type(self).__name__} expects a dict of PCollections with keys '
          f'{list(KINDS)}, got {type(pcolls).__name__}')
    unknown = set(pcolls) - set(KINDS) - set(MINED_KINDS)
    if unknown:
      raise ValueError(f'{type(self).__name__}: unknown keys {sorted(unknown)};'
                       f' expected some of {list(KINDS)}')
    out = write_kinds(pcolls, KINDS, 'Upsert', lambda kind: _UpsertFn(
        self._store, kind, self.run_id, self._batch_size, self.generation))
    # the mined kinds: optional steps, written when present
    out.update(write_kinds(pcolls, MINED_KINDS, 'Upsert',
                           lambda kind: UpsertMinedFn(
                               self._store, kind, self._batch_size,
                               self.generation)))
    return out

  def finish_run(self, status: str,
                 counts: Optional[Dict[str, Any]] = None) -> None:
    """Records the end of this run in ``pipeline_runs`` (call it from the
    launcher after ``wait_until_finish``): status such as 'succeeded' or
    'failed', and the run's counts (read, valid, dead letters, ...)."""
    if self.run_id is None:
      return
    store = copy.copy(self._store)
    store.open()
    try:
      store.ensure_schema()
      d = store.dialect
      now = d.now()
      store.run_in_transaction(
          lambda cur: runs.finish_run(cur, d, self.run_id, status, counts,
                                      now))
    finally:
      store.close()
