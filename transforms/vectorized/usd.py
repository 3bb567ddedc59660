"""ConvertToUsd on columns: revenue_usd = quantity x unit_price x FX rate.

The rule is currency.revenue_usd's, exact: the product of quantity
(decimal128(5, 0)), price (decimal128(13, 6)) and rate (decimal128(18, s))
has at most 36 digits, so it always fits the `amount` column's
decimal128(38, 6 + s). Exotic rows (a price with more than 6 decimals) are
priced by currency.price_order itself.
"""
from __future__ import annotations

import decimal
from typing import Dict, Iterable, List, Tuple

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc

from transforms.currency import FxRates, price_order
from transforms.records import EnrichedOrder
from transforms.vectorized.columns import (PRICE_TYPE, QTY_DEC, PreparedRates,
                                           Rates)
from transforms.vectorized.tables import Rows


def amounts(table: pa.Table, rates: Rates) -> pa.Array:
  """quantity x price x rate of each row, exact (null for exotic rows)."""
  rate = pc.take(rates.values,
                 pc.index_in(table['currency'], value_set=rates.codes))
  qty = pc.cast(pc.cast(table['quantity'], pa.int16()), QTY_DEC)
  price = pc.cast(table['price'], PRICE_TYPE)
  return pc.cast(pc.multiply(pc.multiply(qty, price), rate),
                 rates.amount_type)


def priced(rows: Rows, rates: Rates) -> Tuple[pa.Table, List[EnrichedOrder]]:
  """The rows with `amount` in place of price and currency, and their
  exotic orders priced one by one."""
  table, exotic = rows
  amount = amounts(table, rates)
  table = table.drop_columns(['price', 'currency'])
  table = table.add_column(table.schema.get_field_index('event_ms'),
                           'amount', amount)
  return table, [price_order(order, rates.decimals) for order in exotic]


@beam.typehints.with_output_types(Rows)  # tables.ArrowTableCoder
class ConvertToUsdFn(beam.DoFn):
  """(rows, exotic Orders) -> (rows with amount, exotic EnrichedOrders)."""

  def __init__(self) -> None:
    self._prepared = PreparedRates()

  def process(self, rows: Rows, fx_rates: Dict[str, decimal.Decimal]
              ) -> Iterable[Rows]:
    yield priced(rows, self._prepared.of(fx_rates))


class ConvertBatchesToUsd(beam.PTransform):
  """PCollection[(rows, exotic)] -> the same priced in USD."""

  def __init__(self, fx_rates: FxRates) -> None:
    super().__init__()
    self._fx_rates = fx_rates

  def expand(self, rows: beam.PCollection) -> beam.PCollection:
    return rows | 'PriceInUsd' >> beam.ParDo(ConvertToUsdFn(),
                                             fx_rates=self._fx_rates)
