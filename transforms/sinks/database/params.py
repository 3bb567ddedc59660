"""Rows -> SQL parameters: row identities, pane ranks and clean values.

Every value a row carries passes through its dialect here (times, money,
booleans) and through ``clean_text`` (text any database accepts).
"""
from __future__ import annotations

from typing import Any, Dict, Tuple

from transforms.records import CategoryResult, DeadLetter, TopProduct
from transforms.sinks.database.dialect import Dialect
from transforms.sinks.database.tables import (CATEGORY_TABLE, NO_PARTITION,
                                              TABLE_COLUMNS, TOP_TABLE)


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


def window_params(d: Dialect, key: Tuple[int, int, str]) -> Dict[str, Any]:
  """The window_start / window_end / customer_id parameters of a window key."""
  return {'window_start': d.time(key[0]), 'window_end': d.time(key[1]),
          'customer_id': clean_text(key[2])}


def column_value(d: Dialect, logical: str, value) -> Any:
  """A row's value for a column of the given logical type (tables.py);
  None stays NULL (a nullable column, e.g. the total row's rank)."""
  if value is None:
    return None
  if logical == 'money':
    return d.money(value)
  if logical == 'bool':
    return d.boolean(value)
  if logical in ('int', 'bigint'):
    return int(value)
  if logical == 'text':
    return clean_text(value)
  if logical == 'float':
    return float(value)
  if logical == 'time':
    return d.time(value)
  raise ValueError(f'no row value for a {logical!r} column')


def _windowed_params(d: Dialect, table: str, row, now,
                     generation: int) -> Dict[str, Any]:
  """A result or top-product row: its window, this writer's generation and
  ``now``, then each other column of ``table`` from the row's field of the
  same name, converted by the column's logical type."""
  out = window_params(d, window_key(row))
  out.update(generation=generation, updated_at=now)
  for name, logical, _ in TABLE_COLUMNS[table]:
    if name not in out:
      out[name] = column_value(d, logical, getattr(row, name))
  return out


def category_params(d: Dialect, row: CategoryResult, now,
                    generation: int = 0) -> Dict[str, Any]:
  return _windowed_params(d, CATEGORY_TABLE, row, now, generation)


def top_product_params(d: Dialect, row: TopProduct, now,
                       generation: int = 0) -> Dict[str, Any]:
  return _windowed_params(d, TOP_TABLE, row, now, generation)


def dead_letter_params(d: Dialect, row: DeadLetter, now) -> Dict[str, Any]:
  source, partition, position = dead_letter_key(row)
  return {'source': clean_text(source), 'partition': partition,
          'position': position, 'reason': clean_text(row.reason),
          'detail': clean_text(row.detail), 'payload': clean_text(row.payload),
          'updated_at': now}
