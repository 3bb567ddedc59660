"""What every reference implementation shares: the rules of the batch job as
constants and regular expressions (fields, epoch range, price and rate
scales, ISO-8601 and price syntax), the Unsupported error for inputs outside
the references' limits, and the canonical result document (`canonical`,
revenue rounded to cents half-up only at the end) they all write."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Dict, List, Tuple

FIELDS = ('order_id', 'customer_id', 'product_id', 'quantity', 'unit_price',
          'currency', 'event_time', 'country')
ID_FIELDS = FIELDS[:3]
MAX_EPOCH_MS = 253370764799999  # 9998-12-31T23:59:59.999Z (docs/semantics.md)
PRICE_SCALE = 6
RATE_SCALE = 8
REV_SCALE = PRICE_SCALE + RATE_SCALE
CENT = Decimal('0.01')
ISO_RE = (r'^([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2})'
          r'(:([0-9]{2})(\.([0-9]{1,6}))?)?(Z|[+-][0-9]{2}:[0-9]{2})$')
PRICE_RE = r'^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$'
PRICE_EXACT_RE = r'^[+-]?([0-9]+(\.[0-9]{0,6})?|\.[0-9]{1,6})$'


class Unsupported(ValueError):
  """An input outside the reference's documented limits."""


def cents(scaled_sum: int) -> str:
  return str((Decimal(scaled_sum).scaleb(-REV_SCALE)).quantize(
      CENT, rounding=ROUND_HALF_UP))


def canonical(counts: Dict[str, int],
              rows: List[Tuple[int, str, int, int, int, int]]) -> Dict:
  """rows: (window_start_ms, category, orders, units, revenue scaled int,
  distinct customers) -> the comparable JSON document."""
  counts = dict(counts)
  counts['dead_letters'] = sum(
      n for k, n in counts.items()
      if k not in ('read', 'valid', 'duplicates', 'dead_letters'))
  return {
      'counts': dict(sorted(counts.items())),
      'rows': sorted([int(w), c, int(o), int(u), cents(int(r)), int(d)]
                     for w, c, o, u, r, d in rows),
  }
