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

JSON Lines of the common shape (a flat object of printable-ASCII strings and
plain numbers, schema keys in schema order: see `_SHAPE`) are not decoded at
all: `check_jsonl_bytes` cuts each value out of the chunk's bytes with numpy
and types it with Arrow kernels. Every other line is decoded with orjson; a
line orjson rejects is re-decoded with the record path's own
`decode_payload` (stdlib json), so what is `malformed` and its detail are the
record path's.

Revenue: `amount` = quantity * unit_price * fx_rate as an exact
decimal128(38, 6 + rate_scale) (prices carried at scale 6, rates at their own
scale). Rows whose exact revenue does not fit that type are kept as Python
`EnrichedOrder`s ("exotic" rows) and aggregated with the record path's code.
"""
from __future__ import annotations

import decimal
from typing import (Any, Dict, Iterable, List, NamedTuple, Optional, Sequence,
                    Tuple)

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from transforms.currency import revenue_usd
from transforms.event_time import MAX_EPOCH_MS
from transforms.parse import decode_payload, payload_text
from transforms.records import DeadLetter, EnrichedOrder, Order
from transforms.validate import MAX_QUANTITY, MIN_QUANTITY, Rejection, check_order

PRICE_SCALE = 6
PRICE_TYPE = pa.decimal128(13, PRICE_SCALE)  # <= 1000000 with 6 decimals
QTY_DEC = pa.decimal128(5, 0)
POSITION_BITS = 40  # k = source_rank << 40 | position

_PRINTABLE_ID = r'^ *[!-~]+ *$'
_BLANK = r'^ *$'
_QTY_TEXT = r'^ *[0-9]{1,5} *$'
_PRICE_TEXT = r'^ *[0-9]{1,7}(\.[0-9]{1,6})? *$'
_PRICE_REPR = r'^[0-9]{1,7}(\.[0-9]{1,6})?$'
_EPOCH_TEXT = r'^ *[0-9]{1,15} *$'
_ISO_TEXT = (r'^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}'
             r'(\.[0-9]{3})?(Z|[+-][0-9]{2}:[0-9]{2})$')
_COUNTRY_TEXT = r'^ *[A-Za-z]{2} *$'


class Rates(NamedTuple):
  """The FX table prepared for Arrow arithmetic."""
  codes: pa.Array  # string
  values: pa.Array  # decimal128(18, scale)
  amount_type: pa.DataType  # decimal128(38, 6 + scale)
  decimals: Dict[str, decimal.Decimal]


def prepare_rates(rates: Dict[str, decimal.Decimal]) -> Rates:
  items = sorted(rates.items())
  scale = max(max(0, -r.as_tuple().exponent) for _, r in items)
  if scale > 12:
    raise ValueError('FX rates with more than 12 decimals are not supported '
                     'by the vectorized engine')
  rate_type = pa.decimal128(18, scale)
  values = pa.array([r for _, r in items], type=rate_type)
  return Rates(pa.array([c for c, _ in items], pa.string()), values,
               pa.decimal128(38, PRICE_SCALE + scale), dict(rates))


def valid_schema(rates: Rates) -> pa.Schema:
  return pa.schema([
      ('order_id', pa.string()),
      ('customer_id', pa.string()),
      ('product_id', pa.string()),
      ('quantity', pa.int64()),
      ('amount', rates.amount_type),
      ('event_ms', pa.int64()),
      ('k', pa.int64()),
      ('exotic', pa.int32()),
  ])


class Checked(NamedTuple):
  """The result of validating one chunk."""
  table: pa.Table  # valid_schema
  exotic: List[EnrichedOrder]  # referenced by table['exotic']
  dead: List[DeadLetter]
  read: int


# --- JSON Lines ---------------------------------------------------------------

_SLOW = object()  # orjson failed: decode with the record path's decoder


def decode_jsonl(data: bytes, first_line: int
                 ) -> Tuple[List[Any], List[int], List[bytes]]:
  """Decodes the lines of a chunk; blank lines are skipped, not counted.

  Returns (objects, line numbers, raw lines); an object is _SLOW when orjson
  rejected the line.
  """
  lines = data.split(b'\n')
  if lines and not lines[-1]:
    lines.pop()
  return _decode_numbered(enumerate(lines, start=first_line))


def _decode_numbered(numbered: Iterable[Tuple[int, bytes]]
                     ) -> Tuple[List[Any], List[int], List[bytes]]:
  """(line number, raw line) pairs -> (objects, line numbers, raw lines)."""
  loads = orjson.loads
  error = orjson.JSONDecodeError
  objs: List[Any] = []
  numbers: List[int] = []
  raws: List[bytes] = []
  for number, line in numbered:
    try:
      obj = loads(line)
    except error:
      if not line.strip():
        continue
      obj = _SLOW
    objs.append(obj)
    numbers.append(number)
    raws.append(line)
  return objs, numbers, raws


# --- vectorized checks ----------------------------------------------------------

def _strs(values: Sequence[Any]) -> pa.Array:
  return pa.array([v if type(v) is str else None for v in values], pa.string())


def _ints(values: Sequence[Any], lo: int, hi: int) -> pa.Array:
  """Python ints in [lo, hi] (not bools) as int64; everything else null."""
  return pa.array([v if type(v) is int and lo <= v <= hi else None
                   for v in values], pa.int64())


def _match(arr: pa.Array, pattern: str) -> pa.Array:
  return pc.fill_null(pc.match_substring_regex(arr, pattern), False)


def _days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
  y = y - (m <= 2)
  era = np.floor_divide(y, 400)
  yoe = y - era * 400
  mp = (m + 9) % 12
  doy = (153 * mp + 2) // 5 + d - 1
  doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468


_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _iso_ms(text: pa.Array) -> Tuple[np.ndarray, np.ndarray]:
  """(ok mask, epoch ms) for strings of the fixed ISO shapes."""
  shape_ok = _match(text, _ISO_TEXT).to_numpy(zero_copy_only=False)
  n = len(text)
  ms = np.zeros(n, np.int64)
  if not shape_ok.any():
    return shape_ok, ms
  t = pc.fill_null(pc.if_else(pa.array(shape_ok), text,
                              '1970-01-01T00:00:00Z'), '1970-01-01T00:00:00Z')

  def part(start: int, stop: int) -> np.ndarray:
    return pc.cast(pc.utf8_slice_codeunits(t, start, stop),
                   pa.int64()).to_numpy()

  year, month, day = part(0, 4), part(5, 7), part(8, 10)
  hour, minute, second = part(11, 13), part(14, 16), part(17, 19)
  length = pc.utf8_length(t).to_numpy()
  has_ms = (length == 24) | (length == 29)
  millis = np.where(has_ms, pc.cast(pc.utf8_slice_codeunits(
      pc.if_else(pa.array(has_ms), t, 'xxxxxxxxxxxxxxxxxxxx000'), 20, 23),
      pa.int64()).to_numpy(), 0)
  has_offset = (length == 25) | (length == 29)
  tail = pc.utf8_slice_codeunits(t, -6, None)
  tail = pc.if_else(pa.array(has_offset), tail, '+00:00')
  sign = np.where(pc.starts_with(tail, '-').to_numpy(zero_copy_only=False),
                  -1, 1)
  off_h = pc.cast(pc.utf8_slice_codeunits(tail, 1, 3), pa.int64()).to_numpy()
  off_m = pc.cast(pc.utf8_slice_codeunits(tail, 4, 6), pa.int64()).to_numpy()
  leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
  month_ok = (month >= 1) & (month <= 12)
  dim = _DAYS_IN_MONTH[np.where(month_ok, month, 1)] + (
      (month == 2) & leap)
  ok = (shape_ok & (year >= 1) & month_ok & (day >= 1) & (day <= dim) &
        (hour <= 23) & (minute <= 59) & (second <= 59) & (off_h <= 23) &
        (off_m <= 59))
  days = _days_from_civil(year, np.where(month_ok, month, 1), day)
  ms = (days * 86_400_000 + hour * 3_600_000 + minute * 60_000 +
        second * 1000 + millis - sign * (off_h * 3_600_000 + off_m * 60_000))
  return ok, ms


def _np(mask: pa.Array) -> np.ndarray:
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
    ok &= _np(pc.match_substring_regex(s, _PRINTABLE_ID))
    cols[name] = pc.utf8_trim(s, ' ')

  raw = [r.get('quantity') for r in recs]
  q_int = _ints(raw, MIN_QUANTITY, MAX_QUANTITY)
  q_str = _strs(raw)
  q_str_ok = _match(q_str, _QTY_TEXT)
  q_str_val = pc.cast(pc.utf8_trim(pc.if_else(q_str_ok, q_str, '0'), ' '),
                      pa.int64())
  q_str_val = pc.if_else(
      pc.and_(pc.greater_equal(q_str_val, MIN_QUANTITY),
              pc.less_equal(q_str_val, MAX_QUANTITY)), q_str_val, None)
  quantity = pc.coalesce(q_int, q_str_val)
  ok &= _np(pc.is_valid(quantity))
  cols['quantity'] = quantity

  raw = [r.get('unit_price') for r in recs]
  p_int = _ints(raw, 1, 1_000_000)
  floats = pa.array([v if type(v) is float else None for v in raw],
                    pa.float64())
  p_float = pc.cast(floats, pa.string())  # shortest round-trip digits
  p_float = pc.if_else(_match(p_float, _PRICE_REPR), p_float, None)
  p_str = _strs(raw)
  p_str = pc.if_else(_match(p_str, _PRICE_TEXT), pc.utf8_trim(p_str, ' '),
                     None)
  p_text = pc.coalesce(p_float, p_str)
  price = pc.coalesce(
      pc.cast(pc.cast(p_int, pa.decimal128(19, 0)), PRICE_TYPE),
      pc.cast(p_text, PRICE_TYPE))
  price_ok = pc.and_(
      pc.greater(price, pa.scalar(decimal.Decimal(0), PRICE_TYPE)),
      pc.less_equal(price, pa.scalar(decimal.Decimal(1_000_000), PRICE_TYPE)))
  ok &= _np(price_ok)

  s = _strs([r.get('currency') for r in recs])
  code = pc.ascii_upper(pc.utf8_trim(s, ' '))
  rate_index = pc.index_in(code, value_set=rates.codes)
  ok &= _np(pc.and_(pc.match_substring_regex(s, _PRINTABLE_ID),
                    pc.is_valid(rate_index)))
  rate = pc.take(rates.values, rate_index)

  raw = [r.get('event_time') for r in recs]
  t_int = _ints(raw, 0, MAX_EPOCH_MS)
  t_str = _strs(raw)
  epoch_ok = _match(t_str, _EPOCH_TEXT)
  t_epoch = pc.cast(pc.utf8_trim(pc.if_else(epoch_ok, t_str, '0'), ' '),
                    pa.int64())
  t_epoch = pc.if_else(pc.and_(epoch_ok, pc.less_equal(t_epoch, MAX_EPOCH_MS)),
                       t_epoch, None)
  iso_ok, iso_ms = _iso_ms(t_str)
  t_iso = pa.array(iso_ms, pa.int64(), mask=~iso_ok)
  event_ms = pc.coalesce(t_int, t_epoch, t_iso)
  ok &= _np(pc.is_valid(event_ms))
  cols['event_ms'] = event_ms

  raw = [r.get('country') for r in recs]
  c_none = np.fromiter((v is None for v in raw), bool, n)
  c_str = _strs(raw)
  ok &= c_none | _np(pc.or_(pc.match_substring_regex(c_str, _BLANK),
                            pc.match_substring_regex(c_str, _COUNTRY_TEXT)))

  cols['amount'] = _amounts(ok, quantity, price, rate, rates)
  return ok, cols


def _amounts(ok: np.ndarray, quantity: pa.Array, price: pa.Array,
             rate: pa.Array, rates: Rates) -> pa.Array:
  """quantity x unit price x FX rate, exact, for the rows marked ok (the
  other rows get neutral operands, their values are never used)."""
  if not ok.any():
    return pa.nulls(len(ok), rates.amount_type)
  mask = pa.array(ok)
  qty = pc.if_else(mask, quantity, 1)
  price_safe = pc.if_else(mask, price, pa.scalar(decimal.Decimal(1),
                                                 PRICE_TYPE))
  rate_safe = pc.if_else(mask, rate, pa.scalar(decimal.Decimal(1),
                                               rates.values.type))
  amount = pc.multiply(
      pc.multiply(pc.cast(pc.cast(qty, pa.int16()), QTY_DEC), price_safe),
      rate_safe)
  return pc.cast(amount, rates.amount_type)


_WIDE = decimal.Context(prec=80)


def _fitted(amount: decimal.Decimal,
            amount_type: pa.Decimal128Type) -> Optional[decimal.Decimal]:
  """The amount at the type's scale if that is exact and in range, else None."""
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
                rates: Rates, schema: pa.Schema,
                decode_errors: Optional[Dict[int, str]] = None) -> Checked:
  """Validates decoded records; the slow rows go through check_order.

  objs[i] is a decoded record, or _SLOW (decode payloads[i] with the record
  path's decoder). decode_errors: index -> a source's decode error (CSV rows
  with the wrong number of fields): those rows are `malformed`.
  """
  n = len(objs)
  ok, cols = fast_columns(objs, rates)
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
    elif record is _SLOW:
      try:
        record = decode_payload(payloads[i])
      except (ValueError, RecursionError) as e:
        rejection = Rejection('malformed', str(e)[:200])
    if rejection is None:
      result = check_order(record, currencies, source, None, numbers[i])
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
      'amount': pc.filter(cols['amount'], mask),
      'event_ms': pc.filter(cols['event_ms'], mask),
      'k': pa.array(k[ok]),
      'exotic': pa.nulls(int(ok.sum()), pa.int32()),
  }, schema=schema)
  exotic: List[EnrichedOrder] = []
  if slow_valid:
    amount_type = schema.field('amount').type
    rows = {name: [] for name in schema.names}
    for i, order in slow_valid:
      revenue = revenue_usd(order, currencies)
      fitted = _fitted(revenue, amount_type)
      fits = fitted is not None
      rows['order_id'].append(order.order_id)
      rows['customer_id'].append(order.customer_id)
      rows['product_id'].append(order.product_id)
      rows['quantity'].append(order.quantity)
      rows['amount'].append(fitted)
      rows['event_ms'].append(order.event_time_ms)
      rows['k'].append(int(k[i]))
      if fits:
        rows['exotic'].append(None)
      else:
        rows['exotic'].append(len(exotic))
        exotic.append(EnrichedOrder(
            order_id=order.order_id, customer_id=order.customer_id,
            product_id=order.product_id, quantity=order.quantity,
            revenue_usd=revenue, event_time_ms=order.event_time_ms,
            category='', product_name='', country=order.country))
    fast = pa.concat_tables([fast, pa.table(rows, schema=schema)])
  return Checked(fast, exotic, dead, n)


