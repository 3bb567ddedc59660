"""The mining steps' input: one Purchase per cleaned order, from either flow.

Both flows meet after ConvertToUsd: the columnar flow's elements are
(Arrow table, exotic EnrichedOrders) pairs (transforms/vectorized/usd.py),
the record flow's are EnrichedOrders. Both are valid, deduplicated orders
priced in USD; ``ToPurchases`` turns either into the few fields mining
needs, once, stamped with the order's event time.
"""
from __future__ import annotations

import decimal
from typing import Any, Iterable, List, NamedTuple, Optional, Tuple

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.transforms import window

from transforms.records import EnrichedOrder


class Purchase(NamedTuple):
  """What mining needs of an order (revenue in USD, exact)."""
  customer_id: str
  product_id: str
  event_time_ms: int
  revenue_usd: decimal.Decimal


def split_element(element: Any) -> Tuple[Optional[pa.Table], List[Purchase]]:
  """An element of either flow -> (its regular rows as an Arrow table with
  customer_id, product_id, event_ms, amount; or None), the Purchases of
  the others (records, exotic orders)."""
  if isinstance(element, EnrichedOrder):
    return None, [Purchase(element.customer_id, element.product_id,
                           element.event_time_ms, element.revenue_usd)]
  table, exotic = element
  others = [Purchase(o.customer_id, o.product_id, o.event_time_ms,
                     o.revenue_usd) for o in exotic]
  if 'exotic' in table.column_names and exotic:
    table = table.filter(pc.invert(pc.is_valid(table['exotic'])))
  return table, others


def purchases_of(element: Any) -> Iterable[Purchase]:
  """The Purchases of one element of either flow."""
  table, others = split_element(element)
  yield from others
  if table is not None:
    columns = [table[name].to_pylist()
               for name in ('customer_id', 'product_id', 'event_ms', 'amount')]
    for customer, product, event_ms, amount in zip(*columns):
      yield Purchase(customer, product, event_ms, amount)


class ToPurchasesFn(beam.DoFn):

  def __init__(self, stamped: bool) -> None:
    self._stamped = stamped

  def process(self, element: Any) -> Iterable[Any]:
    for purchase in purchases_of(element):
      yield (window.TimestampedValue(purchase, purchase.event_time_ms / 1000.0)
             if self._stamped else purchase)


class ToPurchases(beam.PTransform):
  """Priced orders of either flow -> PCollection[Purchase], stamped at
  event time when `stamped` (streaming: sessions need it; a bounded run's
  steps read event_time_ms and skip the cost)."""

  def __init__(self, stamped: bool = True) -> None:
    super().__init__()
    self._stamped = stamped

  def expand(self, orders: beam.PCollection) -> beam.PCollection:
    return orders | 'OrdersToPurchases' >> beam.ParDo(
        ToPurchasesFn(self._stamped))
