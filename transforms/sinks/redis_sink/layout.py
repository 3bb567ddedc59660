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
==========================================  =================================
"""
from __future__ import annotations

import json
from typing import Any, Dict

from transforms.event_time import format_utc_ms
from transforms.sinks.rows import row_key

PREFIX = 'sales'
LATEST = f'{PREFIX}:latest'
DEAD_LETTER_STREAM = f'{PREFIX}:dead_letters'


def window_id(row) -> str:
  return (f'{int(row.window_start_ms)}|{int(row.window_end_ms)}|'
          f'{row.customer_id}')


def result_key(row) -> str:
  return f'{PREFIX}:result:{row_key(row)}'


def window_rows_key(row) -> str:
  return f'{PREFIX}:window:{window_id(row)}'


def top_key(row) -> str:
  return f'{PREFIX}:top:{window_id(row)}'


def top_rows_key(row) -> str:
  return f'{PREFIX}:top_rows:{window_id(row)}'


def day_key(row) -> str:
  """The UTC day the row's window starts on."""
  return f'{PREFIX}:day:{format_utc_ms(int(row.window_start_ms))[:10]}'


def dead_seen_key(row) -> str:
  return f'{PREFIX}:dead_seen:{row_key(row)}'


def as_json(fields: Dict[str, Any]) -> str:
  return json.dumps(fields, sort_keys=True, separators=(',', ':'),
                    ensure_ascii=False)
