"""Row conversion shared by every sink: kinds, rounding, times, plain dicts.

Every sink takes the same dict of PCollections, keyed by ``KINDS``, and
names its tables (topics, files) after ``TABLE_NAMES``.
"""
from __future__ import annotations

import decimal
from typing import Any, Dict, Union

from transforms.event_time import format_utc_ms
from transforms.records import CategoryResult, DeadLetter, TopProduct

# The keys of the dict of PCollections every sink is applied to.
RESULTS = 'results'
TOP_PRODUCTS = 'top_products'
DEAD_LETTERS = 'dead_letters'
KINDS = (RESULTS, TOP_PRODUCTS, DEAD_LETTERS)

# What each kind's table (or file, without its extension) is called.
TABLE_NAMES = {
    RESULTS: 'sales_by_category',
    TOP_PRODUCTS: 'top_products',
    DEAD_LETTERS: 'dead_letters',
}

CENT = decimal.Decimal('0.01')


def to_cents(value: decimal.Decimal) -> decimal.Decimal:
  """Rounds money to cents, half up: the only place money is rounded."""
  return value.quantize(CENT, rounding=decimal.ROUND_HALF_UP)


def result_dict(row: Union[CategoryResult, TopProduct]) -> Dict[str, Any]:
  """A result or top-product row as a dict with money rounded to cents."""
  out = row._asdict()
  for name in ('revenue_usd', 'avg_order_value_usd'):
    if name in out:
      out[name] = to_cents(out[name])
  return out


def json_ready(row: Union[CategoryResult, TopProduct]) -> Dict[str, Any]:
  """Like result_dict, with money as strings and ISO-8601 window bounds."""
  out = result_dict(row)
  for name in ('revenue_usd', 'avg_order_value_usd'):
    if name in out:
      out[name] = str(out[name])
  out['window_start'] = format_utc_ms(out['window_start_ms'])
  out['window_end'] = format_utc_ms(out['window_end_ms'])
  return out


def dead_letter_dict(letter: DeadLetter) -> Dict[str, Any]:
  return letter._asdict()


def row_key(row) -> str:
  """A row's identity as text, for message keys a consumer upserts on.

  ``<window_start_ms>|<window_end_ms>|<customer_id>|<category or rank>``;
  dead letters ``<source>|<partition>|<position>`` (partition empty when
  the source has none).
  """
  if isinstance(row, CategoryResult):
    return (f'{row.window_start_ms}|{row.window_end_ms}|{row.customer_id}|'
            f'{row.category}')
  if isinstance(row, TopProduct):
    return (f'{row.window_start_ms}|{row.window_end_ms}|{row.customer_id}|'
            f'{row.rank}')
  if isinstance(row, DeadLetter):
    return (f'{row.source}|{"" if row.partition is None else row.partition}|'
            f'{row.position}')
  raise TypeError(f'no row key for {type(row).__name__}')
