"""Idempotent database sinks: the tables and the upsert rules they share.

``WriteToSQLite`` (transforms/sinks/sqlite_sink.py) and ``WriteToPostgres``
(transforms/sinks/postgres_sink.py) are thin: a store (how to connect, which
SQL types, how to retry) plus this module (which tables, which keys, which
row wins). DESIGN.md, Semantics 7: replays, retries and restarts converge to
the same table, and an older pane never overwrites a newer one.

Tables (created if missing)
---------------------------

Types: ``time`` is ``timestamptz`` in PostgreSQL and ISO-8601 UTC text in
SQLite (``2026-11-02T13:00:00Z``, with ``.mmm`` milliseconds only when they
are not zero, so text order is time order except within one second); ``money`` is ``NUMERIC(20,2)`` in PostgreSQL and, in SQLite,
TEXT holding the exact two-decimal string (``'1234.50'``; cast it with
``CAST(revenue_usd AS REAL)`` for arithmetic that may lose cents). Money is
rounded to cents ROUND_HALF_UP when written, never before. Booleans are
``boolean`` in PostgreSQL and 0/1 in SQLite.

``sales_by_category`` -- one row per window, scope and category
  (``category = '__all__'`` is the all-categories total):
    window_start time, window_end time, customer_id text ('' unless
    per-customer sessions), category text, orders bigint, units bigint,
    revenue_usd money, distinct_customers bigint, avg_order_value_usd money,
    pane_timing text (EARLY/ON_TIME/LATE), pane_index int, is_final bool,
    updated_at time
  PRIMARY KEY (window_start, window_end, customer_id, category)

``top_products`` -- the top-N products by revenue of each window:
    window_start, window_end, customer_id, rank int (1 = highest revenue),
    product_id, product_name, category, orders, units, revenue_usd money,
    pane_timing, pane_index, is_final, updated_at
  PRIMARY KEY (window_start, window_end, customer_id, rank)
  All rows of one window come from one pane: a newer pane replaces the
  window's whole list (ranks it no longer has are deleted).

``dead_letters`` -- records that could not become orders:
    source text, partition bigint (-1 for files and Pub/Sub, which have
    none), position bigint, reason text, detail text, payload text,
    updated_at time
  PRIMARY KEY (source, partition, position)

``pipeline_runs`` -- one row per run of a pipeline that wrote here:
    run_id text PRIMARY KEY, started_at time, updated_at time, status text
    ('running' while writing; the launcher sets 'succeeded' / 'failed' with
    ``finish_run``), results_written, top_products_written,
    dead_letters_written bigint (rows inserted or changed by this run; a
    replayed, unchanged row counts 0), counts (jsonb / JSON text: the run's
    read/valid/dead-letter/duplicate counts, set by ``finish_run``)

Which row wins
--------------

A pane is ranked by ``(generation, pane_index, is_final)``: a higher pane
index is newer; at the same index a final pane beats a non-final one. The
generation is 0 for ordinary runs; a recovery run (``--recover``, which
replays the source and recomputes every window from scratch) writes with a
higher one, so its panes replace those of the run it recovers. A row is
replaced only by a strictly newer pane, so

* an older pane arriving late (retry, replay, out-of-order writers) is a
  no-op, and so is a replay of the same pane: running the same input twice
  leaves every table identical, ``updated_at`` included (it is the wall-clock
  time the row last changed, not the time it was last written);
* with the default accumulating panes the table always holds the newest
  state of every window. (Discarding panes are deltas: an upsert keyed by
  window cannot sum them; use accumulating panes with database sinks.)
* pane indexes restart at 0 when a streaming job is started afresh without
  its state (not from a savepoint/snapshot), and a re-run with corrected
  input has the same pane indexes as the run it corrects: neither replaces
  rows already written. Delete the affected windows (or use a new database)
  before re-stating them.

Dead letters are keyed by where the record was read, so re-reading the same
input never duplicates them; a record whose reason or payload changed (a
fixed parser) is updated in place.

Reading the latest numbers (PostgreSQL; in SQLite the same query works,
but sort money with ``CAST(revenue_usd AS REAL)``: it is text there)::

    SELECT window_start, window_end, category, orders, units, revenue_usd,
           distinct_customers, avg_order_value_usd, pane_timing, is_final
    FROM sales_by_category
    WHERE customer_id = '' AND window_start =
          (SELECT max(window_start) FROM sales_by_category
           WHERE customer_id = '')
    ORDER BY category <> '__all__', revenue_usd DESC, category;

Writes are batched per bundle: rows are buffered in ``process`` (keeping
only the newest pane per key), and written in one transaction per bundle (or
every ``batch_size`` rows) with ``executemany``; rows are written in key
order so concurrent writers take row locks in the same order.
"""
from __future__ import annotations

