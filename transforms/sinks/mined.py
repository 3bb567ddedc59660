"""The mined kinds (transforms/mining/): one declaration per table, and the
value forms every sink writes them in.

A mined row is a plain dict keyed by its table's column names: times are
epoch milliseconds (int), money a Decimal (rounded to cents by
``rows.to_cents`` when written), ratios and scores floats. Each table is
declared once here (columns with their logical types, and the key a sink
upserts on); the files, SQLite, PostgreSQL, Kafka, Pub/Sub and BigQuery
sinks derive their schemas, keys and topics from it, and write a kind only
when the outputs dict holds its PCollection (the step's flag is on).

Logical types: time, text, bigint, float, money, bool (as in
transforms/sinks/database/tables.py, plus ``float``); a type ending in
``?`` may be None (NULL), every other column is NOT NULL.
"""
from __future__ import annotations

from typing import Any, Dict, NamedTuple, Tuple

from transforms.event_time import format_utc_ms
from transforms.sinks.rows import to_cents

ANOMALIES = 'anomalies'
PRODUCT_PAIRS = 'product_pairs'
CUSTOMER_SEGMENTS = 'customer_segments'
SEGMENT_SUMMARY = 'segment_summary'


class MinedTable(NamedTuple):
  """One mined kind: its table (file, topic suffix), columns and key."""
  kind: str
  table: str
  columns: Tuple[Tuple[str, str], ...]  # (name, logical type)
  key: Tuple[str, ...]
  topic_suffix: str  # appended to the Kafka / Pub/Sub results topic

  @property
  def names(self) -> Tuple[str, ...]:
    return tuple(name for name, _ in self.columns)

  @property
  def types(self) -> Dict[str, str]:
    """name -> logical type (without the nullable mark)."""
    return {name: logical.rstrip('?') for name, logical in self.columns}

  def nullable(self, name: str) -> bool:
    return dict(self.columns)[name].endswith('?')

  @property
  def has_panes(self) -> bool:
    """Whether rows carry pane columns (a newer pane replaces an older)."""
    return 'pane_index' in self.names


def _table(kind: str, columns: str, key: str,
           topic_suffix: str = '') -> MinedTable:
  cols = tuple(tuple(c.split()) for c in columns.split(','))
  return MinedTable(kind, kind, cols, tuple(key.split()),  # type: ignore
                    topic_suffix or f'.{kind}')


_PANE = 'pane_timing text, pane_index bigint, is_final bool'
MINED_TABLES: Dict[str, MinedTable] = {t.kind: t for t in (
    _table(ANOMALIES,
           f'window_start time, window_end time, category text, metric text, '
           f'value float, score float?, threshold float?, is_anomaly bool, '
           f'detector text, rescored bool, {_PANE}',
           'window_start window_end category metric', '.alerts'),
    _table(PRODUCT_PAIRS,
           f'window_start time, window_end time, product_id text, '
           f'partner_id text, baskets bigint, product_baskets bigint, '
           f'partner_baskets bigint, total_baskets bigint, support float, '
           f'confidence float, lift float, rank bigint, {_PANE}',
           'window_start window_end product_id partner_id'),
    _table(CUSTOMER_SEGMENTS,
           'customer_id text, recency_days float, frequency bigint, '
           'monetary_usd money, segment bigint, label text',
           'customer_id'),
    _table(SEGMENT_SUMMARY,
           'segment bigint, label text, customers bigint, '
           'mean_recency_days float, mean_frequency float, '
           'mean_monetary_usd money',
           'segment'),
)}
MINED_KINDS = tuple(MINED_TABLES)


def _logical(kind: str) -> Dict[str, str]:
  return MINED_TABLES[kind].types


def json_row(kind: str, row: Dict[str, Any]) -> Dict[str, Any]:
  """The row for JSON transports (Kafka, Pub/Sub, BigQuery): times as
  ISO-8601 UTC text, money as the exact cents string."""
  out = {}
  for name, logical in _logical(kind).items():
    value = row[name]
    if value is None:
      pass
    elif logical == 'time':
      value = format_utc_ms(int(value))
    elif logical == 'money':
      value = str(to_cents(value))
    out[name] = value
  return out


def parquet_row(kind: str, row: Dict[str, Any]) -> Dict[str, Any]:
  """The row for Parquet: times stay epoch ms, money rounded to cents."""
  logical = _logical(kind)
  return {name: (to_cents(value) if logical[name] == 'money' and
                 value is not None else value)
          for name, value in row.items() if name in logical}


def mined_key(kind: str, row: Dict[str, Any]) -> str:
  """The row's identity as text (message keys): its key columns joined by
  ``|``, times as epoch ms."""
  return '|'.join(str(row[name]) for name in MINED_TABLES[kind].key)
