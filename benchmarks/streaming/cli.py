"""The command line, `python -m benchmarks.streaming`: parses the flags,
starts the Kafka broker, runs each runner once (run_one), prints the table
and profiles, and writes --json; `--_inproc` is the internal entry point of
the profiled pipeline process."""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional

from benchmarks.streaming.cpu import fmt_load, load_average
from benchmarks.streaming.launching import profiled_pipeline, runner_args
from benchmarks.streaming.measuring import run_one
from benchmarks.streaming.report import print_profile, print_table

TARGET_EVENTS_PER_S = 50_000


def main(argv: Optional[List[str]] = None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  if argv and argv[0] == '--_inproc':
    # Internal: the pipeline process under the sampling profiler and/or a
    # diagnostic variant: --_inproc PROFILE_OUT|'' VARIANT -- pipeline flags
    rest = argv[3:]
    if rest and rest[0] == '--':
      rest = rest[1:]
    return profiled_pipeline(argv[1], argv[2], rest)
  from benchmarks import streaming  # its docstring describes the benchmark
  ap = argparse.ArgumentParser(prog='python -m benchmarks.streaming',
                               description=streaming.__doc__.split('\n')[0])
  ap.add_argument('--events', type=int, default=200_000,
                  help='backlog events for the throughput phase')
  ap.add_argument('--partitions', type=int, default=4)
  ap.add_argument('--flink-checkpoint-ms', type=int, default=10000,
                  help='Flink: checkpoint interval (0: none); offsets are '
                  'committed on checkpoints')
  ap.add_argument('--load', choices=('backlog', 'live'), default='backlog',
                  help='backlog: N events in the topic before the pipeline '
                  'starts, rate from the first offset commit (Prism); live: '
                  'the pipeline runs first, then N events are produced at '
                  'full speed, rate from the first produce to the sink '
                  '(any runner; Flink commits offsets only with checkpoints)')
  ap.add_argument('--runner', choices=('prism', 'flink', 'flink-cluster',
                                      'all'), default='prism',
                  help='flink: Flink\'s mini cluster in the job server; '
                  'flink-cluster: the running runners/flink/cluster.sh '
                  'cluster at FLINK_MASTER (not part of all)')
  ap.add_argument('--parallelism', type=int, default=1,
                  help='flink-cluster: the job\'s parallelism')
  ap.add_argument('--early-firing', type=int, default=1,
                  help='--early_firing_seconds of the pipeline')
  ap.add_argument('--waves', type=int, default=30)
  ap.add_argument('--wave-size', type=int, default=100)
  ap.add_argument('--wave-interval', type=float, default=2.0)
  ap.add_argument('--settle', type=float, default=3.0,
                  help='seconds between the drained backlog and the waves')
  ap.add_argument('--timeout', type=float, default=900.0,
                  help='max seconds for the throughput phase')
  ap.add_argument('--seed', type=int, default=7)
  ap.add_argument('--profile', action='store_true',
                  help='sample the pipeline process\'s stacks')
  ap.add_argument('--variant', choices=('baseline', 'no-dedupe'),
                  default='baseline',
                  help='diagnostic only: no-dedupe replaces the streaming '
                  'dedupe (keyed state + timer per order) by a pass-through')
  ap.add_argument('--pipeline-arg', action='append', default=[],
                  help='extra flag for python -m pipeline (repeatable, '
                  'e.g. --pipeline-arg=--kafka_idle_timeout_seconds=2)')
  ap.add_argument('--keep', action='store_true',
                  help='keep the SQLite files and pipeline logs')
  ap.add_argument('--json', default='', help='write the results here')
  args = ap.parse_args(argv)

  from services.kafka.broker import KafkaBroker
  runners = ['prism', 'flink'] if args.runner == 'all' else [args.runner]
  work = tempfile.mkdtemp(prefix='bench-streaming-')
  plans = [(r, runner_args(r, args.flink_checkpoint_ms, work,
                           args.parallelism))
           for r in runners]
  plans = [(r, a) for r, a in plans if a is not None]
  results: List[Dict[str, Any]] = []
  load_start = load_average()
  print(f'load average at start: {fmt_load(load_start)} '
        f'({os.cpu_count()} cores)', flush=True)
  if not plans:
    return 1
  broker = KafkaBroker()
  t = time.monotonic()
  broker.start()
  print(f'Kafka broker at {broker.bootstrap} ({time.monotonic() - t:.1f}s)',
        flush=True)
  try:
    for runner, beam_args in plans:
      try:
        results.append(run_one(runner, beam_args, broker, args, work))
      except Exception as e:  # pylint: disable=broad-except
        print(f'[{runner}] failed: {e}', flush=True)
        results.append({'runner': runner, 'events': args.events,
                        'partitions': args.partitions,
                        'early_firing_s': args.early_firing,
                        'load_before': load_average(), 'error': str(e)[-2000:]})
  finally:
    broker.stop()
  print()
  print_table(results)
  for r in results:
    print_profile(r)
    if 'error' in r:
      print(f'[{r["runner"]}] error: {r["error"][-600:]}')
  if args.json:
    with open(args.json, 'w', encoding='utf-8') as f:
      json.dump({'load_start': load_start, 'load_end': load_average(),
                 'cores': os.cpu_count(), 'target_events_per_s':
                 TARGET_EVENTS_PER_S, 'results': results}, f, indent=1,
                default=str)
  if not args.keep:
    import shutil
    shutil.rmtree(work, ignore_errors=True)
  return 0 if results and all('error' not in r for r in results) else 1