import datetime
import json
import logging
import time
import uuid
from typing import (Any, Callable, Dict, Iterable, List, Optional, Sequence,
                    Tuple)

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.records import CategoryResult, DeadLetter, TopProduct

_LOG = logging.getLogger(__name__)

RESULTS = 'results'
TOP_PRODUCTS = 'top_products'
DEAD_LETTERS = 'dead_letters'
KINDS = (RESULTS, TOP_PRODUCTS, DEAD_LETTERS)

CATEGORY_TABLE = 'sales_by_category'
TOP_TABLE = 'top_products'
DEAD_LETTER_TABLE = 'dead_letters'
RUNS_TABLE = 'pipeline_runs'

# The partition value stored for sources that have none (files, Pub/Sub):
# primary-key columns cannot be NULL.
NO_PARTITION = -1


class SinkError(RuntimeError):
  """A database sink cannot write; the message is one line and says why."""


# --- column definitions (logical types, mapped to SQL by each dialect) -----

_WINDOW_COLUMNS = [
    ('window_start', 'time', True),
    ('window_end', 'time', True),
    ('customer_id', 'text', True),
]
_PANE_COLUMNS = [
    ('generation', 'bigint', True),
    ('pane_timing', 'text', True),
    ('pane_index', 'int', True),
    ('is_final', 'bool', True),
]
# (name, logical type, NOT NULL)
TABLE_COLUMNS: Dict[str, List[Tuple[str, str, bool]]] = {
    CATEGORY_TABLE: _WINDOW_COLUMNS + [
        ('category', 'text', True),
        ('orders', 'bigint', True),
        ('units', 'bigint', True),
        ('revenue_usd', 'money', True),
        ('distinct_customers', 'bigint', True),
        ('avg_order_value_usd', 'money', True),
    ] + _PANE_COLUMNS + [('updated_at', 'time', True)],
    TOP_TABLE: _WINDOW_COLUMNS + [
        ('rank', 'int', True),
        ('product_id', 'text', True),
        ('product_name', 'text', True),
        ('category', 'text', True),
        ('orders', 'bigint', True),
        ('units', 'bigint', True),
        ('revenue_usd', 'money', True),
    ] + _PANE_COLUMNS + [('updated_at', 'time', True)],
    DEAD_LETTER_TABLE: [
        ('source', 'text', True),
        ('partition', 'bigint', True),
        ('position', 'bigint', True),
        ('reason', 'text', True),
        ('detail', 'text', True),
        ('payload', 'text', True),
        ('updated_at', 'time', True),
    ],
    RUNS_TABLE: [
        ('run_id', 'text', True),
        ('started_at', 'time', True),
        ('updated_at', 'time', True),
        ('status', 'text', True),
        ('results_written', 'bigint', True),
        ('top_products_written', 'bigint', True),
        ('dead_letters_written', 'bigint', True),
        ('counts', 'json', False),
    ],
}
PRIMARY_KEYS: Dict[str, Tuple[str, ...]] = {
    CATEGORY_TABLE: ('window_start', 'window_end', 'customer_id', 'category'),
    TOP_TABLE: ('window_start', 'window_end', 'customer_id', 'rank'),
    DEAD_LETTER_TABLE: ('source', 'partition', 'position'),
    RUNS_TABLE: ('run_id',),
}
_DEFAULTS = {
    (RUNS_TABLE, 'results_written'): '0',
    (RUNS_TABLE, 'top_products_written'): '0',
    (RUNS_TABLE, 'dead_letters_written'): '0',
}
_WRITTEN_COLUMN = {
    RESULTS: 'results_written',
    TOP_PRODUCTS: 'top_products_written',
    DEAD_LETTERS: 'dead_letters_written',
}


