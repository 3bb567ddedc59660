"""The upserts: which row wins, and the per-bundle buffers that feed them.

A pane is ranked by ``(generation, pane_index, is_final)`` and a row is
replaced only by a strictly newer pane (see the package docstring). The
rule is stated once, in SQL, for both databases: ``category_upsert_sql``
for results, ``write_top_products`` (a window's whole list at once) for
top products; dead letters are updated only when their content changed.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from transforms.records import TopProduct
from transforms.sinks.database.dialect import Dialect
from transforms.sinks.database.params import (category_key, category_params,
                                              dead_letter_key,
                                              dead_letter_params, pane_rank,
                                              top_product_params, window_key,
                                              window_params)
from transforms.sinks.database.runs import count_written
from transforms.sinks.database.tables import (CATEGORY_TABLE,
                                              DEAD_LETTER_TABLE, DEAD_LETTERS,
                                              KINDS, PRIMARY_KEYS, RESULTS,
                                              TOP_TABLE, column_names)

# --- SQL --------------------------------------------------------------------


def category_upsert_sql(d: Dialect) -> str:
  cols = column_names(CATEGORY_TABLE)
  key = PRIMARY_KEYS[CATEGORY_TABLE]
  sets = ', '.join(f'{c} = excluded.{c}' for c in cols if c not in key)
  t = CATEGORY_TABLE
  return (f'{d.insert_sql(t, cols)}\n'
          f'ON CONFLICT ({", ".join(key)}) DO UPDATE SET {sets}\n'
          f'WHERE (excluded.generation, excluded.pane_index, excluded.is_final)'
          f' > ({t}.generation, {t}.pane_index, {t}.is_final)')


def dead_letter_upsert_sql(d: Dialect) -> str:
  cols = column_names(DEAD_LETTER_TABLE)
  key = PRIMARY_KEYS[DEAD_LETTER_TABLE]
  t = DEAD_LETTER_TABLE
  sets = ', '.join(f'{c} = excluded.{c}' for c in cols if c not in key)
  changed = ' OR '.join(f'{t}.{c} <> excluded.{c}'
                        for c in ('reason', 'detail', 'payload'))
  return (f'{d.insert_sql(t, cols)}\n'
          f'ON CONFLICT ({", ".join(key)}) DO UPDATE SET {sets}\n'
          f'WHERE {changed}')


def _window_where(d: Dialect) -> str:
  return ' AND '.join(f'{c} = {d.param(c)}'
                      for c in ('window_start', 'window_end', 'customer_id'))


def top_current_pane_sql(d: Dialect) -> str:
  return (f'SELECT generation, pane_index, is_final FROM {TOP_TABLE} WHERE '
          f'{_window_where(d)} ORDER BY generation DESC, pane_index DESC, '
          f'is_final DESC LIMIT 1')


def top_delete_sql(d: Dialect) -> str:
  return f'DELETE FROM {TOP_TABLE} WHERE {_window_where(d)}'


def top_insert_sql(d: Dialect) -> str:
  # Only rows of the pane already in the table can conflict here: the same
  # pane written again (or in parts), so the first copy stays.
  return (f'{d.insert_sql(TOP_TABLE, column_names(TOP_TABLE))}\n'
          f'ON CONFLICT ({", ".join(PRIMARY_KEYS[TOP_TABLE])}) DO NOTHING')


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


# --- writing a buffer -------------------------------------------------------


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
    changed, total = write_top_products(cursor, d, buffer, now, generation)
  if run_id is not None and total:
    count_written(cursor, d, run_id, buffer.kind, changed, now)
  return changed, total - changed


def write_top_products(cursor, d: Dialect, buffer: Buffer, now,
                       generation: int = 0) -> Tuple[int, int]:
  """Writes each window's list of a top-products buffer: a newer pane's
  list replaces the whole older one; an older pane's list is skipped.
  Returns (rows changed, rows seen)."""
  changed = total = 0
  for key, pane, rows in buffer.sorted_windows():
    rank = (generation,) + pane
    total += len(rows)
    where = window_params(d, key)
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
