"""The database tables: names, columns (logical types), keys, defaults.

Each dialect maps the logical types (time, money, text, int, bigint, bool,
json) to its SQL types; the package docstring describes every column.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

from transforms.sinks.rows import (DEAD_LETTERS, KINDS, RESULTS, TABLE_NAMES,
                                   TOP_PRODUCTS)

__all__ = [
    'RESULTS', 'TOP_PRODUCTS', 'DEAD_LETTERS', 'KINDS', 'CATEGORY_TABLE',
    'TOP_TABLE', 'DEAD_LETTER_TABLE', 'RUNS_TABLE', 'NO_PARTITION',
    'TABLE_COLUMNS', 'PRIMARY_KEYS', 'COLUMN_DEFAULTS', 'WRITTEN_COLUMN',
    'column_names',
]

CATEGORY_TABLE = TABLE_NAMES[RESULTS]
TOP_TABLE = TABLE_NAMES[TOP_PRODUCTS]
DEAD_LETTER_TABLE = TABLE_NAMES[DEAD_LETTERS]
RUNS_TABLE = 'pipeline_runs'

# The partition value stored for sources that have none (files, Pub/Sub):
# primary-key columns cannot be NULL.
NO_PARTITION = -1


def _columns(spec: str) -> List[Tuple[str, str, bool]]:
  """'name type, ...' -> [(name, logical type, NOT NULL)]; a type ending
  in '?' may be NULL."""
  out = []
  for column in spec.split(','):
    name, logical = column.split()
    out.append((name, logical.rstrip('?'), not logical.endswith('?')))
  return out


_WINDOW = 'window_start time, window_end time, customer_id text, day text'
_PANE = 'generation bigint, pane_timing text, pane_index int, is_final bool'
# (name, logical type, NOT NULL), in CREATE TABLE order
TABLE_COLUMNS: Dict[str, List[Tuple[str, str, bool]]] = {
    CATEGORY_TABLE: _columns(
        f'{_WINDOW}, category text, rank int?, orders bigint, units bigint, '
        f'revenue_usd money, distinct_customers bigint, '
        f'avg_order_value_usd money, {_PANE}, updated_at time'),
    TOP_TABLE: _columns(
        f'{_WINDOW}, rank int, product_id text, product_name text, '
        f'category text, orders bigint, units bigint, revenue_usd money, '
        f'{_PANE}, updated_at time'),
    DEAD_LETTER_TABLE: _columns(
        'source text, partition bigint, position bigint, reason text, '
        'detail text, payload text, updated_at time'),
    RUNS_TABLE: _columns(
        'run_id text, started_at time, updated_at time, status text, '
        'results_written bigint, top_products_written bigint, '
        'dead_letters_written bigint, counts json?'),
}
PRIMARY_KEYS: Dict[str, Tuple[str, ...]] = {
    CATEGORY_TABLE: ('window_start', 'window_end', 'customer_id', 'category'),
    TOP_TABLE: ('window_start', 'window_end', 'customer_id', 'rank'),
    DEAD_LETTER_TABLE: ('source', 'partition', 'position'),
    RUNS_TABLE: ('run_id',),
}
# (table, column) -> SQL default
COLUMN_DEFAULTS: Dict[Tuple[str, str], str] = {
    (RUNS_TABLE, 'results_written'): '0',
    (RUNS_TABLE, 'top_products_written'): '0',
    (RUNS_TABLE, 'dead_letters_written'): '0',
}
# The pipeline_runs column that counts the rows a run changed, per kind.
WRITTEN_COLUMN: Dict[str, str] = {
    RESULTS: 'results_written',
    TOP_PRODUCTS: 'top_products_written',
    DEAD_LETTERS: 'dead_letters_written',
}


def column_names(table: str) -> List[str]:
  return [c for c, _, _ in TABLE_COLUMNS[table]]