class Dialect:
  """What differs between SQL databases: types, parameters, value forms."""
  name = 'sql'
  types: Dict[str, str] = {}

  def param(self, name: str) -> str:
    raise NotImplementedError

  def time(self, epoch_ms: int) -> Any:
    raise NotImplementedError

  def money(self, value) -> Any:
    raise NotImplementedError

  def boolean(self, value: bool) -> Any:
    return bool(value)

  def now(self) -> Any:
    """The wall-clock value for started_at / updated_at."""
    raise NotImplementedError

  def json(self, value: Optional[Dict[str, Any]]) -> Any:
    return None if value is None else json.dumps(value, sort_keys=True)

  def lock(self, cursor, name: str) -> None:
    """Takes a transaction-scoped lock named ``name``, serialising writers
    of one window's top-N list or of the schema (a no-op where the database
    already serialises all writers)."""

  def create_table_sql(self, table: str) -> str:
    cols = []
    for name, logical, not_null in TABLE_COLUMNS[table]:
      col = f'{name} {self.types[logical]}'
      if not_null:
        col += ' NOT NULL'
      default = _DEFAULTS.get((table, name))
      if default is not None:
        col += f' DEFAULT {default}'
      cols.append(col)
    cols.append(f'PRIMARY KEY ({", ".join(PRIMARY_KEYS[table])})')
    body = ',\n  '.join(cols)
    return f'CREATE TABLE IF NOT EXISTS {table} (\n  {body}\n)'

  def schema_sql(self) -> List[str]:
    return [self.create_table_sql(t) for t in TABLE_COLUMNS]


def pane_rank(row) -> Tuple[int, bool]:
  """How new a pane is: higher index is newer; at the same index, final wins."""
  return (int(row.pane_index), bool(row.is_final))


def window_key(row) -> Tuple[int, int, str]:
  return (int(row.window_start_ms), int(row.window_end_ms), row.customer_id)


def category_key(row: CategoryResult) -> Tuple:
  return window_key(row) + (row.category,)


def dead_letter_key(row: DeadLetter) -> Tuple:
  partition = NO_PARTITION if row.partition is None else int(row.partition)
  return (row.source, partition, int(row.position))


# --- SQL --------------------------------------------------------------------


def _insert_sql(d: Dialect, table: str, columns: Sequence[str]) -> str:
  return (f'INSERT INTO {table} ({", ".join(columns)}) VALUES '
          f'({", ".join(d.param(c) for c in columns)})')


def category_upsert_sql(d: Dialect) -> str:
  cols = [c for c, _, _ in TABLE_COLUMNS[CATEGORY_TABLE]]
  key = PRIMARY_KEYS[CATEGORY_TABLE]
  sets = ', '.join(f'{c} = excluded.{c}' for c in cols if c not in key)
  t = CATEGORY_TABLE
  return (f'{_insert_sql(d, t, cols)}\n'
          f'ON CONFLICT ({", ".join(key)}) DO UPDATE SET {sets}\n'
          f'WHERE (excluded.generation, excluded.pane_index, excluded.is_final)'
          f' > ({t}.generation, {t}.pane_index, {t}.is_final)')


def dead_letter_upsert_sql(d: Dialect) -> str:
  cols = [c for c, _, _ in TABLE_COLUMNS[DEAD_LETTER_TABLE]]
  key = PRIMARY_KEYS[DEAD_LETTER_TABLE]
  t = DEAD_LETTER_TABLE
  sets = ', '.join(f'{c} = excluded.{c}' for c in cols if c not in key)
  changed = ' OR '.join(f'{t}.{c} <> excluded.{c}'
                        for c in ('reason', 'detail', 'payload'))
  return (f'{_insert_sql(d, t, cols)}\n'
          f'ON CONFLICT ({", ".join(key)}) DO UPDATE SET {sets}\n'
          f'WHERE {changed}')


def _window_where(d: Dialect) -> str:
  return (f'window_start = {d.param("window_start")} AND '
          f'window_end = {d.param("window_end")} AND '
          f'customer_id = {d.param("customer_id")}')


def top_current_pane_sql(d: Dialect) -> str:
  return (f'SELECT generation, pane_index, is_final FROM {TOP_TABLE} WHERE '
          f'{_window_where(d)} ORDER BY generation DESC, pane_index DESC, '
          f'is_final DESC LIMIT 1')


def top_delete_sql(d: Dialect) -> str:
  return f'DELETE FROM {TOP_TABLE} WHERE {_window_where(d)}'


