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
