"""CPU seconds per million records of the streaming read's Python steps.

    python -m benchmarks.stages                 # 200,000 events, batches of 10,000
    python -m benchmarks.stages --events 500000 --batch 50000

End-to-end runs on this 2-core VM move by 2x within the hour (see
docs/performance.md); the steps below are timed in one process with
``time.process_time`` (the median of --repeat rounds, the steps taking
turns in each), on the streaming benchmark's
own events, so a change to one of them shows as a figure that holds:

* ``event times, per record``: payload_event_time_ms and stamp_us record by
  record (the record engine's read, and the batch read before session 16);
* ``event times, per batch``: payload_event_times_ms and stamp_batch (the
  batch read since session 16), checked equal to the record-by-record
  result first;
* ``check``: the columnar checks of a batch (check_jsonl_bytes), the
  read's fused next step.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Callable, Dict, List, Sequence

from benchmarks.streaming.events import make_backlog
from transforms.currency import load_fx_rates
from transforms.sources.batch_time import payload_event_times_ms, stamp_batch
from transforms.sources.unbounded import payload_event_time_ms, stamp_us
from transforms.vectorized.columns import prepare_rates
from transforms.vectorized.jsonl import check_jsonl_bytes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_OOO_US = 5_000_000
_TRANSPORT_MS = 1_796_290_000_000


def per_record(payloads: Sequence[bytes]) -> tuple:
  """(watermarks before each record, lowest stamp, watermark after)."""
  hi, low, watermarks = None, None, []
  for payload in payloads:
    watermarks.append(None if hi is None else hi // 1000)
    us, hi = stamp_us(payload_event_time_ms(payload), _TRANSPORT_MS, hi,
                      _OOO_US)
    low = us if low is None else min(low, us)
  return watermarks, low, hi


def per_batch(payloads: Sequence[bytes]) -> tuple:
  stamps = stamp_batch(payload_event_times_ms(payloads),
                       [_TRANSPORT_MS] * len(payloads), None, _OOO_US)
  return stamps.watermarks_ms, stamps.low_us, stamps.watermark_us


def cpu_per_million(steps: Dict[str, Callable[[Sequence[bytes]], object]],
                    batches: List[Sequence[bytes]],
                    repeat: int) -> Dict[str, float]:
  """The median CPU seconds per 1M records of each step; the steps take
  turns in every round, so a drift of the machine's speed hits all."""
  records = sum(len(b) for b in batches)
  times: Dict[str, List[float]] = {name: [] for name in steps}
  for _ in range(repeat):
    for name, step in steps.items():
      start = time.process_time()
      for batch in batches:
        step(batch)
      times[name].append((time.process_time() - start) * 1_000_000 / records)
  return {name: statistics.median(t) for name, t in times.items()}


def main(argv: List[str] = None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  ap.add_argument('--events', type=int, default=200_000)
  ap.add_argument('--batch', type=int, default=10_000,
                  help='records per batch (one consume() call)')
  ap.add_argument('--repeat', type=int, default=7)
  ap.add_argument('--seed', type=int, default=7)
  args = ap.parse_args(argv)
  payloads = [value for _, value in make_backlog(args.events, args.seed, 600)]
  batches = [payloads[i:i + args.batch]
             for i in range(0, len(payloads), args.batch)]
  for batch in batches:
    if per_batch(batch) != per_record(batch):
      raise SystemExit('per-batch stamps differ from per-record stamps')
  rates = prepare_rates(
      load_fx_rates(os.path.join(ROOT, 'data', 'fx_rates.csv')))

  def check(batch: Sequence[bytes]) -> object:
    return check_jsonl_bytes(b'\n'.join(batch) + b'\n', 0, 'bench', 0, rates)

  steps = {'event times, per record': per_record,
           'event times, per batch': per_batch, 'check': check}
  print(f'{args.events:,} events in batches of {args.batch:,}; CPU s per '
        f'1M records (median of {args.repeat}, steps in turn)')
  for name, seconds in cpu_per_million(steps, batches, args.repeat).items():
    print(f'  {name:<26} {seconds:6.2f}')
  return 0


if __name__ == '__main__':
  raise SystemExit(main())
