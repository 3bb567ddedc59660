"""Vectorized parse + validate: a chunk of records -> an Arrow table of valid
orders, plus DeadLetters for the rest.

Exactness strategy (docs/semantics.md): every row first goes through cheap
vectorized checks (pyarrow.compute) that only accept values whose meaning is
unambiguous (e.g. an ID that is a string of printable ASCII, optionally padded
with spaces; a price with at most 6 decimals; an ISO time of one of four fixed
shapes). A row that passes all of them is valid, and its normalised values
are exactly those `transforms.validate.check_order` would produce. Every other
row (dirty, or merely unusual) is handed to `check_order` itself, so dead
letters carry exactly the record path's reason and detail, and unusual valid
rows get exactly the record path's values.

JSON Lines of the common shape are not decoded at all (jsonl.py). Every
other record is decoded with orjson (decoding.py); a line orjson rejects,
or may have read differently (an integer beyond 64 bits, at any depth), is
re-decoded with the record path's own `decode_payload` (stdlib json), so
what is `malformed` and every detail are the record path's.

Prices are carried as decimal128(13, 6); a valid row whose price does not
fit that exactly is kept as a Python `Order` ("exotic") and priced and
aggregated with the record path's code (usd.py, partials.py).
"""
from __future__ import annotations

import decimal
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.currency import RATE_DIGITS, rate_decimals
from transforms.event_time import MAX_EPOCH_MS, iso_ms_strings
from transforms.parse import decode_payload, payload_text
from transforms.records import DeadLetter, Order
from transforms.validate import (MAX_QUANTITY, MAX_UNIT_PRICE, MIN_QUANTITY,
                                 Rejection, check_order, is_unicode)
from transforms.vectorized.decoding import UNDECODED, lossy_decoding

PRICE_SCALE = 6
PRICE_TYPE = pa.decimal128(13, PRICE_SCALE)  # <= 1000000 with 6 decimals
QTY_DEC = pa.decimal128(5, 0)
POSITION_BITS = 40  # k = source_rank << 40 | position

PRINTABLE_ID = r'^ *[!-~]+ *$'
BLANK = r'^ *$'
QTY_TEXT = r'^ *[0-9]{1,5} *$'
PRICE_TEXT = r'^ *[0-9]{1,7}(\.[0-9]{1,6})? *$'
_PRICE_REPR = r'^[0-9]{1,7}(\.[0-9]{1,6})?$'
EPOCH_TEXT = r'^ *[0-9]{1,15} *$'
COUNTRY_TEXT = r'^ *[A-Za-z]{2} *$'


_WIDE = decimal.Context(prec=80)


class Rates(NamedTuple):
  """The FX table prepared for Arrow arithmetic."""
  codes: pa.Array  # string
  values: pa.Array  # decimal128(18, scale)
  amount_type: pa.DataType  # decimal128(38, 6 + scale)
  decimals: Dict[str, decimal.Decimal]


class PreparedRates:
  """A DoFn's cache of the FX side input prepared for Arrow: prepared
  again only when the rates table changes."""

  def __init__(self) -> None:
    self._key = None
    self._rates = None

  def of(self, fx_rates: Dict[str, decimal.Decimal]) -> Rates:
    key = tuple(sorted(fx_rates.items()))
    if key != self._key:
      self._rates = prepare_rates(dict(fx_rates))
      self._key = key
    return self._rates


def prepare_rates(rates: Dict[str, decimal.Decimal]) -> Rates:
  """The FX table as Arrow decimals; currency.parse_fx_rates has checked
  before the run that every rate fits decimal128(RATE_DIGITS, scale)."""
  items = sorted(rates.items())
  scale = max(rate_decimals(r) for _, r in items)
  rate_type = pa.decimal128(RATE_DIGITS, scale)
  step = decimal.Decimal(1).scaleb(-scale)
  values = pa.array([r.quantize(step, context=_WIDE) for _, r in items],
                    type=rate_type)
  return Rates(pa.array([c for c, _ in items], pa.string()), values,
               pa.decimal128(38, PRICE_SCALE + scale), dict(rates))


# The valid orders of a chunk, as ParseOrders emits them. A row whose unit
# price does not fit PRICE_TYPE exactly is "exotic": its `price` is null and
# `exotic` indexes the Order kept for it in Python (priced and aggregated
# with the record path's code).
VALID_SCHEMA = pa.schema([
    ('order_id', pa.string()),
    ('customer_id', pa.string()),
    ('product_id', pa.string()),
    ('quantity', pa.int64()),
    ('price', PRICE_TYPE),
    ('currency', pa.string()),
    ('event_ms', pa.int64()),
    ('k', pa.int64()),
    ('exotic', pa.int32()),
])


def empty_valid() -> pa.Table:
  return VALID_SCHEMA.empty_table()


class Checked(NamedTuple):
  """The result of validating one chunk."""
  table: pa.Table  # VALID_SCHEMA
  exotic: List[Order]  # referenced by table['exotic']
  dead: List[DeadLetter]
  read: int


# --- vectorized checks ----------------------------------------------------------

