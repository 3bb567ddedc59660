"""The typed rows that flow between the pipeline's steps.

Every source, whatever the transport, emits ``RawRecord``; parsing turns it
into an ``Order`` or a ``DeadLetter``; pricing and enrichment turn an
``Order`` into an ``EnrichedOrder``; aggregation emits ``CategoryResult`` and
``TopProduct`` rows, which every sink knows how to store.

Times are integers of epoch milliseconds (UTC) everywhere inside the
pipeline; sinks convert them to the store's own type.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Dict, List, NamedTuple, Optional, Union

# The category given to products the catalog does not know.
UNKNOWN_CATEGORY = 'unknown'
# The ``category`` value of the all-categories total row.
ALL_CATEGORIES = '__all__'


class RawRecord(NamedTuple):
  """One record as a source read it, before any parsing.

  payload: the raw bytes/text of a line or message, or a dict for columnar
    formats (Avro, Parquet) that arrive already decoded.
  source: the file path, or the Kafka topic / Pub/Sub subscription.
  partition: the Kafka partition; None for files and Pub/Sub.
  position: 1-based line (JSON Lines, CSV) or record number (Avro, Parquet)
    within the file, or the Kafka offset.
  source_watermark_ms: the reading source's event-time watermark at the
    moment it emitted this record; None for bounded reads. Used to route
    records beyond the allowed lateness to the dead letters (see
    transforms/lateness.py) instead of letting the runner drop them silently.
  transport_time_ms: the transport's own timestamp (Kafka record timestamp,
    Pub/Sub publish time or attribute), used when event time is taken from
    the transport instead of the payload.
  """
  payload: Union[bytes, str, Dict[str, Any]]
  source: str
  partition: Optional[int]
  position: int
  source_watermark_ms: Optional[int] = None
  transport_time_ms: Optional[int] = None
  decode_error: Optional[str] = None


class RawBatch(NamedTuple):
  """Consecutive records of one Kafka partition as one element (the
  columnar steps' input in streaming, transforms/vectorized/check.py).

  Record i of the batch is what ``RawRecord(payloads[i], source, partition,
  offsets[i], watermarks_ms[i], transport_ms[i])`` would be: the element
  carries the same information as the record-at-a-time source's elements,
  without the per-element cost. The element's timestamp is the smallest of
  the records' timestamps, so it holds the watermark no later than any of
  them would.
  """
  source: str
  partition: int
  offsets: List[int]
  payloads: List[bytes]
  watermarks_ms: List[Optional[int]]
  transport_ms: List[Optional[int]]


class Order(NamedTuple):
  """A valid order event (DESIGN.md, 'The input record')."""
  order_id: str
  customer_id: str
  product_id: str
  quantity: int
  unit_price: Decimal
  currency: str
  event_time_ms: int
  country: Optional[str]
  # Where the event was read; used to keep the first-seen duplicate.
  source: str
  partition: Optional[int]
  position: int


class EnrichedOrder(NamedTuple):
  """An order priced in USD (exact) and joined with the product catalog."""
  order_id: str
  customer_id: str
  product_id: str
  quantity: int
  revenue_usd: Decimal
  event_time_ms: int
  category: str
  product_name: str
  country: Optional[str]


class DeadLetter(NamedTuple):
  """A record that could not become an order, with why and where.

  reason: machine-readable: malformed, missing_field:<f>, bad_type:<f>,
    out_of_range:<f>, unknown_currency, bad_time, late.
  payload: the raw payload as text (bytes decoded as UTF-8 with
    replacement; dicts as JSON).
  """
  reason: str
  detail: str
  payload: str
  source: str
  partition: Optional[int]
  position: int


class PaneFields(NamedTuple):
  """Window bounds and pane timing, shared by every result row."""
  window_start_ms: int
  window_end_ms: int
  pane_timing: str  # EARLY, ON_TIME, LATE or UNKNOWN
  pane_index: int
  is_final: bool


class CategoryResult(NamedTuple):
  """Aggregates of one window, scope and category (or ALL_CATEGORIES).

  customer_id is '' for fixed, sliding and daily windows and the session's
  customer for per-customer session windows; it is part of the row's key.
  day: the local date (YYYY-MM-DD) of window_start in the run's time zone.
  rank: the category's place by revenue among the categories of its window
  and scope (1 = highest; ties by category name); None for ALL_CATEGORIES.
  """
  window_start_ms: int
  window_end_ms: int
  customer_id: str
  category: str
  orders: int
  units: int
  revenue_usd: Decimal  # exact; sinks round to cents
  distinct_customers: int
  avg_order_value_usd: Decimal  # exact revenue / orders; sinks round
  pane_timing: str
  pane_index: int
  is_final: bool
  day: str = ''
  rank: Optional[int] = None


class TopProduct(NamedTuple):
  """One of the top-N products by revenue of a window (rank 1 = highest);
  day as in CategoryResult."""
  window_start_ms: int
  window_end_ms: int
  customer_id: str
  rank: int
  product_id: str
  product_name: str
  category: str
  orders: int
  units: int
  revenue_usd: Decimal
  pane_timing: str
  pane_index: int
  is_final: bool
  day: str = ''
