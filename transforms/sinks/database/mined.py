"""The mined tables (transforms/sinks/mined.py) in a database.

Each is created when a run first writes it (so a run without the mining
flags leaves the database as before) with the declared columns, plus
``generation`` when its rows carry panes, and ``updated_at``. Upserts on
the declared key:

* rows with panes (anomalies, product_pairs): the rule of
  ``sales_by_category``, a row is replaced only by a strictly newer pane
  ``(generation, pane_index, is_final)``;
* rows without (customer_segments, segment_summary: a bounded run's
  answer): a later run's row replaces the earlier one when a value differs,
  so the same input twice leaves the table (``updated_at`` included) as it
  was.

These tables are not counted in ``pipeline_runs``.
"""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

from apache_beam.metrics import Metrics

from transforms.sinks.buffered import BufferedStoreFn
from transforms.sinks.database.dialect import Dialect
from transforms.sinks.database.params import column_value
from transforms.sinks.database.store import Store
from transforms.sinks.mined import MINED_TABLES, MinedTable

Column = Tuple[str, str, bool]


def columns(spec: MinedTable) -> List[Column]:
  """(name, logical type, NOT NULL) in CREATE TABLE order."""
  out = [(name, logical, not spec.nullable(name))
         for name, logical in spec.types.items()]
  if spec.has_panes:
    out.append(('generation', 'bigint', True))
  out.append(('updated_at', 'time', True))
  return out


def create_sql(d: Dialect, kind: str) -> str:
  spec = MINED_TABLES[kind]
  return d.create_sql(spec.table, columns(spec), spec.key)


def upsert_sql(d: Dialect, kind: str) -> str:
  spec = MINED_TABLES[kind]
  t = spec.table
  names = [c for c, _, _ in columns(spec)]
  sets = ', '.join(f'{c} = excluded.{c}' for c in names if c not in spec.key)
  if spec.has_panes:
    where = (f'(excluded.generation, excluded.pane_index, excluded.is_final)'
             f' > ({t}.generation, {t}.pane_index, {t}.is_final)')
  else:
    # (no NULL columns in these tables: <> decides)
    where = ' OR '.join(f'{t}.{c} <> excluded.{c}' for c in names
                        if c not in spec.key and c != 'updated_at')
  return (f'{d.insert_sql(t, names)}\n'
          f'ON CONFLICT ({", ".join(spec.key)}) DO UPDATE SET {sets}\n'
          f'WHERE {where}')


def params(d: Dialect, kind: str, row: Dict[str, Any], now,
           generation: int) -> Dict[str, Any]:
  spec = MINED_TABLES[kind]
  out = {name: None if row[name] is None else
         column_value(d, logical, row[name])
         for name, logical in spec.types.items()}
  if spec.has_panes:
    out['generation'] = generation
  out['updated_at'] = now
  return out


def row_rank(row: Dict[str, Any]) -> Tuple[int, bool]:
  return (int(row['pane_index']), bool(row['is_final']))


class MinedBuffer:
  """A bundle's rows of one mined kind, the newest pane per key."""

  def __init__(self, kind: str) -> None:
    self.spec = MINED_TABLES[kind]
    self._rows: Dict[Tuple, Dict[str, Any]] = {}

  def __len__(self) -> int:
    return len(self._rows)

  def add(self, row: Dict[str, Any]) -> None:
    key = tuple(row[k] for k in self.spec.key)
    old = self._rows.get(key)
    if (old is None or not self.spec.has_panes
        or row_rank(row) > row_rank(old)):
      self._rows[key] = row

  def sorted_rows(self) -> List[Dict[str, Any]]:
    return [self._rows[k] for k in sorted(self._rows)]

  def clear(self) -> None:
    self._rows.clear()


class UpsertMinedFn(BufferedStoreFn):
  """Creates the kind's table if needed; upserts rows once per bundle."""

  def __init__(self, store: Store, kind: str, batch_size: int,
               generation: int = 0) -> None:
    super().__init__(store, batch_size)
    self._kind = kind
    self._generation = generation
    self._changed = Metrics.counter(f'sink.{store.dialect.name}',
                                    f'{kind}_changed')

  def setup(self):
    super().setup()
    d = self._store.dialect

    def create(cursor):
      d.lock(cursor, 'sales-pipeline schema')
      cursor.execute(create_sql(d, self._kind))
    self._store.run_in_transaction(create)

  def new_buffer(self) -> MinedBuffer:
    return MinedBuffer(self._kind)

  def write_bundle(self, buffer: MinedBuffer) -> None:
    d = self._store.dialect
    rows = buffer.sorted_rows()

    def write(cursor):
      now = d.now()
      cursor.executemany(upsert_sql(d, self._kind),
                         [params(d, self._kind, r, now, self._generation)
                          for r in rows])
      return max(cursor.rowcount, 0)
    self._changed.inc(self._store.run_in_transaction(write))
