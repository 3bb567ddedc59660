"""The output tables as plain rows, whatever stored them.

Every reader (Parquet/JSON Lines files here, SQLite and PostgreSQL stores in
store.py) returns the same ``Tables``: result and top-product rows as dicts
with window bounds in epoch milliseconds and money as ``Decimal``, dead
letters counted by reason with a few examples. A `day` column, where the
tables have one, is kept as it is. The mined tables a run wrote
(transforms/sinks/mined.py; the report shows the segment summary, product
pairs and anomalies) are in ``mined``, by kind, only when they exist:
times in epoch ms, money as ``Decimal``, booleans as ``bool``.
"""
from __future__ import annotations

import dataclasses
import datetime
import decimal
import json
import os
from typing import Any, Dict, Iterable, List, Optional

from transforms.sinks.files import (DEAD_LETTERS_FILE, RESULTS_FILE,
                                    TOP_PRODUCTS_FILE)
from transforms.sinks.mined import (ANOMALIES, MINED_TABLES, PRODUCT_PAIRS,
                                    SEGMENT_SUMMARY)

__all__ = ['EXAMPLES_PER_REASON', 'MAX_EXAMPLES', 'REPORTED_MINED',
           'Tables', 'read_files', 'to_ms', 'to_money', 'normalize_row',
           'normalize_mined', 'DeadLetterTally']

# The mined kinds the report shows (customer_segments, one row per
# customer, is summed up by segment_summary).
REPORTED_MINED = (SEGMENT_SUMMARY, PRODUCT_PAIRS, ANOMALIES)

# The data-quality panel shows this many dead letters per reason, at most
# MAX_EXAMPLES in all, each payload cut to PAYLOAD_CHARS.
EXAMPLES_PER_REASON = 1
MAX_EXAMPLES = 8
PAYLOAD_CHARS = 160
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def to_ms(value: Any) -> int:
  """Epoch milliseconds of a datetime, an ISO-8601 UTC text (SQLite) or a
  number."""
  if isinstance(value, (int, float)):
    return int(value)
  if isinstance(value, str):
    value = datetime.datetime.fromisoformat(value.replace('Z', '+00:00'))
  if value.tzinfo is None:
    value = value.replace(tzinfo=datetime.timezone.utc)
  return (value - _EPOCH) // datetime.timedelta(milliseconds=1)


def to_money(value: Any) -> decimal.Decimal:
  """Exact cents: Decimal from NUMERIC, decimal128 or SQLite's text."""
  return decimal.Decimal(str(value)).quantize(decimal.Decimal('0.01'))


_TIMES = ('window_start', 'window_end', 'updated_at')
_MONEY = ('revenue_usd', 'avg_order_value_usd')


def normalize_row(row: Dict[str, Any]) -> Dict[str, Any]:
  """One result or top-product row in the shared form."""
  out = dict(row)
  for name in _TIMES:
    if out.get(name) is not None:
      out[name] = to_ms(out[name])
  for name in _MONEY:
    if name in out and out[name] is not None:
      out[name] = to_money(out[name])
  if 'is_final' in out:
    out['is_final'] = bool(out['is_final'])
  if out.get('day') is not None:
    out['day'] = str(out['day'])[:10]
  return out


def normalize_mined(kind: str, row: Dict[str, Any]) -> Dict[str, Any]:
  """One mined row in the shared form, by its declared logical types."""
  out = dict(row)
  for name, logical in MINED_TABLES[kind].types.items():
    value = out.get(name)
    if value is None:
      continue
    if logical == 'time':
      out[name] = to_ms(value)
    elif logical == 'money':
      out[name] = to_money(value)
    elif logical == 'bool':
      out[name] = bool(value)
    elif logical == 'float':
      out[name] = float(value)
  return out


@dataclasses.dataclass
class DeadLetterTally:
  """Dead letters counted by reason, and a few of them as examples."""
  by_reason: Dict[str, int] = dataclasses.field(default_factory=dict)
  examples: List[Dict[str, Any]] = dataclasses.field(default_factory=list)

  @property
  def total(self) -> int:
    return sum(self.by_reason.values())

  def add(self, letter: Dict[str, Any]) -> None:
    reason = str(letter.get('reason'))
    seen = self.by_reason.get(reason, 0)
    self.by_reason[reason] = seen + 1
    if seen < EXAMPLES_PER_REASON and len(self.examples) < MAX_EXAMPLES:
      self.examples.append(example(letter))


def example(letter: Dict[str, Any]) -> Dict[str, Any]:
  payload = str(letter.get('payload') or '')
  if len(payload) > PAYLOAD_CHARS:
    payload = payload[:PAYLOAD_CHARS] + '…'
  partition = letter.get('partition')
  return {'source': str(letter.get('source') or ''),
          'partition': None if partition in (None, -1) else int(partition),
          'position': letter.get('position'),
          'reason': str(letter.get('reason')),
          'detail': str(letter.get('detail') or ''), 'payload': payload}


@dataclasses.dataclass
class Tables:
  """The output tables of one run (files) or of a store."""
  results: List[Dict[str, Any]]
  top_products: List[Dict[str, Any]]
  dead_letters: DeadLetterTally
  where: str = ''  # where they were read, for the page
  # kind -> rows, for each of REPORTED_MINED the run wrote (absent: not run)
  mined: Dict[str, List[Dict[str, Any]]] = dataclasses.field(
      default_factory=dict)

  @property
  def empty(self) -> bool:
    return not self.results


def _parquet_rows(path: str) -> List[Dict[str, Any]]:
  if not os.path.exists(path):
    return []
  import pyarrow.parquet as pq
  return [normalize_row(r) for r in pq.read_table(path).to_pylist()]


def _mined_files(output_dir: str, kinds: Iterable[str]
                 ) -> Dict[str, List[Dict[str, Any]]]:
  out = {}
  for kind in (k for k in REPORTED_MINED if k in set(kinds)):
    path = os.path.join(output_dir, f'{MINED_TABLES[kind].table}.parquet')
    if os.path.exists(path):
      import pyarrow.parquet as pq
      out[kind] = [normalize_mined(kind, r)
                   for r in pq.read_table(path).to_pylist()]
  return out


def _jsonl(path: str) -> Iterable[Dict[str, Any]]:
  if not os.path.exists(path):
    return
  with open(path, encoding='utf-8') as f:
    for line in f:
      if line.strip():
        yield json.loads(line)


def read_files(output_dir: str, where: Optional[str] = None,
               mined: Iterable[str] = REPORTED_MINED) -> Tables:
  """The tables a bounded run wrote under --output; of the mined ones,
  those of the kinds given (the steps the run took: a file an earlier run
  left in the directory is not this run's)."""
  tally = DeadLetterTally()
  for letter in _jsonl(os.path.join(output_dir, DEAD_LETTERS_FILE)):
    tally.add(letter)
  return Tables(
      results=_parquet_rows(os.path.join(output_dir, RESULTS_FILE)),
      top_products=_parquet_rows(os.path.join(output_dir, TOP_PRODUCTS_FILE)),
      dead_letters=tally, where=where or f'{output_dir}/',
      mined=_mined_files(output_dir, mined))