PARSE_THREADS = 1  # >1: parts of a chunk in threads (Arrow and numpy release
# the GIL); on a loaded 2-core machine no faster and ~100 MB more memory
_MIN_SPLIT_BYTES = 1 << 20
_POOL = None


def check_jsonl(data: bytes, first_line: int, source: str, source_rank: int,
                rates: Rates, schema: pa.Schema) -> Checked:
  """check_jsonl_bytes, on PARSE_THREADS newline-aligned parts at once."""
  global _POOL  # pylint: disable=global-statement
  parts: List[Tuple[bytes, int]] = []
  start, line = 0, first_line
  step = max(_MIN_SPLIT_BYTES, len(data) // max(1, PARSE_THREADS) + 1)
  while start < len(data):
    cut = data.find(b'\n', min(start + step, len(data)) - 1) + 1
    if cut == 0 or len(data) - cut < _MIN_SPLIT_BYTES // 2:
      cut = len(data)
    parts.append((data[start:cut], line))
    line += data.count(b'\n', start, cut)
    start = cut
  if len(parts) <= 1:
    return check_jsonl_bytes(data, first_line, source, source_rank, rates,
                             schema)
  if _POOL is None:
    from concurrent.futures import ThreadPoolExecutor
    _POOL = ThreadPoolExecutor(PARSE_THREADS, thread_name_prefix='parse')
  results = list(_POOL.map(
      lambda p: check_jsonl_bytes(p[0], p[1], source, source_rank, rates,
                                  schema), parts))
  tables, exotic, dead, read = [], [], [], 0
  for checked in results:
    table = checked.table
    if checked.exotic and exotic:
      table = table.set_column(
          table.schema.get_field_index('exotic'), 'exotic',
          pc.add(table['exotic'], pa.scalar(len(exotic), pa.int32())))
    tables.append(table)
    exotic.extend(checked.exotic)
    dead.extend(checked.dead)
    read += checked.read
  return Checked(pa.concat_tables(tables).combine_chunks(), exotic, dead,
                 read)


def check_jsonl_decoded(data: bytes, first_line: int, source: str,
                        source_rank: int, rates: Rates, schema: pa.Schema
                        ) -> Checked:
  """check_jsonl by decoding every line (the reference for the fast path)."""
  objs, numbers, raws = decode_jsonl(data, first_line)
  return check_chunk(objs, numbers, _StrippedLines(raws), source,
                     source_rank, rates, schema)


class _StrippedLines:
  """raws[i].rstrip(b'\\r\\n'), computed only for the rows that need it."""

  def __init__(self, raws: List[bytes]) -> None:
    self._raws = raws

  def __getitem__(self, i: int) -> bytes:
    return self._raws[i].rstrip(b'\r\n')


# --- JSON Lines without Python objects -------------------------------------------
#
# Most lines of a JSON Lines file written by one producer share one shape: a
# flat object of printable-ASCII strings and plain numbers with the schema's
# keys in schema order. For such lines the value of each field can be cut out
# of the bytes directly and typed with Arrow kernels, without decoding the
# line into Python objects. `_SHAPE` accepts exactly those lines:
#
#   {"order_id":V,"customer_id":V,"product_id":V,"quantity":V,
#    "unit_price":V,"currency":V,"event_time":V[,"country":V][,"channel":S]}
#
# V = a JSON string without escapes, of printable ASCII, not starting with ':'
#     | a JSON number | null | true | false;  S = such a string.
#
# In such a line `":` occurs only where a key ends (string values hold no
# quote, and a value that is a string does not start with ':'), and every key
# occurs once, so the markers give each value's exact bytes; the value then
# means what orjson/json would decode it to. A shaped line whose values pass
# the same vectorized checks as `fast_columns` is valid with exactly
# check_order's values; every other line (dirty, unusual or of another shape)
# takes the decoded path (`check_chunk`), so the result is the record path's.

_STR_BODY = r'[ !#-\[\]-~]'
_S = r'"(?:[ !#-9;-\[\]-~]' + _STR_BODY + r'*)?"'
_V = (r'(?:' + _S + r'|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?'
      r'|null|true|false)')
_KEYS = ('order_id', 'customer_id', 'product_id', 'quantity', 'unit_price',
         'currency', 'event_time')
_SHAPE = (r'^\{' + ','.join(f'"{k}":{_V}' for k in _KEYS) +
          r'(?:,"country":' + _V + r')?(?:,"channel":' + _S + r')?\}\n?$')
_MAX_TOKEN = 64  # longer values take the decoded path

_JSON_QTY = r'^[1-9][0-9]{0,4}$'
_JSON_PRICE = r'^(0|[1-9][0-9]{0,6})(\.[0-9]{1,6})?$'  # <= 13 digits: exact
_JSON_EPOCH = r'^(0|[1-9][0-9]{0,14})$'


def _gather(padded: np.ndarray, start: np.ndarray, stop: np.ndarray,
            is_str: np.ndarray) -> Tuple[pa.Array, pa.Array]:
  """padded[start[i]:stop[i]] for every i (ASCII bytes, at most _MAX_TOKEN
  long) as two string arrays sharing one buffer: (the rows where is_str,
  the others), each null elsewhere."""
  lengths = stop - start
  n = len(lengths)
  offsets = np.zeros(n + 1, np.int32)
  np.cumsum(lengths, out=offsets[1:])
  width = int(lengths.max()) if n else 0
  if width == 0:
    values = np.zeros(0, np.uint8)
  else:
    windows = np.lib.stride_tricks.sliding_window_view(padded, width)
    values = windows[start][np.arange(width)[None, :] < lengths[:, None]]
  buffers = [pa.py_buffer(offsets), pa.py_buffer(values)]
  strs = pa.Array.from_buffers(pa.string(), n, [
      pa.py_buffer(np.packbits(is_str, bitorder='little'))] + buffers)
  nums = pa.Array.from_buffers(pa.string(), n, [
      pa.py_buffer(np.packbits(~is_str, bitorder='little'))] + buffers)
  return strs, nums


def _shaped_columns(buf: np.ndarray, padded: np.ndarray, markers: np.ndarray, first: np.ndarray,
                    count: np.ndarray, close: np.ndarray, rates: Rates
                    ) -> Tuple[np.ndarray, Dict[str, pa.Array]]:
  """(ok mask, normalised columns) of shaped lines, like fast_columns.

  markers: sorted byte positions of '":' (the key's closing quote); a line's
  markers are markers[first:first + count]; close: the position of its '}'.
  """
  n = len(first)
  ok = np.ones(n, bool)
  key_at = [markers[first + j] for j in range(7)]
  has8 = count >= 8
  m8 = markers[np.where(has8, first + 7, first)]
  country = has8 & (buf[m8 - 6] == ord('o'))  # "country" vs "channel"
  after = [key_at[j + 1] - len(_KEYS[j + 1]) - 2 for j in range(6)]
  after.append(np.where(has8, m8 - 9, close))

  spans: Dict[str, Tuple[np.ndarray, np.ndarray]] = {}

  def token(j_start: np.ndarray, j_stop: np.ndarray, name: str = ''
            ) -> Tuple[np.ndarray, pa.Array, pa.Array]:
    """(is string, string content or null, number text or null)."""
    begin = j_start + 2
    too_long = (j_stop - begin) > _MAX_TOKEN
    ok[too_long] = False
    stop = np.where(too_long, begin, j_stop)
    is_str = buf[begin] == 34
    shift = is_str.astype(np.int64)
    first, last = begin + shift, np.maximum(stop - shift, begin + shift)
    spans[name] = (first, last - first)
    s, num = _gather(padded, first, last, is_str)
    return is_str, s, num

  cols: Dict[str, pa.Array] = {}
  for j, name in enumerate(_KEYS[:3]):
    _, s, _ = token(key_at[j], after[j])
    ok &= _np(pc.match_substring_regex(s, _PRINTABLE_ID))
    cols[name] = pc.utf8_trim(s, ' ')

  _, s, num = token(key_at[3], after[3])
  q_text = pc.coalesce(
      pc.if_else(_match(s, _QTY_TEXT), pc.utf8_trim(s, ' '), None),
      pc.if_else(_match(num, _JSON_QTY), num, None))
  quantity = pc.cast(q_text, pa.int64())
  quantity = pc.if_else(
      pc.and_(pc.greater_equal(quantity, MIN_QUANTITY),
              pc.less_equal(quantity, MAX_QUANTITY)), quantity, None)
  ok &= _np(pc.is_valid(quantity))
  cols['quantity'] = quantity

  _, s, num = token(key_at[4], after[4])
  p_text = pc.coalesce(
      pc.if_else(_match(s, _PRICE_TEXT), pc.utf8_trim(s, ' '), None),
      pc.if_else(_match(num, _JSON_PRICE), num, None))
  price = pc.cast(p_text, PRICE_TYPE)
  ok &= _np(pc.and_(
      pc.greater(price, pa.scalar(decimal.Decimal(0), PRICE_TYPE)),
      pc.less_equal(price, pa.scalar(decimal.Decimal(1_000_000), PRICE_TYPE))))

  _, s, _ = token(key_at[5], after[5])
  code = pc.ascii_upper(pc.utf8_trim(s, ' '))
  rate_index = pc.index_in(code, value_set=rates.codes)
  ok &= _np(pc.and_(pc.match_substring_regex(s, _PRINTABLE_ID),
                    pc.is_valid(rate_index)))
  rate = pc.take(rates.values, rate_index)

  is_str, s, num = token(key_at[6], after[6], 'event_time')
  t_int = pc.cast(pc.if_else(_match(num, _JSON_EPOCH), num, None), pa.int64())
  epoch_ok = _match(s, _EPOCH_TEXT)
  t_epoch = pc.cast(pc.utf8_trim(pc.if_else(epoch_ok, s, None), ' '),
                    pa.int64())
  t_epoch = pc.coalesce(t_int, t_epoch)
  t_epoch = pc.if_else(pc.less_equal(t_epoch, MAX_EPOCH_MS), t_epoch, None)
  t_begin, t_length = spans['event_time']
  iso_ok, iso_ms = _iso_ms_bytes(padded, t_begin, t_length)
  iso_ok &= is_str
  event_ms = pc.coalesce(t_epoch, pa.array(iso_ms, pa.int64(), mask=~iso_ok))
  ok &= _np(pc.is_valid(event_ms))
  cols['event_ms'] = event_ms

  if country.any():
    c_stop = np.where(count >= 9, markers[np.minimum(first + 8,
                                                     len(markers) - 1)] - 9,
                      close)
    c_stop = np.where(country, c_stop, m8 + 2)
    is_str, s, num = token(m8, c_stop)
    c_ok = pc.or_(pc.match_substring_regex(s, _BLANK),
                  pc.match_substring_regex(s, _COUNTRY_TEXT))
    is_null = _np(pc.equal(num, 'null')) | (~country)
    ok &= is_null | _np(c_ok)

  cols['amount'] = _amounts(ok, quantity, price, rate, rates)
  return ok, cols


_ISO_LENGTHS = (20, 24, 25, 29)


def _iso_ms_bytes(padded: np.ndarray, begin: np.ndarray, length: np.ndarray
                  ) -> Tuple[np.ndarray, np.ndarray]:
  """_iso_ms on the bytes padded[begin:begin + length] (string contents),
  with numpy on a fixed-width byte matrix instead of string kernels."""
  n = len(begin)
  ok = np.isin(length, _ISO_LENGTHS)
  ms = np.zeros(n, np.int64)
  rows = np.flatnonzero(ok)
  if not len(rows):
    return ok, ms
  windows = np.lib.stride_tricks.sliding_window_view(padded, 29)
  m = windows[begin[rows]]
  d = m.astype(np.int64) - 48
  digit = (d >= 0) & (d <= 9)
  length = length[rows]
  good = digit[:, [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]].all(1)
  good &= (m[:, 4] == 45) & (m[:, 7] == 45) & (m[:, 10] == 84)
  good &= (m[:, 13] == 58) & (m[:, 16] == 58)
  has_ms = (length == 24) | (length == 29)
  good &= ~has_ms | ((m[:, 19] == 46) & digit[:, 20:23].all(1))
  p = np.where(has_ms, 23, 19)
  r = np.arange(len(rows))
  zulu = (length == 20) | (length == 24)
  good &= ~zulu | (m[r, p] == 90)
  sign_byte = m[r, p]
  offset_ok = (((sign_byte == 43) | (sign_byte == 45)) & digit[r, p + 1] &
               digit[r, p + 2] & (m[r, p + 3] == 58) & digit[r, p + 4] &
               digit[r, p + 5])
  good &= zulu | offset_ok

  def num(*cols: int) -> np.ndarray:
    out = np.zeros(len(rows), np.int64)
    for c in cols:
      out = out * 10 + d[:, c]
    return out

  year, month, day = num(0, 1, 2, 3), num(5, 6), num(8, 9)
  hour, minute, second = num(11, 12), num(14, 15), num(17, 18)
  millis = np.where(has_ms, num(20, 21, 22), 0)
  off_h = np.where(zulu, 0, d[r, p + 1] * 10 + d[r, p + 2])
  off_m = np.where(zulu, 0, d[r, p + 4] * 10 + d[r, p + 5])
  sign = np.where(sign_byte == 45, -1, 1)
  leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
  month_ok = (month >= 1) & (month <= 12)
  dim = _DAYS_IN_MONTH[np.where(month_ok, month, 1)] + ((month == 2) & leap)
  good &= ((year >= 1) & month_ok & (day >= 1) & (day <= dim) &
           (hour <= 23) & (minute <= 59) & (second <= 59) & (off_h <= 23) &
           (off_m <= 59))
  days = _days_from_civil(year, np.where(month_ok, month, 1), day)
  value = (days * 86_400_000 + hour * 3_600_000 + minute * 60_000 +
           second * 1000 + millis - sign * (off_h * 3_600_000 +
                                             off_m * 60_000))
  ok[rows] = good
  ms[rows] = np.where(good, value, 0)
  return ok, ms


def check_jsonl_bytes(data: bytes, first_line: int, source: str,
                      source_rank: int, rates: Rates, schema: pa.Schema
                      ) -> Checked:
  """check_jsonl without decoding the lines of the common shape."""
  buf = np.frombuffer(data, np.uint8)
  newlines = np.flatnonzero(buf == 10)
  starts = np.concatenate([[0], newlines + 1]).astype(np.int64)
  ends = np.append(newlines, len(buf)).astype(np.int64)  # exclusive, no \n
  if len(buf) == 0 or data.endswith(b'\n'):
    starts, ends = starts[:-1], ends[:-1]
  n = len(starts)
  if n == 0:
    return Checked(pa.table({f.name: pa.array([], f.type) for f in schema},
                            schema=schema), [], [], 0)
  if len(data) >= 1 << 31:
    raise ValueError('chunk too large')
  offsets = np.append(starts, min(len(buf), int(ends[-1]) + 1))
  lines = pa.Array.from_buffers(pa.string(), n, [
      None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)])
  shaped = _np(pc.match_substring_regex(lines, _SHAPE))
  idx = np.flatnonzero(shaped)
  ok_rows = np.zeros(0, np.int64)
  cols: Dict[str, pa.Array] = {}
  if len(idx):
    colons = np.flatnonzero(buf == 58)
    colons = colons[colons > 0]
    markers = colons[buf[colons - 1] == 34] - 1
    first = np.searchsorted(markers, starts[idx])
    last = np.searchsorted(markers, ends[idx])
    padded = np.concatenate([buf, np.zeros(_MAX_TOKEN + 8, np.uint8)])
    ok, cols = _shaped_columns(buf, padded, markers, first, last - first,
                               ends[idx] - 1, rates)
    ok_rows = idx[ok]
    mask = pa.array(ok)
    cols = {name: pc.filter(a, mask) for name, a in cols.items()}
  slow = np.ones(n, bool)
  slow[ok_rows] = False
  slow_idx = np.flatnonzero(slow)
  objs, numbers, raws = _decode_numbered(
      (first_line + i, data[starts[i]:ends[i]]) for i in slow_idx.tolist())
  parts = []
  k = (np.int64(source_rank) << POSITION_BITS) | (
      ok_rows.astype(np.int64) + first_line)
  if len(ok_rows):
    parts.append(pa.table({
        'order_id': cols['order_id'], 'customer_id': cols['customer_id'],
        'product_id': cols['product_id'], 'quantity': cols['quantity'],
        'amount': cols['amount'], 'event_ms': cols['event_ms'],
        'k': pa.array(k, pa.int64()),
        'exotic': pa.nulls(len(ok_rows), pa.int32()),
    }, schema=schema))
  exotic: List[EnrichedOrder] = []
  dead: List[DeadLetter] = []
  if objs:
    rest = check_chunk(objs, numbers, _StrippedLines(raws), source,
                       source_rank, rates, schema)
    parts.append(rest.table)
    exotic, dead = rest.exotic, rest.dead
  if not parts:
    parts.append(pa.table({f.name: pa.array([], f.type) for f in schema},
                          schema=schema))
  table = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
  return Checked(table, exotic, dead, len(ok_rows) + len(objs))
