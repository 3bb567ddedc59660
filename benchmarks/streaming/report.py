"""The benchmark's report on stdout: one table row per runner (rates,
freshness, load average), and with --profile the CPU seconds of the
throughput phase and where the SDK worker's bundle threads spent their
samples."""
from __future__ import annotations

from typing import Any, Dict, List

from benchmarks.streaming.cpu import fmt_load


def print_table(results: List[Dict[str, Any]]) -> None:
  header = ('runner', 'events', 'parts', 'startup s', 'source ev/s',
            'sink ev/s', 'fresh p50 s', 'fresh p99 s', 'target p99',
            'load (1/5/15)')
  rows = [header]
  for r in results:
    fr = r.get('freshness', {})
    name = r['runner'] + ('' if r.get('variant', 'baseline') == 'baseline'
                          else f' ({r["variant"]})')
    rows.append((
        name, str(r['events']), str(r['partitions']),
        _s(r.get('startup_s')), _s(r.get('source', {}).get('events_per_s')),
        _s(r.get('sink', {}).get('events_per_s')), _s(fr.get('p50_s')),
        _s(fr.get('p99_s')), f'<= {r["early_firing_s"] + 2}',
        fmt_load(r.get('load_after', r['load_before']))))
  widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
  for i, row in enumerate(rows):
    print('  '.join(c.ljust(w) for c, w in zip(row, widths)))
    if i == 0:
      print('  '.join('-' * w for w in widths))


def _s(x) -> str:
  return '-' if x is None else str(x)


def print_profile(result: Dict[str, Any]) -> None:
  prof = result.get('profile')
  cpu = result.get('cpu_s_throughput_phase')
  if cpu:
    print(f'\n[{result["runner"]}] CPU seconds during the throughput phase '
          f'({cpu["wall_s"]} s wall): pipeline tree {cpu["pipeline_tree"]}, '
          f'Kafka JVM {cpu["kafka_jvm"]}'
          + (f', benchmark (producer, sampler) {cpu["benchmark"]}'
             if 'benchmark' in cpu else ''))
  if not prof:
    return
  totals = prof['totals']
  busy = totals.get('bundle thread', 0)
  print(f'[{result["runner"]}] SDK samples: {totals}')
  print('  bundle-thread samples by project module (innermost project frame):')
  for name, count in prof['by_project_module'][:12]:
    print(f'    {100 * count / max(busy, 1):5.1f}%  {name}')
  print('  inclusive (top 25):')
  for name, count in prof['inclusive'][:25]:
    print(f'    {100 * count / max(busy, 1):5.1f}%  {name}')
  print('  self (top 15):')
  for name, count in prof['self'][:15]:
    print(f'    {100 * count / max(busy, 1):5.1f}%  {name}')