def top_insert_sql(d: Dialect) -> str:
  cols = [c for c, _, _ in TABLE_COLUMNS[TOP_TABLE]]
  # Only rows of the pane already in the table can conflict here: the same
  # pane written again (or in parts), so the first copy stays.
  return (f'{_insert_sql(d, TOP_TABLE, cols)}\n'
          f'ON CONFLICT ({", ".join(PRIMARY_KEYS[TOP_TABLE])}) DO NOTHING')


def run_start_sql(d: Dialect) -> str:
  cols = ['run_id', 'started_at', 'updated_at', 'status']
  return (f'{_insert_sql(d, RUNS_TABLE, cols)} '
          f'ON CONFLICT (run_id) DO NOTHING')


def run_progress_sql(d: Dialect, kind: str) -> str:
  col = _WRITTEN_COLUMN[kind]
  return (f'UPDATE {RUNS_TABLE} SET {col} = {col} + {d.param("written")}, '
          f'updated_at = {d.param("updated_at")} '
          f'WHERE run_id = {d.param("run_id")}')


def run_finish_sql(d: Dialect) -> str:
  return (f'UPDATE {RUNS_TABLE} SET status = {d.param("status")}, '
          f'counts = COALESCE({d.param("counts")}, counts), '
          f'updated_at = {d.param("updated_at")} '
          f'WHERE run_id = {d.param("run_id")}')


# --- rows -> parameters -----------------------------------------------------


def clean_text(value) -> str:
  """Text any database accepts: NUL bytes (PostgreSQL refuses them) become
  U+FFFD, and so do lone surrogates (not encodable as UTF-8). Dead-letter
  payloads are arbitrary input, so this must never fail."""
  text = '' if value is None else str(value)
  try:
    text.encode('utf-8')
  except UnicodeEncodeError:
    text = ''.join('\ufffd' if '\ud800' <= c <= '\udfff' else c for c in text)
  return text.replace('\x00', '\ufffd')


def _window_params(d: Dialect, key: Tuple[int, int, str]) -> Dict[str, Any]:
  return {'window_start': d.time(key[0]), 'window_end': d.time(key[1]),
          'customer_id': clean_text(key[2])}


def category_params(d: Dialect, row: CategoryResult, now,
                    generation: int = 0) -> Dict[str, Any]:
  out = _window_params(d, window_key(row))
  out.update(
      generation=generation,
      category=clean_text(row.category), orders=int(row.orders),
      units=int(row.units),
      revenue_usd=d.money(row.revenue_usd),
      distinct_customers=int(row.distinct_customers),
      avg_order_value_usd=d.money(row.avg_order_value_usd),
      pane_timing=row.pane_timing, pane_index=int(row.pane_index),
      is_final=d.boolean(row.is_final), updated_at=now)
  return out


def top_product_params(d: Dialect, row: TopProduct, now,
                       generation: int = 0) -> Dict[str, Any]:
  out = _window_params(d, window_key(row))
  out.update(
      generation=generation,
      rank=int(row.rank), product_id=clean_text(row.product_id),
      product_name=clean_text(row.product_name),
      category=clean_text(row.category),
      orders=int(row.orders), units=int(row.units),
      revenue_usd=d.money(row.revenue_usd), pane_timing=row.pane_timing,
      pane_index=int(row.pane_index), is_final=d.boolean(row.is_final),
      updated_at=now)
  return out


def dead_letter_params(d: Dialect, row: DeadLetter, now) -> Dict[str, Any]:
  source, partition, position = dead_letter_key(row)
  return {'source': clean_text(source), 'partition': partition,
          'position': position, 'reason': clean_text(row.reason),
          'detail': clean_text(row.detail), 'payload': clean_text(row.payload),
          'updated_at': now}


# --- per-bundle buffers -----------------------------------------------------


