"""The field rules of an order event (docs/semantics.md, 'Validation').

Pure functions, no Beam: `check_order` takes a decoded record (a dict) and
returns either an `Order` or a `Rejection` naming the first rule it breaks,
in schema order. The field list comes from the Avro schema
(transforms/schema/order.avsc), the single source of truth.
"""
from __future__ import annotations

import decimal
import json
import pathlib
import re
from typing import Any, Container, Dict, NamedTuple, Optional, Tuple, Union

from transforms.event_time import (MAX_INTEGER_DIGITS, BadTime,
                                   parse_event_time_ms)
from transforms.records import Order

SCHEMA_PATH = pathlib.Path(__file__).parent / 'schema' / 'order.avsc'

MIN_QUANTITY = 1
MAX_QUANTITY = 10_000
MAX_UNIT_PRICE = decimal.Decimal('1000000')
_INTEGER_TEXT = re.compile(r'^[+-]?[0-9]+$')
_COUNTRY = re.compile(r'^[A-Za-z]{2}$')
_ID_FIELDS = ('order_id', 'customer_id', 'product_id')
OPTIONAL_FIELDS = ('country',)


def load_field_names() -> Tuple[str, ...]:
  """The order event's field names, in schema order, from the Avro schema."""
  with open(SCHEMA_PATH, encoding='utf-8') as f:
    schema = json.load(f)
  return tuple(field['name'] for field in schema['fields'])


FIELD_NAMES = load_field_names()
# What a CSV header must name (the schema's fields but the optional ones).
REQUIRED_FIELDS = tuple(f for f in FIELD_NAMES if f not in OPTIONAL_FIELDS)


class Rejection(NamedTuple):
  """Why a record is not a valid order: a machine-readable reason + detail."""
  reason: str
  detail: str


def _is_missing(value: Any) -> bool:
  return value is None or (isinstance(value, str) and not value.strip())


def is_unicode(text: str) -> bool:
  """Whether a str is Unicode text (no lone surrogate, which a JSON `\\ud800`
  escape can produce): what UTF-8, Arrow and every store can hold."""
  if text.isascii():
    return True
  try:
    text.encode('utf-8')
  except UnicodeEncodeError:
    return False
  return True


def _check_id(record: Dict[str, Any], name: str) -> Union[str, Rejection]:
  value = record.get(name)
  if _is_missing(value):
    return Rejection(f'missing_field:{name}', f'{name} is required')
  if not isinstance(value, str):
    return Rejection(f'bad_type:{name}', f'{name} must be a string')
  if not is_unicode(value):
    return Rejection(f'bad_type:{name}',
                     f'{name} is not Unicode text (a lone surrogate)')
  return value.strip()


def _shown(number: int) -> str:
  """An integer for a detail: in full up to 64 bits, else by its size (str()
  of a huge int can exceed Python's digit limit)."""
  return str(number) if number.bit_length() <= 64 else (
      f'an integer of {number.bit_length()} bits')


def _value(value: Any) -> str:
  """Any JSON value for a detail, never raising: repr(), an integer beyond
  64 bits by its size (also inside a list or object, where repr() of a huge
  one raises)."""
  if isinstance(value, int) and not isinstance(value, bool):
    return _shown(value)
  try:
    return repr(value)
  except ValueError:
    return f'a {type(value).__name__} holding a huge integer'


def _check_quantity(value: Any) -> Union[int, Rejection]:
  if isinstance(value, bool) or not isinstance(value, (int, str)):
    return Rejection('bad_type:quantity', f'not an integer: {_value(value)}')
  if isinstance(value, str):
    text = value.strip()
    if not _INTEGER_TEXT.match(text):
      return Rejection('bad_type:quantity', f'not an integer: {_value(value)}')
    sign, digits = text[:1] if text[0] in '+-' else '', text.lstrip('+-')
    digits = digits.lstrip('0') or '0'  # int() counts leading zeros too
    if len(digits) > MAX_INTEGER_DIGITS:
      return Rejection('out_of_range:quantity',
                       f'an integer of {len(digits)} digits not in 1..10000')
    value = int(sign + digits)
  if not MIN_QUANTITY <= value <= MAX_QUANTITY:
    return Rejection('out_of_range:quantity', f'{_shown(value)} not in 1..10000')
  return value


