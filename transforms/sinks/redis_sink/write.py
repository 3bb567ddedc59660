"""The Beam side: ``WriteToRedis`` and the DoFn that writes per bundle.

Rows are buffered per bundle in the database sinks' ``Buffer`` (newest pane
per key only, a window's top list from one pane), then written in one
pipeline of script calls per bundle (or every ``batch_size`` rows).
"""
from __future__ import annotations

import logging

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.sinks import database
from transforms.sinks.buffered import BufferedStoreFn, write_kinds
from transforms.sinks.database.mined import MinedBuffer
from transforms.sinks.mined import MINED_KINDS
from transforms.sinks.redis_sink import scripts
from transforms.sinks.redis_sink.store import RedisStore
from transforms.sinks.rows import DEAD_LETTERS, KINDS, RESULTS

_LOG = logging.getLogger(__name__)

DEFAULT_RETENTION_S = 7 * 24 * 3600
DEFAULT_DEAD_LETTER_MAXLEN = 100_000


class _WriteFn(BufferedStoreFn):
  """Buffers rows of one kind and writes them once per bundle."""

  def __init__(self, store: RedisStore, kind: str, generation: int,
               retention_ms: int, dead_letter_maxlen: int, batch_size: int):
    super().__init__(store, batch_size)
    self._kind = kind
    self._generation = generation
    self._ttl_ms = retention_ms
    self._maxlen = dead_letter_maxlen
    self._changed = Metrics.counter('sink.redis', f'{kind}_changed')
    self._skipped = Metrics.counter('sink.redis', f'{kind}_unchanged')

  def script_name(self) -> str:
    """The key of this kind's script in ``RedisStore.scripts``."""
    return self._kind

  def new_buffer(self):
    return database.Buffer(self._kind)

  def _calls(self, buffer):
    now = scripts.DIALECT.now()
    if self._kind == RESULTS:
      return [scripts.result_call(r, now, self._generation, self._ttl_ms)
              for r in buffer.sorted_rows()]
    if self._kind == DEAD_LETTERS:
      return [scripts.dead_letter_call(r, now, self._ttl_ms, self._maxlen)
              for r in buffer.sorted_rows()]
    return [scripts.top_call(rows, now, self._generation, self._ttl_ms)
            for _, _, rows in buffer.sorted_windows()]

  def write_bundle(self, buffer) -> None:
    calls = self._calls(buffer)
    script = self._store.scripts[self.script_name()]

    def work(pipe):
      for keys, args in calls:
        script(keys=keys, args=args, client=pipe)

    answers = self._store.run_in_transaction(work)
    changed = sum(1 for a in answers if a)
    self._changed.inc(changed)
    self._skipped.inc(len(calls) - changed)
    _LOG.debug('%s: %s writes changed, %s unchanged in %s', self._kind,
               changed, len(calls) - changed, self._store.describe())


class _WriteMinedFn(_WriteFn):
  """A mined kind (transforms/sinks/mined.py): the newest pane per key in a
  bundle, written through the one script of the mined tables."""

  def script_name(self) -> str:
    return 'mined'

  def new_buffer(self):
    return MinedBuffer(self._kind)

  def _calls(self, buffer):
    now = scripts.DIALECT.now()
    return [scripts.mined_call(self._kind, r, now, self._generation,
                               self._ttl_ms) for r in buffer.sorted_rows()]


class WriteToRedis(beam.PTransform):
  """Writes results, top products, dead letters and the mined tables to
  Redis (docs/redis.md).

  Input: a dict with any of 'results' (PCollection[CategoryResult]),
  'top_products' (PCollection[TopProduct]), 'dead_letters'
  (PCollection[DeadLetter]) and the mined kinds (transforms/sinks/mined.py,
  dict rows). Output: the same keys, empty PCollections.

  Args:
    url: ``redis://[user@]host:port/db``, no password.
    password: ``env:NAME`` or ``file:PATH``; '' = REDISCLI_AUTH or none.
    generation: 0 normally; a recovery run's panes outrank earlier runs'.
    retention_s: a window's keys (and a dead letter's marker) expire this
      long after their last change; 0 = never.
    dead_letter_maxlen: the dead-letter stream is trimmed to about this.
    batch_size: rows buffered before a mid-bundle write.
  """

  def __init__(self, url: str, password: str = '', generation: int = 0,
               retention_s: float = DEFAULT_RETENTION_S,
               dead_letter_maxlen: int = DEFAULT_DEAD_LETTER_MAXLEN,
               batch_size: int = 1000, label=None):
    super().__init__(label)
    if retention_s < 0:
      raise ValueError('Redis sink: the retention must be >= 0 seconds')
    if dead_letter_maxlen < 1:
      raise ValueError('Redis sink: the dead-letter stream length must be '
                       '>= 1')
    self.store = RedisStore(url, password)
    self._generation = generation
    self._ttl_ms = int(retention_s * 1000)
    self._maxlen = dead_letter_maxlen
    self._batch_size = batch_size

  def expand(self, pcolls):
    if not isinstance(pcolls, dict):
      raise TypeError(f'WriteToRedis expects a dict of PCollections with keys '
                      f'{list(KINDS)}, got {type(pcolls).__name__}')
    kinds = list(KINDS) + list(MINED_KINDS)
    unknown = set(pcolls) - set(kinds)
    if unknown:
      raise ValueError(f'WriteToRedis: unknown keys {sorted(unknown)}; '
                       f'expected some of {kinds}')
    return write_kinds(pcolls, kinds, 'Write', lambda kind: (
        _WriteMinedFn if kind in MINED_KINDS else _WriteFn)(
            self.store, kind, self._generation, self._ttl_ms, self._maxlen,
            self._batch_size))