class Buffer:
  """Rows of one kind waiting for a flush, newest pane per key only."""

  def __init__(self, kind: str):
    if kind not in KINDS:
      raise ValueError(f'unknown row kind {kind!r}; expected one of {KINDS}')
    self.kind = kind
    self._rows: Dict[Tuple, Any] = {}
    # top products: window -> (pane rank, {rank: row})
    self._top: Dict[Tuple, Tuple[Tuple[int, bool], Dict[int, TopProduct]]] = {}
    self.received = 0

  def __len__(self) -> int:
    return self.received

  def add(self, row) -> None:
    self.received += 1
    if self.kind == RESULTS:
      key = category_key(row)
      old = self._rows.get(key)
      if old is None or pane_rank(row) > pane_rank(old):
        self._rows[key] = row
    elif self.kind == DEAD_LETTERS:
      self._rows.setdefault(dead_letter_key(row), row)
    else:
      key = window_key(row)
      rank = pane_rank(row)
      old = self._top.get(key)
      if old is None or rank > old[0]:
        self._top[key] = (rank, {int(row.rank): row})
      elif rank == old[0]:
        old[1].setdefault(int(row.rank), row)

  def clear(self) -> None:
    self._rows.clear()
    self._top.clear()
    self.received = 0

  def sorted_rows(self) -> List[Any]:
    return [self._rows[k] for k in sorted(self._rows)]

  def sorted_windows(self) -> List[Tuple[Tuple, Tuple[int, bool], List[Any]]]:
    return [(k, self._top[k][0],
             [self._top[k][1][r] for r in sorted(self._top[k][1])])
            for k in sorted(self._top)]


def write_buffer(cursor, d: Dialect, buffer: Buffer, run_id: Optional[str],
                 now, generation: int = 0) -> Tuple[int, int]:
  """Writes a buffer inside the caller's transaction.

  generation: ranks this writer's panes above every pane of a lower
  generation (a recovery run's recomputed panes replace the earlier run's).
  Returns (rows changed, rows skipped as older or identical).
  """
  if buffer.kind == RESULTS:
    params = [category_params(d, r, now, generation)
              for r in buffer.sorted_rows()]
    cursor.executemany(category_upsert_sql(d), params)
    changed = max(cursor.rowcount, 0)
    total = len(params)
  elif buffer.kind == DEAD_LETTERS:
    params = [dead_letter_params(d, r, now) for r in buffer.sorted_rows()]
    cursor.executemany(dead_letter_upsert_sql(d), params)
    changed = max(cursor.rowcount, 0)
    total = len(params)
  else:
    changed, total = _write_top_products(cursor, d, buffer, now, generation)
  if run_id is not None and total:
    cursor.execute(run_progress_sql(d, buffer.kind),
                   {'written': changed, 'updated_at': now, 'run_id': run_id})
  return changed, total - changed


def _write_top_products(cursor, d: Dialect, buffer: Buffer, now,
                        generation: int = 0) -> Tuple[int, int]:
  changed = total = 0
  for key, pane, rows in buffer.sorted_windows():
    rank = (generation,) + pane
    total += len(rows)
    where = _window_params(d, key)
    d.lock(cursor, f'{TOP_TABLE}|{key[0]}|{key[1]}|{key[2]}')
    cursor.execute(top_current_pane_sql(d), where)
    found = cursor.fetchone()
    current = None if found is None else (int(found[0]), int(found[1]),
                                          bool(found[2]))
    if current is not None and current > rank:
      continue  # an older pane: the table already has a newer list
    if current is not None and current < rank:
      cursor.execute(top_delete_sql(d), where)  # the newer list replaces it
    cursor.executemany(top_insert_sql(d),
                       [top_product_params(d, r, now, generation)
                        for r in rows])
    changed += max(cursor.rowcount, 0)
  return changed, total


# --- the Beam side ----------------------------------------------------------


class Store:
  """One connection to one database; implemented per database.

  Must be picklable before ``open()`` (it travels inside a DoFn); the open
  connection, ``_conn``, is never pickled or copied.
  """
  dialect: Dialect
  _conn: Any = None

  def __getstate__(self):
    state = dict(self.__dict__)
    state['_conn'] = None
    return state

  def __copy__(self):
    clone = type(self).__new__(type(self))
    clone.__dict__.update(self.__getstate__())
    return clone

  def describe(self) -> str:
    """Where this store writes, safe to log (never a password)."""
    raise NotImplementedError

  def open(self) -> None:
    raise NotImplementedError

  def close(self) -> None:
    raise NotImplementedError

  def run_in_transaction(self, work: Callable[[Any], Any]) -> Any:
    """Runs ``work(cursor)`` in one transaction, retrying transient errors
    (the whole transaction again); raises SinkError on permanent ones."""
    raise NotImplementedError

  def ensure_schema(self) -> None:
    def create(cursor):
      self.dialect.lock(cursor, 'sales-pipeline schema')
      for statement in self.dialect.schema_sql():
        cursor.execute(statement)
    self.run_in_transaction(create)


