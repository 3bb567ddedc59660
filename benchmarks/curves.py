"""Cost curves: how time, memory and throughput grow, as a table and a PNG.

    python -m benchmarks.curves batch                  # 100k, 1M, 5M orders
    python -m benchmarks.curves streaming              # 1, 2, 4 partitions
    python -m benchmarks.curves batch --sizes 100000,1000000 --chart out.png

`batch` runs benchmarks/batch.py at each size (the default pipeline and the
same-rules DuckDB reference, results compared) and draws wall seconds and
peak RSS against the number of orders. `streaming` runs
benchmarks/streaming/ once per partition count (its own Kafka broker, a
backlog of --events in the topic) and draws end-to-end events/s and p99
freshness against the partitions. Each writes its figures as JSON next to
the chart, with the load average, so a chart can be traced to its runs.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from typing import Any, Dict, List, Optional

from benchmarks import batch, streaming

DEFAULT_SIZES = (100_000, 1_000_000, 5_000_000)
DEFAULT_PARTITIONS = (1, 2, 4)
BATCH_IMPLS = ('duckdb', 'beam')


def batch_curve(sizes: List[int], impls: List[str], repeat: int,
                data_dir: str) -> List[Dict[str, Any]]:
  rows: List[Dict[str, Any]] = []
  for n in sizes:
    load = os.getloadavg()[0]
    for r in batch.bench(n, impls, repeat, 6, data_dir, keep=False):
      rows.append({**r, 'load_before': load, 'load_after': os.getloadavg()[0]})
  return rows


def streaming_curve(partitions: List[int], events: int, runner: str,
                    extra: List[str]) -> List[Dict[str, Any]]:
  rows: List[Dict[str, Any]] = []
  for p in partitions:
    out = tempfile.NamedTemporaryFile(suffix='.json', delete=False).name
    code = streaming.main(['--events', str(events), '--partitions', str(p),
                           '--runner', runner, '--json', out, *extra])
    with open(out, encoding='utf-8') as f:
      run = json.load(f)
    os.unlink(out)
    for r in run['results']:
      rows.append({'runner': r['runner'], 'partitions': p, 'events': events,
                   'events_per_s': r.get('sink', {}).get('events_per_s'),
                   'p99_s': r.get('freshness', {}).get('p99_s'),
                   'target_p99_s': r.get('early_firing_s', 1) + 2,
                   'load': r.get('load_after', r.get('load_before')),
                   'error': r.get('error', '') or ('' if code == 0 else
                                                   f'exit {code}')})
  return rows


def _figure(title: str):
  import matplotlib
  matplotlib.use('Agg')  # no display: a file only
  import matplotlib.pyplot as plt
  fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
  fig.suptitle(title)
  return plt, fig, axes


def draw_batch(rows: List[Dict[str, Any]], path: str) -> None:
  plt, fig, (time_ax, mem_ax) = _figure(
      'Batch: the default pipeline vs the same-rules DuckDB reference '
      f'({os.cpu_count()} cores)')
  for impl in sorted({r['impl'] for r in rows}):
    mine = sorted((r for r in rows if r['impl'] == impl),
                  key=lambda r: r['orders'])
    xs = [r['orders'] for r in mine]
    time_ax.plot(xs, [r['wall'] for r in mine], marker='o', label=impl)
    mem_ax.plot(xs, [r['rss_mb'] for r in mine], marker='o', label=impl)
  from matplotlib.ticker import NullFormatter, ScalarFormatter
  sizes = sorted({r['orders'] for r in rows})
  for ax, label in ((time_ax, 'wall seconds'), (mem_ax, 'peak RSS MB')):
    ax.set_xscale('log')
    ax.set_yscale('log')
    ax.set_xticks(sizes, [f'{n:,}' for n in sizes])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(ScalarFormatter())
    ax.set_xlabel('orders')
    ax.set_ylabel(label)
    ax.grid(True, which='both', alpha=0.3)
    ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def draw_streaming(rows: List[Dict[str, Any]], path: str) -> None:
  plt, fig, (rate_ax, fresh_ax) = _figure(
      'Streaming from Kafka: end-to-end rate and p99 freshness '
      f'({os.cpu_count()} cores)')
  for runner in sorted({r['runner'] for r in rows}):
    mine = sorted((r for r in rows if r['runner'] == runner and
                   r['events_per_s'] is not None),
                  key=lambda r: r['partitions'])
    xs = [r['partitions'] for r in mine]
    rate_ax.plot(xs, [r['events_per_s'] for r in mine], marker='o',
                 label=runner)
    fresh_ax.plot(xs, [r['p99_s'] for r in mine], marker='o', label=runner)
  rate_ax.axhline(streaming.TARGET_EVENTS_PER_S, color='grey', ls='--',
                  label='target')
  fresh_ax.axhline(rows[0].get('target_p99_s', 3), color='grey', ls='--',
                   label='target (early firing + 2 s)')
  for ax, label in ((rate_ax, 'events/s end to end'),
                    (fresh_ax, 'p99 freshness s')):
    ax.set_xlabel('Kafka partitions')
    ax.set_ylabel(label)
    ax.set_xticks(sorted({r['partitions'] for r in rows}))
    ax.grid(True, alpha=0.3)
    ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def _write(rows: List[Dict[str, Any]], chart: str, draw) -> None:
  with open(os.path.splitext(chart)[0] + '.json', 'w',
            encoding='utf-8') as f:
    json.dump({'cores': os.cpu_count(), 'rows': rows}, f, indent=1,
              default=str)
  draw(rows, chart)
  print(f'chart: {chart}')


def main(argv: Optional[List[str]] = None) -> int:
  ap = argparse.ArgumentParser(prog='python -m benchmarks.curves',
                               description=__doc__.split('\n')[0])
  sub = ap.add_subparsers(dest='kind', required=True)
  b = sub.add_parser('batch', help='time and memory against orders')
  b.add_argument('--sizes', default=','.join(map(str, DEFAULT_SIZES)))
  b.add_argument('--impl', action='append', choices=batch.ALL,
                 help=f'repeatable; default: {", ".join(BATCH_IMPLS)}')
  b.add_argument('--repeat', type=int, default=1)
  b.add_argument('--data_dir', default=os.path.join(tempfile.gettempdir(),
                                                    'sales-bench'))
  b.add_argument('--chart', default='batch_curve.png')
  s = sub.add_parser('streaming', help='events/s against partitions')
  s.add_argument('--partitions', default=','.join(map(str,
                                                      DEFAULT_PARTITIONS)))
  s.add_argument('--events', type=int, default=1_000_000)
  s.add_argument('--runner', choices=('prism', 'flink', 'all'),
                 default='all')
  s.add_argument('--chart', default='streaming_curve.png')
  s.add_argument('--streaming-arg', action='append', default=[],
                 help='extra flag for benchmarks.streaming (repeatable)')
  for p in (b, s):
    p.add_argument('--redraw', default='',
                   help='draw --chart from the JSON of an earlier run')
  args = ap.parse_args(argv)
  if args.redraw:
    with open(args.redraw, encoding='utf-8') as f:
      rows = json.load(f)['rows']
    (draw_batch if args.kind == 'batch' else draw_streaming)(rows, args.chart)
    print(f'chart: {args.chart}')
    return 0
  if args.kind == 'batch':
    rows = batch_curve([int(x) for x in args.sizes.split(',')],
                       args.impl or list(BATCH_IMPLS), args.repeat,
                       args.data_dir)
    _write(rows, args.chart, draw_batch)
    return 1 if any(r['identical'].startswith('NO') for r in rows) else 0
  rows = streaming_curve([int(x) for x in args.partitions.split(',')],
                         args.events, args.runner, args.streaming_arg)
  _write(rows, args.chart, draw_streaming)
  print(f'{"runner":<8}{"parts":>6}{"events/s":>11}{"p99 s":>8}{"load":>7}')
  for r in rows:
    print(f'{r["runner"]:<8}{r["partitions"]:>6}'
          f'{r["events_per_s"] or 0:>11,.0f}{r["p99_s"] or 0:>8.1f}'
          f'{(r["load"] or [0])[0]:>7.1f}'
          f'  {r["error"][:80]}')
  return 1 if any(r['error'] for r in rows) else 0


if __name__ == '__main__':
  sys.exit(main())
