"""Currency: FX rates from a file, and exact conversion of revenue to USD.

The FX file is CSV `currency,usd_per_unit` (how many US dollars one unit of
the currency buys), read as exact decimals. It reaches the pipeline as a
side input, so every worker sees the same table.
"""
from __future__ import annotations

import csv
import decimal
import io
from typing import Dict, Union

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms.records import EnrichedOrder, Order


class ConfigFileError(ValueError):
  """A reference file (FX rates, catalog) is missing or malformed."""


# The vectorized engine holds rates as decimal128(RATE_DIGITS, s), s the
# table's most decimals: every rate must fit (checked when the file is read,
# before a run, not mid-run by the engine).
RATE_DIGITS = 18
MAX_RATE_DECIMALS = 12


def read_text(path: str) -> str:
  """Reads a whole (small) file through Beam's filesystems (local, gs://...).

  UTF-8, with or without a byte-order mark (spreadsheets write one).
  """
  try:
    with FileSystems.open(path) as f:
      return f.read().decode('utf-8-sig')
  except Exception as e:  # BeamIOError, OSError, UnicodeDecodeError, ...
    raise ConfigFileError(f'cannot read {path}: {e}') from None


def rate_decimals(rate: decimal.Decimal) -> int:
  """Decimal places of a rate, trailing zeros aside (1.50 has 1)."""
  return max(0, -rate.normalize().as_tuple().exponent)


def rate_integer_digits(rate: decimal.Decimal) -> int:
  return max(0, rate.adjusted() + 1)


def parse_fx_rates(text: str, path: str = '<fx>') -> Dict[str, decimal.Decimal]:
  """Parses the FX CSV; raises ConfigFileError naming the bad line(s).

  A currency listed twice (after stripping and upper-casing: `usd` repeats
  `USD`) is an error, not a silent last-wins: it would multiply revenue.
  """
  rates: Dict[str, decimal.Decimal] = {}
  lines: Dict[str, int] = {}
  reader = csv.DictReader(io.StringIO(text))
  if reader.fieldnames is None or not {'currency', 'usd_per_unit'} <= set(
      reader.fieldnames):
    raise ConfigFileError(
        f'{path}: expected header currency,usd_per_unit')
  for row in reader:
    code = (row['currency'] or '').strip().upper()
    if not code:
      raise ConfigFileError(f'{path}:{reader.line_num}: empty currency')
    try:
      rate = decimal.Decimal(row['usd_per_unit'].strip())
    except (decimal.InvalidOperation, AttributeError):
      raise ConfigFileError(
          f'{path}:{reader.line_num}: bad rate {row["usd_per_unit"]!r}'
      ) from None
    if not rate.is_finite() or rate <= 0:
      raise ConfigFileError(f'{path}:{reader.line_num}: rate must be > 0')
    if rate_decimals(rate) > MAX_RATE_DECIMALS:
      raise ConfigFileError(
          f'{path}:{reader.line_num}: rate {rate} has more than '
          f'{MAX_RATE_DECIMALS} decimals')
    if code in rates:
      raise ConfigFileError(
          f'{path}:{reader.line_num}: currency {code} again (first on line '
          f'{lines[code]})')
    rates[code] = rate
    lines[code] = reader.line_num
  if not rates:
    raise ConfigFileError(f'{path}: no FX rates')
  widest = max(rates, key=lambda c: rate_integer_digits(rates[c]))
  finest = max(rates, key=lambda c: rate_decimals(rates[c]))
  if (rate_integer_digits(rates[widest]) + rate_decimals(rates[finest]) >
      RATE_DIGITS):
    raise ConfigFileError(
        f'{path}: rates need more than {RATE_DIGITS} digits together: '
        f'{rates[widest]} (line {lines[widest]}) and {rates[finest]} '
        f'(line {lines[finest]})')
  return rates


def load_fx_rates(path: str) -> Dict[str, decimal.Decimal]:
  return parse_fx_rates(read_text(path), path)


# What a step takes as its FX rates: a side input of ReadFxRates, or the
# table itself (pipelines/sales.reference_data says when).
FxRates = Union[beam.pvalue.AsSideInput, Dict[str, decimal.Decimal]]


class ReadFxRates(beam.PTransform):
  """Reads the FX file into a PCollection of (currency, Decimal rate)."""

  def __init__(self, path: str) -> None:
    super().__init__()
    self._path = path

  def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
    return (
        pbegin
        | 'FxPath' >> beam.Create([self._path])
        | 'LoadFxRates' >> beam.FlatMap(
            lambda path: sorted(load_fx_rates(path).items())))


def revenue_usd(order: Order, rates: Dict[str, decimal.Decimal]) -> decimal.Decimal:
  """quantity * unit_price * rate, exact (no rounding here)."""
  return order.quantity * order.unit_price * rates[order.currency]


class ConvertToUsd(beam.PTransform):
  """PCollection[Order] -> PCollection[EnrichedOrder] priced in USD.

  Category and name are left for JoinCatalog to fill in.
  """

  def __init__(self, fx_rates: beam.pvalue.AsSideInput) -> None:
    super().__init__()
    self._fx_rates = fx_rates

  def expand(self, orders: beam.PCollection) -> beam.PCollection:
    return orders | 'PriceInUsd' >> beam.Map(price_order, rates=self._fx_rates)


def price_order(order: Order,
                rates: Dict[str, decimal.Decimal]) -> EnrichedOrder:
  """The order with its exact USD revenue; category and name empty."""
  return EnrichedOrder(
      order_id=order.order_id,
      customer_id=order.customer_id,
      product_id=order.product_id,
      quantity=order.quantity,
      revenue_usd=revenue_usd(order, rates),
      event_time_ms=order.event_time_ms,
      category='',
      product_name='',
      country=order.country)