def _strs(values: Sequence[Any]) -> pa.Array:
  """The str values (others null) as a string array; a str Arrow cannot hold
  (a lone surrogate) is null too, so its row takes the scalar rule."""
  try:
    return pa.array([v if type(v) is str else None for v in values],
                    pa.string())
  except UnicodeEncodeError:
    return pa.array([v if type(v) is str and is_unicode(v) else None
                     for v in values], pa.string())


def _ints(values: Sequence[Any], lo: int, hi: int) -> pa.Array:
  """Python ints in [lo, hi] (not bools) as int64; everything else null."""
  return pa.array([v if type(v) is int and lo <= v <= hi else None
                   for v in values], pa.int64())


def matches(arr: pa.Array, pattern: str) -> pa.Array:
  return pc.fill_null(pc.match_substring_regex(arr, pattern), False)


def price_in_range(price: pa.Array) -> pa.Array:
  """validate.py's price rule, 0 < p <= MAX_UNIT_PRICE, on a column."""
  return pc.and_(
      pc.greater(price, pa.scalar(decimal.Decimal(0), PRICE_TYPE)),
      pc.less_equal(price, pa.scalar(MAX_UNIT_PRICE, PRICE_TYPE)))


def currency_codes(text: pa.Array, rates: Rates
                   ) -> Tuple[np.ndarray, pa.Array]:
  """(ok, code): validate.py's currency rule on a column: the trimmed,
  upper-cased code of a printable string that has an FX rate."""
  code = pc.ascii_upper(pc.utf8_trim(text, ' '))
  known = pc.is_valid(pc.index_in(code, value_set=rates.codes))
  return as_mask(pc.and_(pc.match_substring_regex(text, PRINTABLE_ID),
                         known)), code


def as_mask(mask: pa.Array) -> np.ndarray:
  return pc.fill_null(mask, False).to_numpy(zero_copy_only=False)


def fast_columns(objs: Sequence[Any], rates: Rates
                 ) -> Tuple[np.ndarray, Dict[str, pa.Array]]:
  """(ok mask, normalised columns) for decoded records.

  A row with ok=True is valid and its column values are exactly check_order's.
  Columns hold garbage/nulls where ok is False.
  """
  n = len(objs)
  recs = [o if type(o) is dict else None for o in objs]
  ok = np.fromiter((r is not None for r in recs), bool, n)
  empty: Dict[str, Any] = {}
  recs = [r if r is not None else empty for r in recs]
  cols: Dict[str, pa.Array] = {}

  for name in ('order_id', 'customer_id', 'product_id'):
    s = _strs([r.get(name) for r in recs])
    ok &= as_mask(pc.match_substring_regex(s, PRINTABLE_ID))
    cols[name] = pc.utf8_trim(s, ' ')

  raw = [r.get('quantity') for r in recs]
  q_int = _ints(raw, MIN_QUANTITY, MAX_QUANTITY)
  q_str = _strs(raw)
  q_str_ok = matches(q_str, QTY_TEXT)
  q_str_val = pc.cast(pc.utf8_trim(pc.if_else(q_str_ok, q_str, '0'), ' '),
                      pa.int64())
  q_str_val = pc.if_else(
      pc.and_(pc.greater_equal(q_str_val, MIN_QUANTITY),
              pc.less_equal(q_str_val, MAX_QUANTITY)), q_str_val, None)
  quantity = pc.coalesce(q_int, q_str_val)
  ok &= as_mask(pc.is_valid(quantity))
  cols['quantity'] = quantity

  raw = [r.get('unit_price') for r in recs]
  p_int = _ints(raw, 1, int(MAX_UNIT_PRICE))
  floats = pa.array([v if type(v) is float else None for v in raw],
                    pa.float64())
  p_float = pc.cast(floats, pa.string())  # shortest round-trip digits
  p_float = pc.if_else(matches(p_float, _PRICE_REPR), p_float, None)
  p_str = _strs(raw)
  p_str = pc.if_else(matches(p_str, PRICE_TEXT), pc.utf8_trim(p_str, ' '),
                     None)
  p_text = pc.coalesce(p_float, p_str)
  price = pc.coalesce(
      pc.cast(pc.cast(p_int, pa.decimal128(19, 0)), PRICE_TYPE),
      pc.cast(p_text, PRICE_TYPE))
  ok &= as_mask(price_in_range(price))

  currency_ok, code = currency_codes(_strs([r.get('currency') for r in recs]),
                                     rates)
  ok &= currency_ok
  cols['price'] = price
  cols['currency'] = code

  raw = [r.get('event_time') for r in recs]
  t_int = _ints(raw, 0, MAX_EPOCH_MS)
  t_str = _strs(raw)
  epoch_ok = matches(t_str, EPOCH_TEXT)
  t_epoch = pc.cast(pc.utf8_trim(pc.if_else(epoch_ok, t_str, '0'), ' '),
                    pa.int64())
  t_epoch = pc.if_else(pc.and_(epoch_ok, pc.less_equal(t_epoch, MAX_EPOCH_MS)),
                       t_epoch, None)
  iso_ok, iso_ms = iso_ms_strings(t_str)
  t_iso = pa.array(iso_ms, pa.int64(), mask=~iso_ok)
  event_ms = pc.coalesce(t_int, t_epoch, t_iso)
  ok &= as_mask(pc.is_valid(event_ms))
  cols['event_ms'] = event_ms

  raw = [r.get('country') for r in recs]
  c_none = np.fromiter((v is None for v in raw), bool, n)
  c_str = _strs(raw)
  ok &= c_none | as_mask(pc.or_(pc.match_substring_regex(c_str, BLANK),
                            pc.match_substring_regex(c_str, COUNTRY_TEXT)))

  return ok, cols


