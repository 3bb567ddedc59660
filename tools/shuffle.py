"""A replay order that stays within a bounded event-time disorder.

Used by the Kafka replay tool and the Pub/Sub admin tool, so that demos and
tests replay events "in any order within the allowed lateness".
"""
from __future__ import annotations

import random
from typing import List, Optional, Sequence, Tuple, TypeVar

E = TypeVar('E', bound=Tuple)


def bounded_shuffle(events: Sequence[E], shuffle_seconds: float,
                    seed: Optional[int]) -> List[E]:
  """Sorts by event time, then shuffles inside S-second event-time buckets.

  Each event is a tuple whose first field is its event time in epoch ms, or
  None. An event without a time takes the time of the event before it in
  the input (or the first known time), so dirty lines travel with their
  neighbours. No event then comes S seconds or more after a newer one.
  """
  if shuffle_seconds <= 0:
    return list(events)
  rng = random.Random(seed)
  last = next((e[0] for e in events if e[0] is not None), 0)
  keyed = []
  for i, event in enumerate(events):
    last = event[0] if event[0] is not None else last
    keyed.append((last, i, event))
  keyed.sort(key=lambda x: (x[0], x[1]))
  span_ms = int(shuffle_seconds * 1000)
  out: List[E] = []
  bucket: List[E] = []
  bucket_start = None
  for eff, _, event in keyed:
    if bucket_start is None or eff - bucket_start >= span_ms:
      rng.shuffle(bucket)
      out.extend(bucket)
      bucket, bucket_start = [], eff
    bucket.append(event)
  rng.shuffle(bucket)
  out.extend(bucket)
  return out
