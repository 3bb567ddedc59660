"""The Redis key layout: which key holds what (docs/redis.md).

Every key starts with ``sales:``. A *window id* is
``<window_start_ms>|<window_end_ms>|<customer_id>`` (customer_id is '' unless
per-customer sessions); a result row's id is ``rows.row_key``.

==========================================  =================================
key                                         holds
==========================================  =================================
``sales:result:<row id>``                   hash: one result row, every
                                            column of the SQLite table, in
                                            its text forms
``sales:window:<window id>``                hash: category -> the row as JSON
                                            (a window's rows in one HGETALL)
``sales:top:<window id>``                   sorted set: product_id, scored
                                            by revenue_usd (top-N)
``sales:top_rows:<window id>``              hash: the list's pane
                                            (generation, pane_index,
                                            is_final) and ``product:<id>`` ->
                                            the top-product row as JSON
``sales:day:<YYYY-MM-DD>``                  sorted set: the window ids that
                                            start that UTC day, scored by
                                            window_start_ms
``sales:latest``                            hash: the newest all-customers
                                            window: ``window``,
                                            ``window_start_ms`` and
                                            ``row:<category>`` -> JSON row
``sales:dead_letters``                      stream (capped): one entry per
                                            dead letter
``sales:dead_seen:<source|partition|pos>``  marker: this dead letter is
                                            already in the stream
``sales:<mined table>:<row id>``            hash: one mined row (anomalies,
                                            product_pairs,
                                            customer_segments,
                                            segment_summary), every column
                                            of its SQLite table; the row id
                                            is ``mined.mined_key``
``sales:<mined table>``                     sorted set: the table's row ids,
                                            scored by window_start_ms (0
                                            for the segment tables)
==========================================  =================================
"""
from __future__ import annotations

import json
from typing import Any, Dict, List

from transforms.event_time import format_utc_ms
from transforms.sinks.mined import MINED_TABLES, mined_key
from transforms.sinks.rows import row_key

PREFIX = 'sales'
LATEST = f'{PREFIX}:latest'
DEAD_LETTER_STREAM = f'{PREFIX}:dead_letters'


def key(*parts: str) -> str:
  """``sales:<part>:<part>...``: every key of the layout."""
  return ':'.join((PREFIX,) + parts)


def window_id(row) -> str:
  return (f'{int(row.window_start_ms)}|{int(row.window_end_ms)}|'
          f'{row.customer_id}')


def result_keys(row) -> List[str]:
  """The keys one result row's write touches: its hash, its window's hash,
  the index of the UTC day its window starts on, the latest window."""
  day = format_utc_ms(int(row.window_start_ms))[:10]
  return [key('result', row_key(row)), key('window', window_id(row)),
          key('day', day), LATEST]


def top_keys(row) -> List[str]:
  """A window's top-N list: its sorted set and its rows' hash."""
  return [key('top', window_id(row)), key('top_rows', window_id(row))]


def dead_letter_keys(row) -> List[str]:
  """The dead letter's already-written marker, and the stream."""
  return [key('dead_seen', row_key(row)), DEAD_LETTER_STREAM]


def mined_keys(kind: str, row: Dict[str, Any]) -> List[str]:
  """The mined row's hash, and its table's index."""
  table = MINED_TABLES[kind].table
  return [key(table, mined_key(kind, row)), key(table)]


def mined_score(kind: str, row: Dict[str, Any]) -> int:
  """A windowed table's rows sort by window start; the others score 0."""
  return int(row['window_start']) if is_windowed(kind) else 0


def is_windowed(kind: str) -> bool:
  """Whether the table's rows belong to a window (and so expire)."""
  return 'window_start' in MINED_TABLES[kind].names


def as_json(fields: Dict[str, Any]) -> str:
  return json.dumps(fields, sort_keys=True, separators=(',', ':'),
                    ensure_ascii=False)