def _fitted(amount: decimal.Decimal,
            amount_type: pa.Decimal128Type) -> Optional[decimal.Decimal]:
  """The value at the type's scale if that is exact and in range, else None."""
  try:
    scaled = amount.quantize(decimal.Decimal(1).scaleb(-amount_type.scale),
                             context=_WIDE)
  except decimal.InvalidOperation:
    return None
  if scaled != amount or abs(scaled) >= decimal.Decimal(10) ** (
      amount_type.precision - amount_type.scale):
    return None
  return scaled


def check_chunk(objs: Sequence[Any], numbers: Sequence[int],
                payloads: Sequence[Any], source: str, source_rank: int,
                rates: Rates, decode_errors: Optional[Dict[int, str]] = None,
                event_time_overrides: Optional[Sequence[Optional[int]]] = None
                ) -> Checked:
  """Validates decoded records; the slow rows go through check_order.

  objs[i] is a decoded record, or UNDECODED (decode payloads[i] with the record
  path's decoder). decode_errors: index -> a source's decode error (CSV rows
  with the wrong number of fields): those rows are `malformed`.
  event_time_overrides: per row, the transport's event time, which replaces
  the payload's where it is not None (check_order's event_time_override_ms).
  """
  n = len(objs)
  ok, cols = fast_columns(objs, rates)
  overrides = [None] * n
  if event_time_overrides is not None:
    # A row refused only for its payload's time is decided by check_order.
    overrides = list(event_time_overrides)
    cols['event_ms'] = pc.coalesce(pa.array(overrides, pa.int64()),
                                   cols['event_ms'])
  if decode_errors:
    for i in decode_errors:
      ok[i] = False
  dead: List[DeadLetter] = []
  slow_valid: List[Tuple[int, Order]] = []
  currencies = rates.decimals
  for i in np.flatnonzero(~ok).tolist():
    rejection: Optional[Rejection] = None
    record = objs[i]
    if decode_errors and i in decode_errors:
      rejection = Rejection('malformed', decode_errors[i])
    elif record is UNDECODED or (isinstance(payloads[i], (bytes, str)) and
                                 lossy_decoding(record)):
      try:
        record = decode_payload(payloads[i])
      except (ValueError, RecursionError) as e:
        rejection = Rejection('malformed', str(e)[:200])
    if rejection is None:
      result = check_order(record, currencies, source, None, numbers[i],
                           overrides[i])
      if isinstance(result, Rejection):
        rejection = result
      else:
        slow_valid.append((i, result))
    if rejection is not None:
      dead.append(DeadLetter(reason=rejection.reason, detail=rejection.detail,
                             payload=payload_text(payloads[i]), source=source,
                             partition=None, position=numbers[i]))

  positions = np.asarray(numbers, np.int64)
  k = (np.int64(source_rank) << POSITION_BITS) | positions
  mask = pa.array(ok)
  fast = pa.table({
      'order_id': pc.filter(cols['order_id'], mask),
      'customer_id': pc.filter(cols['customer_id'], mask),
      'product_id': pc.filter(cols['product_id'], mask),
      'quantity': pc.filter(cols['quantity'], mask),
      'price': pc.filter(cols['price'], mask),
      'currency': pc.filter(cols['currency'], mask),
      'event_ms': pc.filter(cols['event_ms'], mask),
      'k': pa.array(k[ok]),
      'exotic': pa.nulls(int(ok.sum()), pa.int32()),
  }, schema=VALID_SCHEMA)
  exotic: List[Order] = []
  if slow_valid:
    rows = {name: [] for name in VALID_SCHEMA.names}
    for i, order in slow_valid:
      price = _fitted(order.unit_price, PRICE_TYPE)
      rows['order_id'].append(order.order_id)
      rows['customer_id'].append(order.customer_id)
      rows['product_id'].append(order.product_id)
      rows['quantity'].append(order.quantity)
      rows['price'].append(price)
      rows['currency'].append(order.currency)
      rows['event_ms'].append(order.event_time_ms)
      rows['k'].append(int(k[i]))
      if price is not None:
        rows['exotic'].append(None)
      else:
        rows['exotic'].append(len(exotic))
        exotic.append(order)
    fast = pa.concat_tables([fast, pa.table(rows, schema=VALID_SCHEMA)])
  return Checked(fast, exotic, dead, n)