class _UpsertFn(beam.DoFn):
  """Buffers rows of one kind and upserts them once per bundle."""

  def __init__(self, store: Store, kind: str, run_id: Optional[str],
               batch_size: int, generation: int = 0):
    self._generation = generation
    self._store_proto = store
    self._kind = kind
    self._run_id = run_id
    self._batch_size = batch_size
    namespace = f'sink.{store.dialect.name}'
    self._changed = Metrics.counter(namespace, f'{kind}_changed')
    self._skipped = Metrics.counter(namespace, f'{kind}_unchanged')
    self._store: Optional[Store] = None
    self._buffer: Optional[Buffer] = None

  def setup(self):
    import copy
    self._store = copy.copy(self._store_proto)
    self._store.open()
    self._store.ensure_schema()
    if self._kind == RESULTS and self._generation == 0:
      self._warn_if_recovered()
    if self._run_id is not None:
      d = self._store.dialect
      now = d.now()
      self._store.run_in_transaction(lambda cur: cur.execute(
          run_start_sql(d), {'run_id': self._run_id, 'started_at': now,
                             'updated_at': now, 'status': 'running'}))

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

  def start_bundle(self):
    self._buffer = Buffer(self._kind)

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

  def _flush(self):
    if self._buffer is None or not len(self._buffer):
      return
    d = self._store.dialect
    buffer = self._buffer
    changed, skipped = self._store.run_in_transaction(
        lambda cur: write_buffer(cur, d, buffer, self._run_id, d.now(),
                                 self._generation))
    self._changed.inc(changed)
    self._skipped.inc(skipped)
    _LOG.debug('%s: %s rows changed, %s unchanged in %s', self._kind, changed,
               skipped, self._store.describe())
    buffer.clear()


def new_run_id() -> str:
  """A sortable, unique id: UTC start time plus a random suffix."""
  stamp = datetime.datetime.now(datetime.timezone.utc).strftime(
      '%Y%m%dT%H%M%SZ')
  return f'{stamp}-{uuid.uuid4().hex[:8]}'


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
    self.run_id = (run_id or new_run_id()) if track_run else None
    self._batch_size = batch_size

  def expand(self, pcolls):
    if not isinstance(pcolls, dict):
      raise TypeError(
          f'{type(self).__name__} expects a dict of PCollections with keys '
          f'{list(KINDS)}, got {type(pcolls).__name__}')
    unknown = set(pcolls) - set(KINDS)
    if unknown:
      raise ValueError(f'{type(self).__name__}: unknown keys {sorted(unknown)};'
                       f' expected some of {list(KINDS)}')
    out = {}
    for kind in KINDS:
      if kind in pcolls:
        name = ''.join(p.title() for p in kind.split('_'))
        out[kind] = pcolls[kind] | f'Upsert{name}' >> beam.ParDo(
            _UpsertFn(self._store, kind, self.run_id, self._batch_size,
                      self.generation))
    return out

  def finish_run(self, status: str,
                 counts: Optional[Dict[str, Any]] = None) -> None:
    """Records the end of this run in ``pipeline_runs`` (call it from the
    launcher after ``wait_until_finish``): status such as 'succeeded' or
    'failed', and the run's counts (read, valid, dead letters, ...)."""
    if self.run_id is None:
      return
    import copy
    store = copy.copy(self._store)
    store.open()
    try:
      store.ensure_schema()
      d = store.dialect
      now = d.now()

      def finish(cur):
        cur.execute(run_start_sql(d), {'run_id': self.run_id,
                                       'started_at': now, 'updated_at': now,
                                       'status': status})
        cur.execute(run_finish_sql(d), {
            'status': status, 'counts': d.json(counts), 'updated_at': now,
            'run_id': self.run_id})
      store.run_in_transaction(finish)
    finally:
      store.close()


def backoff_delays(attempts: int, base: float, cap: float) -> Iterable[float]:
  """Exponential backoff with jitter: base, 2*base, ... capped; attempts-1
  delays (none after the last attempt)."""
  import random
  for i in range(max(attempts - 1, 0)):
    delay = min(cap, base * (2 ** i))
    yield delay * (0.5 + random.random() / 2)


def sleep(seconds: float) -> None:
  time.sleep(seconds)
