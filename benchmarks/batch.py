"""Batch benchmark: the pipeline vs DuckDB, polars and pandas.

    python -m benchmarks.batch --orders 1000000            # the table
    python -m benchmarks.batch --orders 1000000 --repeat 3 # median of 3
    python -m benchmarks.batch --scaling                   # 100k, 1M, 5M

Generates the input with the project's generator (tools/generate_orders/,
~1 % duplicates, ~1 % dirty; cached in --data_dir), runs every
implementation as a subprocess, checks that all of them produce identical
results (counts per dead-letter reason, and per 1-hour window and category:
orders, units, revenue to the cent, distinct customers, with `__all__`), and
prints wall seconds, records/s, peak memory (RSS summed over the process
tree, sampled every 20 ms) and the ratio to the fastest.

Implementations:
  beam              `python -m pipeline` as a user runs it (columnar steps)
  beam-2w           the same with --direct_num_workers=2 multi_processing
  beam-2t           the same with --direct_num_workers=2 multi_threading
  beam-records      the hidden debugging switch --engine records (one record
                    at a time), for comparison
  beam-records-2w   the same with 2 worker processes
  beam-mining       `beam` with --anomalies --product_pairs --segments 5
                    (docs/mining.md); its sales_by_category must not change
  beam-spark        `python -m runners.spark.run local` (Spark local[2])
  beam-flink        `python -m runners.flink.run local` (Flink [local])
  duckdb, polars, pandas   benchmarks/references/
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from decimal import Decimal
from typing import Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable
TWO_WORKERS = ['--direct_num_workers=2', '--direct_running_mode=multi_processing']
BEAM = {
    'beam': [],
    'beam-2w': TWO_WORKERS,
    'beam-2t': ['--direct_num_workers=2',
                '--direct_running_mode=multi_threading'],
    'beam-records': ['--engine', 'records'],
    'beam-records-2w': ['--engine', 'records', *TWO_WORKERS],
    'beam-mining': ['--anomalies', '--product_pairs', '--segments', '5'],
    'beam-spark': [],
    'beam-flink': [],
}
# Runs started through a runner's module instead of `-m pipeline`.
LAUNCHERS = {'beam-spark': ['-m', 'runners.spark.run', 'local'],
             'beam-flink': ['-m', 'runners.flink.run', 'local']}
REFERENCES = ('duckdb', 'polars', 'pandas')
ALL = ('duckdb', 'polars', 'pandas', 'beam', 'beam-2w', 'beam-2t',
       'beam-records', 'beam-records-2w', 'beam-mining')
# Only when asked for (--impl): need runners/spark/setup.sh, runners/flink/setup.sh.
OPTIONAL = ('beam-spark', 'beam-flink')
SCALING_SIZES = (100_000, 1_000_000, 5_000_000)
SCALING_IMPLS = ('duckdb', 'polars', 'beam', 'beam-2w')


# --- measuring --------------------------------------------------------------

def _children(pid: int) -> List[int]:
  """Children started by any thread of the process."""
  out: List[int] = []
  try:
    tasks = os.listdir(f'/proc/{pid}/task')
  except OSError:
    return out
  for task in tasks:
    try:
      with open(f'/proc/{pid}/task/{task}/children', encoding='ascii') as f:
        out.extend(int(p) for p in f.read().split())
    except OSError:
      pass
  return out


def _rss_kb(pid: int) -> int:
  try:
    with open(f'/proc/{pid}/status', encoding='ascii') as f:
      for line in f:
        if line.startswith('VmRSS:'):
          return int(line.split()[1])
  except OSError:
    pass
  return 0


def tree_rss_kb(pid: int) -> int:
  total, stack = 0, [pid]
  while stack:
    p = stack.pop()
    total += _rss_kb(p)
    stack.extend(_children(p))
  return total


def run_measured(cmd: List[str], log_path: str) -> Tuple[float, int, int]:
  """(wall seconds, peak tree RSS kB, exit code) of a command."""
  peak = [0]
  with open(log_path, 'w', encoding='utf-8') as log:
    began = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=log)
    done = threading.Event()

    def sample() -> None:
      while not done.is_set():
        peak[0] = max(peak[0], tree_rss_kb(proc.pid))
        done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = proc.wait()
    wall = time.perf_counter() - began
    done.set()
    sampler.join()
  return wall, peak[0], code


# --- inputs and results -------------------------------------------------------

def input_file(data_dir: str, orders: int, seed: int) -> str:
  os.makedirs(data_dir, exist_ok=True)
  path = os.path.join(data_dir, f'orders-{orders}-s{seed}.jsonl')
  if not os.path.exists(path):
    print(f'generating {orders} orders -> {path}', file=sys.stderr)
    tmp = path + '.tmp.jsonl'
    subprocess.run([PY, '-m', 'tools.generate_orders', '--count', str(orders),
                    '--seed', str(seed), '--out', tmp], cwd=ROOT, check=True)
    os.replace(tmp, path)
  return path


def beam_canonical(out_dir: str) -> Dict:
  import pyarrow.parquet as pq
  with open(os.path.join(out_dir, 'summary.json'), encoding='utf-8') as f:
    summary = json.load(f)
  counts = {'read': summary['records_read'], 'valid': summary['valid'],
            'duplicates': summary['duplicates']}
  counts.update(summary['dead_letters'])
  counts['dead_letters'] = sum(summary['dead_letters'].values())
  rows = []
  table = pq.read_table(os.path.join(out_dir, 'sales_by_category.parquet'))
  for r in table.to_pylist():
    start = int(r['window_start'].timestamp() * 1000)
    rows.append([start, r['category'], r['orders'], r['units'],
                 str(Decimal(r['revenue_usd'])), r['distinct_customers']])
  return {'counts': dict(sorted(counts.items())), 'rows': sorted(rows)}


def run_one(impl: str, path: str, work: str) -> Tuple[float, int, Dict]:
  out = os.path.join(work, impl)
  os.makedirs(out, exist_ok=True)
  log = os.path.join(work, impl + '.log')
  if impl in BEAM:
    cmd = [PY, *LAUNCHERS.get(impl, ['-m', 'pipeline']), '--input', path,
           '--output', out, *BEAM[impl]]
  else:
    cmd = [PY, '-m', 'benchmarks.references', '--impl', impl, '--input', path,
           '--out', os.path.join(out, 'result.json')]
  wall, rss, code = run_measured(cmd, log)
  if code != 0:
    with open(log, encoding='utf-8', errors='replace') as f:
      tail = f.read()[-2000:]
    raise RuntimeError(f'{impl} failed (exit {code}):\n{tail}')
  if impl in BEAM:
    result = beam_canonical(out)
  else:
    with open(os.path.join(out, 'result.json'), encoding='utf-8') as f:
      result = json.load(f)
    result.pop('seconds_inside', None)
  return wall, rss, result


def differences(a: Dict, b: Dict) -> str:
  if a == b:
    return ''
  if a['counts'] != b['counts']:
    keys = sorted(set(a['counts']) | set(b['counts']))
    return 'counts differ: ' + ', '.join(
        f'{k}: {a["counts"].get(k)} vs {b["counts"].get(k)}' for k in keys
        if a['counts'].get(k) != b['counts'].get(k))
  ra, rb = set(map(tuple, a['rows'])), set(map(tuple, b['rows']))
  return (f'{len(ra - rb)} rows differ; e.g. {sorted(ra - rb)[:1]} vs '
          f'{sorted(rb - ra)[:1]}')


def bench(orders: int, impls: List[str], repeat: int, seed: int,
          data_dir: str, keep: bool) -> List[Dict]:
  path = input_file(data_dir, orders, seed)
  size_mb = os.path.getsize(path) / 1e6
  print(f'\ninput: {path} ({orders} orders, {size_mb:.0f} MB); '
        f'load average {os.getloadavg()[0]:.2f}; repeat {repeat}',
        flush=True)
  work = tempfile.mkdtemp(prefix='sales-bench-', dir=data_dir)
  results: List[Dict] = []
  baseline: Optional[Tuple[str, Dict]] = None
  for impl in impls:
    walls, peaks = [], []
    result: Dict = {}
    for _ in range(repeat):
      wall, rss, result = run_one(impl, path, work)
      walls.append(wall)
      peaks.append(rss)
      print(f'  {impl:<16} {wall:8.2f} s  {rss / 1024:7.0f} MB  '
            f'(load {os.getloadavg()[0]:.2f})', flush=True)
    if baseline is None:
      baseline = (impl, result)
      same = 'baseline'
    else:
      diff = differences(result, baseline[1])
      same = 'yes' if not diff else f'NO ({diff})'
    results.append({'impl': impl, 'wall': statistics.median(walls),
                    'walls': walls, 'rss_mb': max(peaks) / 1024,
                    'identical': same, 'orders': orders})
  if not keep:
    import shutil
    shutil.rmtree(work, ignore_errors=True)
  fastest = min(r['wall'] for r in results)
  print(f'\n{orders} orders ({size_mb:.0f} MB JSONL), median of {repeat}; '
        f'results compared with {results[0]["impl"]}')
  print(f'{"implementation":<17}{"wall s":>9}{"records/s":>12}'
        f'{"peak RSS MB":>13}{"x fastest":>11}  identical')
  for r in results:
    print(f'{r["impl"]:<17}{r["wall"]:9.2f}{orders / r["wall"]:12,.0f}'
          f'{r["rss_mb"]:13,.0f}{r["wall"] / fastest:11.1f}  '
          f'{r["identical"]}')
  return results


def main(argv: Optional[List[str]] = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m benchmarks.batch',
                                   description=__doc__.split('\n')[0])
  parser.add_argument('--orders', type=int, default=1_000_000)
  parser.add_argument('--impl', action='append', choices=ALL + OPTIONAL,
                      help='repeatable; default: all (scaling: '
                      f'{", ".join(SCALING_IMPLS)})')
  parser.add_argument('--repeat', type=int, default=1,
                      help='runs per implementation; the median is shown')
  parser.add_argument('--seed', type=int, default=6)
  parser.add_argument('--data_dir', default=os.path.join(
      tempfile.gettempdir(), 'sales-bench'),
      help='where generated inputs are cached (default: $TMPDIR/sales-bench)')
  parser.add_argument('--scaling', action='store_true',
                      help='run 100k, 1M and 5M orders and report growth')
  parser.add_argument('--sizes', default='',
                      help='comma-separated order counts for --scaling')
  parser.add_argument('--keep', action='store_true',
                      help='keep the outputs and logs of the runs')
  parser.add_argument('--json', default='', help='also write results here')
  args = parser.parse_args(argv)
  if not args.scaling:
    results = bench(args.orders, args.impl or list(ALL), args.repeat,
                    args.seed, args.data_dir, args.keep)
  else:
    sizes = ([int(s) for s in args.sizes.split(',')] if args.sizes else
             list(SCALING_SIZES))
    impls = args.impl or list(SCALING_IMPLS)
    results = []
    for n in sizes:
      results += bench(n, impls, args.repeat, args.seed, args.data_dir,
                       args.keep)
    print('\nscaling (wall s / peak RSS MB; growth vs the previous size)')
    print(f'{"implementation":<17}' + ''.join(f'{n:>26,}' for n in sizes))
    for impl in impls:
      cells, prev = [], None
      for n in sizes:
        r = next(x for x in results if x['impl'] == impl and x['orders'] == n)
        growth = '' if prev is None else (
            f' x{r["wall"] / prev["wall"]:.1f}/x{r["rss_mb"] / prev["rss_mb"]:.1f}')
        cells.append(f'{r["wall"]:.1f}s/{r["rss_mb"]:.0f}MB{growth}')
        prev = r
      print(f'{impl:<17}' + ''.join(f'{c:>26}' for c in cells))
  if args.json:
    with open(args.json, 'w', encoding='utf-8') as f:
      json.dump(results, f, indent=2)
  bad = [r for r in results if r['identical'].startswith('NO')]
  return 1 if bad else 0


if __name__ == '__main__':
  sys.exit(main())