def _check_unit_price(value: Any) -> Union[decimal.Decimal, Rejection]:
  if isinstance(value, bool) or not isinstance(value, (int, float, str)):
    return Rejection('bad_type:unit_price', f'not a decimal: {_value(value)}')
  try:
    # str() first: a float's shortest repr is the number the sender wrote.
    # An int directly: str() of a huge one exceeds Python's digit limit.
    price = decimal.Decimal(value if isinstance(value, int) else
                            str(value).strip())
  except decimal.InvalidOperation:
    return Rejection('bad_type:unit_price', f'not a decimal: {_value(value)}')
  if not price.is_finite():
    return Rejection('bad_type:unit_price', f'not finite: {_value(value)}')
  if not 0 < price <= MAX_UNIT_PRICE:
    shown = str(price) if len(price.as_tuple().digits) <= 40 else (
        f'a number of {len(price.as_tuple().digits)} digits')
    return Rejection('out_of_range:unit_price', f'{shown} not in (0, 1000000]')
  return price


def _check_currency(value: Any,
                    currencies: Container[str]) -> Union[str, Rejection]:
  if not isinstance(value, str):
    return Rejection('bad_type:currency', f'not a string: {_value(value)}')
  code = value.strip().upper()
  if code not in currencies:
    return Rejection('unknown_currency', f'no FX rate for {code!r}')
  return code


def _check_country(value: Any) -> Union[Optional[str], Rejection]:
  if _is_missing(value):
    return None
  if not isinstance(value, str) or not _COUNTRY.match(value.strip()):
    return Rejection('bad_type:country', f'not ISO 3166-1 alpha-2: {_value(value)}')
  return value.strip().upper()


def check_order(record: Any,
                currencies: Container[str],
                source: str,
                partition: Optional[int],
                position: int,
                event_time_override_ms: Optional[int] = None
                ) -> Union[Order, Rejection]:
  """Applies every rule of docs/semantics.md to one decoded record.

  event_time_override_ms: when event time comes from the transport (a Kafka
  timestamp, a Pub/Sub attribute), it replaces the payload's event_time.
  """
  if not isinstance(record, dict):
    return Rejection('malformed', f'not an object: {type(record).__name__}')
  ids = []
  for name in _ID_FIELDS:
    checked = _check_id(record, name)
    if isinstance(checked, Rejection):
      return checked
    ids.append(checked)

  checked_values = []
  for name, check in (('quantity', _check_quantity),
                      ('unit_price', _check_unit_price)):
    value = record.get(name)
    if _is_missing(value):
      return Rejection(f'missing_field:{name}', f'{name} is required')
    checked = check(value)
    if isinstance(checked, Rejection):
      return checked
    checked_values.append(checked)
  quantity, unit_price = checked_values

  currency = record.get('currency')
  if _is_missing(currency):
    return Rejection('missing_field:currency', 'currency is required')
  currency = _check_currency(currency, currencies)
  if isinstance(currency, Rejection):
    return currency

  if event_time_override_ms is not None:
    event_time_ms = event_time_override_ms
  else:
    raw_time = record.get('event_time')
    if _is_missing(raw_time):
      return Rejection('missing_field:event_time', 'event_time is required')
    try:
      event_time_ms = parse_event_time_ms(raw_time)
    except BadTime as e:
      return Rejection('bad_time', str(e))

  country = _check_country(record.get('country'))
  if isinstance(country, Rejection):
    return country

  return Order(
      order_id=ids[0],
      customer_id=ids[1],
      product_id=ids[2],
      quantity=quantity,
      unit_price=unit_price,
      currency=currency,
      event_time_ms=event_time_ms,
      country=country,
      source=source,
      partition=partition,
      position=position)
