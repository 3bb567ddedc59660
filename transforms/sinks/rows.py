"""Row conversion shared by every sink: rounding, times, plain dicts."""
from __future__ import annotations

import decimal
from typing import Any, Dict, Union

from transforms.event_time import format_utc_ms
from transforms.records import CategoryResult, DeadLetter, TopProduct

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
