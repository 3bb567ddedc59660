"""Event times and timestamps of a batch of records at once.

The batch twins of ``unbounded.payload_event_time_ms`` and
``unbounded.stamp_us`` for a reader that hands on a batch per poll
(``RawBatch``): the same values, record for record.

* ``payload_event_times_ms``: the payloads of the common JSON line shape
  (transforms/vectorized/shape.py) at once, by the checks' columnar event
  time rules; every other payload, and every value those rules leave open,
  in one loop: an integer epoch in range (the common case) inline, any
  other value through the rule (transforms/event_time.py).
* ``stamp_batch``: each record's timestamp and the watermark before it,
  where the watermark follows the records as ``stamp_us`` moves it, with
  numpy.
"""
from __future__ import annotations

from typing import List, NamedTuple, Optional, Sequence

import numpy as np
import orjson

from transforms.event_time import MAX_EPOCH_MS, MIN_EPOCH_MS
from transforms.sources.unbounded import event_time_ms_or_none
from transforms.sources.unbounded import payload_event_time_ms
from transforms.sources.unbounded import record_time_us
from transforms.vectorized.jsonl import shaped_event_times

# "No value" in an int64 column: below every watermark and timestamp.
_NONE = np.iinfo(np.int64).min


def payload_event_times_ms(payloads: Sequence[bytes],
                           field: str = 'event_time'
                           ) -> List[Optional[int]]:
  """payload_event_time_ms of each payload."""
  n = len(payloads)
  todo: Sequence[int] = range(n)
  out: List[Optional[int]] = [None] * n
  shaped = shaped_event_times(payloads) if field == 'event_time' else None
  if shaped is not None:
    rows, event_ms = shaped
    known = event_ms.is_valid().to_numpy(zero_copy_only=False)
    done = np.zeros(n, bool)
    done[rows[known]] = True
    values = np.zeros(n, np.int64)
    values[rows[known]] = event_ms.drop_null().to_numpy()
    out = values.tolist()
    todo = np.flatnonzero(~done).tolist()
  loads = orjson.loads
  for i in todo:
    payload = payloads[i]
    try:
      obj = loads(payload) if payload else None
    except orjson.JSONDecodeError:
      out[i] = payload_event_time_ms(payload, field)  # json's decoder
      continue
    value = obj.get(field) if type(obj) is dict else None
    if type(value) is int and MIN_EPOCH_MS <= value <= MAX_EPOCH_MS:
      out[i] = value  # what parse_event_time_ms returns for it
    else:
      out[i] = None if value is None else event_time_ms_or_none(value)
  return out


class BatchStamps(NamedTuple):
  """A batch's records stamped in order (see ``stamp_batch``)."""
  watermarks_ms: List[Optional[int]]  # each record's watermark before it
  low_us: int  # the lowest record timestamp
  watermark_us: Optional[int]  # the watermark after the last record


def stamp_batch(event_ms: Sequence[Optional[int]],
                transport_ms: Sequence[Optional[int]],
                watermark_us: Optional[int], ooo_us: int) -> BatchStamps:
  """``stamp_us`` applied to each record in turn, starting at watermark_us
  (None: no watermark yet); the watermark before each record in ms
  (floored), None while there is none."""
  has = np.fromiter((e is not None for e in event_ms), bool, len(event_ms))
  event_ms = np.fromiter((e or 0 for e in event_ms), np.int64, len(has))
  n = len(has)
  start = _NONE if watermark_us is None else watermark_us
  us = np.where(has, event_ms, 0) * 1000
  after = np.maximum(np.maximum.accumulate(np.where(has, us - ooo_us, _NONE)),
                     start)
  before = np.concatenate([[start], after[:-1]]).astype(np.int64)
  stamps = np.where(has, us, before)
  fallback = np.flatnonzero(~has & (before == _NONE))
  for i in fallback.tolist():  # no event time and no watermark yet
    stamps[i] = record_time_us(None, transport_ms[i], None)
  missing = int(np.count_nonzero(before == _NONE))  # a prefix: it only rises
  watermarks: List[Optional[int]] = [None] * missing
  watermarks.extend((before[missing:] // 1000).tolist())
  last = int(after[-1]) if n else start
  return BatchStamps(watermarks, int(stamps.min()) if n else 0,
                     None if last == _NONE else last)
