"""One benchmark run on one runner (run_one): create the topic, produce the
backlog, launch the pipeline, then measure the throughput phase (backlog:
from the first offset commit to the sink holding every event; live: from
the first produce) and the freshness phase (timed waves until the sink
shows them), with the CPU seconds spent meanwhile."""
from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid
from typing import Any, Dict, List, Optional, Tuple

from benchmarks.streaming.cpu import (
    cpu_delta, kafka_jvm_pids, load_average, pids_cpu, tree_cpu)
from benchmarks.streaming.events import (
    make_backlog, produce_all, producer, wave_events)
from benchmarks.streaming.launching import (
    PY, ROOT, cancel_cluster_job, stop_pipeline)
from benchmarks.streaming.sampler import (
    Sampler, percentile, sustained_rate, timeline)


def run_one(runner: str, beam_args: List[str], broker, args,
            work: str) -> Dict[str, Any]:
  from services.kafka.broker import create_topic
  tag = uuid.uuid4().hex[:6]
  topic = f'bench-{runner}-{tag}'
  group = f'bench-{runner}-{tag}'
  create_topic(broker.bootstrap, topic, args.partitions)
  db_path = os.path.join(work, f'{runner}-{tag}.db')
  result: Dict[str, Any] = {'runner': runner, 'variant': args.variant,
                            'events': args.events,
                            'partitions': args.partitions,
                            'early_firing_s': args.early_firing,
                            'load_before': load_average()}

  t = time.monotonic()
  backlog = make_backlog(args.events, args.seed, span_s=120)
  gen_s = time.monotonic() - t
  prod = producer(broker.bootstrap)
  result['load'] = args.load
  if args.load == 'backlog':
    t = time.monotonic()
    produce_all(prod, topic, backlog)
    result['produce_backlog_s'] = round(time.monotonic() - t, 2)
    print(f'[{runner}] generated {args.events} events in {gen_s:.1f}s, '
          f'produced in {result["produce_backlog_s"]}s', flush=True)
    backlog = None  # in the topic; --load live produces it later

  pipeline_args = [
      '--source', 'kafka', '--streaming',
      '--kafka_bootstrap_servers', broker.bootstrap, '--kafka_topic', topic,
      '--kafka_group_id', group, '--sink', f'sqlite:///{db_path}',
      '--output', '', '--early_firing_seconds', str(args.early_firing),
      *beam_args, *args.pipeline_arg]  # the user's flags last: they win
  profile_path = os.path.join(work, f'{runner}-{tag}.profile.json')
  if args.profile or args.variant != 'baseline':
    cmd = [PY, '-m', 'benchmarks.streaming', '--_inproc',
           profile_path if args.profile else '', args.variant,
           '--', *pipeline_args]
  else:
    cmd = [PY, '-m', 'pipeline', *pipeline_args]
  out_path = os.path.join(work, f'{runner}-{tag}.out')
  err_path = os.path.join(work, f'{runner}-{tag}.err')
  kafka_pids = kafka_jvm_pids(broker.data_dir)
  sampler = Sampler(db_path, broker.bootstrap, topic, group, args.partitions)
  with open(out_path, 'w') as out_f, open(err_path, 'w') as err_f:
    launched = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out_f, stderr=err_f,
                            start_new_session=True)
    sampler.start()
    try:
      if backlog is None:
        result.update(_measure(runner, proc, sampler, broker, prod, topic,
                               tag, args, launched, kafka_pids, err_path))
      else:
        result.update(_measure_live(runner, proc, sampler, prod, topic, tag,
                                    args, launched, kafka_pids, err_path,
                                    backlog))
    finally:
      try:
        sampler.stop()
      finally:
        stop_pipeline(proc)
        if runner == 'flink-cluster':
          cancel_cluster_job(beam_args)
  with open(out_path, encoding='utf-8') as f:
    result['pipeline_summary'] = f.read().strip()
  result['pipeline_exit'] = proc.returncode
  result['load_after'] = load_average()
  if args.profile and os.path.exists(profile_path):
    with open(profile_path, encoding='utf-8') as f:
      result['profile'] = json.load(f)
  if not args.keep:
    for p in (db_path, db_path + '-wal', db_path + '-shm'):
      if os.path.exists(p):
        os.remove(p)
  else:
    result['files'] = {'db': db_path, 'stdout': out_path, 'stderr': err_path}
  return result


def _tail(path: str, n: int = 1500) -> str:
  with open(path, encoding='utf-8', errors='replace') as f:
    return f.read()[-n:]


def _measure(runner, proc, sampler, broker, prod, topic, tag, args, launched,
             kafka_pids, err_path) -> Dict[str, Any]:
  n = args.events
  deadline = time.monotonic() + args.timeout
  res: Dict[str, Any] = {}
  cpu0 = cpu_k0 = None
  t_first = None
  # Throughput phase: until the sink reflects every backlog event.
  while sampler.latest_sink() < n:
    if proc.poll() is not None:
      raise RuntimeError(f'pipeline exited ({proc.returncode}): '
                         f'{_tail(err_path)}')
    if time.monotonic() > deadline:
      res['timeout'] = True
      print(f'[{runner}] timeout: sink has {sampler.latest_sink()} of {n}, '
            f'committed {sampler.latest_committed()}', flush=True)
      break
    if t_first is None and sampler.latest_committed() > 0:
      t_first = time.monotonic()
      cpu0, cpu_k0 = tree_cpu(proc.pid), pids_cpu(kafka_pids)
      print(f'[{runner}] first offsets committed {t_first - launched:.1f}s '
            'after launch', flush=True)
    time.sleep(0.2)
  done = time.monotonic()
  cpu1, cpu_k1 = tree_cpu(proc.pid), pids_cpu(kafka_pids)
  commits = [(t, sum(v)) for t, v in sampler.commits]
  res['startup_s'] = round(t_first - launched, 2) if t_first else None
  zero = [t for t, v in commits if v == 0]
  start_t = zero[-1] if zero and len(zero) < len(commits) else None
  res['source'] = sustained_rate(commits, start_t, n)
  res['sink'] = sustained_rate(sampler.sink, start_t, n)
  res['sink_reached'] = sampler.latest_sink()
  res['timeline'] = timeline(sampler, launched, done)
  if cpu0 is not None:
    wall = done - t_first
    res['cpu_s_throughput_phase'] = {
        'wall_s': round(wall, 2),
        'pipeline_tree': cpu_delta(cpu0, cpu1),
        'kafka_jvm': round(cpu_k1 - cpu_k0, 2)}
  print(f'[{runner}] throughput: source {res["source"]["events_per_s"]}/s, '
        f'sink {res["sink"]["events_per_s"]}/s', flush=True)
  if res.get('timeout'):
    return res

  res.update(_freshness(runner, proc, sampler, prod, topic, tag, args,
                        err_path, n))
  return res


WARMUP_EVENTS = 1000


def _measure_live(runner, proc, sampler, prod, topic, tag, args, launched,
                  kafka_pids, err_path, backlog) -> Dict[str, Any]:
  """--load live: the pipeline runs first (a warm-up wave is in the sink),
  then the N events are produced as fast as the producer goes; the rate is
  N over the time from the first produce to the sink showing all of them.
  Needs no offset commits (Flink commits only with checkpoints)."""
  n = args.events
  res: Dict[str, Any] = {}
  deadline = time.monotonic() + args.timeout
  produce_all(prod, topic, wave_events(9999, WARMUP_EVENTS, tag + 'warm'))
  while sampler.latest_sink() < WARMUP_EVENTS:
    if proc.poll() is not None:
      raise RuntimeError(f'pipeline exited ({proc.returncode}): '
                         f'{_tail(err_path)}')
    if time.monotonic() > deadline:
      raise RuntimeError(f'[{runner}] warm-up not in the sink after '
                         f'{args.timeout}s')
    time.sleep(0.1)
  res['startup_s'] = round(time.monotonic() - launched, 2)
  print(f'[{runner}] warm-up visible {res["startup_s"]}s after launch',
        flush=True)
  time.sleep(args.settle)
  base = sampler.latest_sink()
  cpu0, cpu_k0 = tree_cpu(proc.pid), pids_cpu(kafka_pids)
  cpu_b0 = time.process_time()  # this process: the producer, the sampler
  t0 = time.monotonic()
  produced = []  # when the producer had delivered the last event

  def produce() -> None:
    produce_all(prod, topic, backlog)
    produced.append(time.monotonic())

  producing = threading.Thread(target=produce, daemon=True)
  producing.start()
  while sampler.latest_sink() < base + n:
    if proc.poll() is not None:
      raise RuntimeError(f'pipeline exited: {_tail(err_path)}')
    if time.monotonic() > deadline:
      res['timeout'] = True
      print(f'[{runner}] timeout: sink has {sampler.latest_sink() - base} '
            f'of {n}', flush=True)
      return res
    time.sleep(0.05)
  done = next(t for t, v in sampler.sink if v >= base + n)
  producing.join()
  cpu1, cpu_k1 = tree_cpu(proc.pid), pids_cpu(kafka_pids)
  seconds = done - t0
  res['sink'] = {'events_per_s': round(n / seconds), 'seconds': round(
      seconds, 2), 'events': n,
      'produced_s': round(produced[0] - t0, 2) if produced else None,
      'timeline': timeline(sampler, t0, done)}  # the warm-up's events too
  res['source'] = {'events_per_s': None, 'seconds': None}
  res['cpu_s_throughput_phase'] = {
      'wall_s': round(time.monotonic() - t0, 2),
      'pipeline_tree': cpu_delta(cpu0, cpu1),
      'kafka_jvm': round(cpu_k1 - cpu_k0, 2),
      'benchmark': round(time.process_time() - cpu_b0, 2)}
  print(f'[{runner}] live throughput: {n} events produced and in the sink '
        f'in {seconds:.2f}s = {res["sink"]["events_per_s"]}/s (the producer '
        f'delivered the last after {res["sink"]["produced_s"]}s)', flush=True)
  res.update(_freshness(runner, proc, sampler, prod, topic, tag, args,
                        err_path, base + n))
  return res


def _freshness(runner, proc, sampler, prod, topic, tag, args, err_path,
               n) -> Dict[str, Any]:
  """Timed waves on top of the drained backlog (n events in the sink)."""
  res: Dict[str, Any] = {}
  time.sleep(args.settle)
  base = sampler.latest_sink()
  if base != n:
    print(f'[{runner}] note: sink total {base} != {n} before the waves',
          flush=True)
  waves = []
  next_at = time.monotonic()
  for w in range(args.waves):
    time.sleep(max(0.0, next_at - time.monotonic()))
    events = wave_events(w, args.wave_size, tag)
    offsets: List[Tuple[int, int]] = []
    t0 = time.monotonic()
    produce_all(prod, topic, events, offsets)
    waves.append({'t0': t0, 'produced_s': time.monotonic() - t0,
                  'target': base + (w + 1) * args.wave_size,
                  'offsets': offsets})
    next_at = t0 + args.wave_interval
    if proc.poll() is not None:
      raise RuntimeError(f'pipeline exited: {_tail(err_path)}')
  final_target = waves[-1]['target'] if waves else base
  wait_until = time.monotonic() + max(30.0, 10 * args.early_firing)
  while sampler.latest_sink() < final_target and time.monotonic() < wait_until:
    time.sleep(0.1)
  time.sleep(0.3)
  sink = list(sampler.sink)
  commits_pp = list(sampler.commits)
  fresh, source_lat = [], []
  for wave in waves:
    seen = next((t for t, v in sink if t >= wave['t0'] and v >= wave['target']),
                None)
    wave['sink_s'] = None if seen is None else round(seen - wave['t0'], 3)
    need: Dict[int, int] = {}
    for p, o in wave['offsets']:
      need[p] = max(need.get(p, -1), o + 1)
    done_t = next((t for t, v in commits_pp if t >= wave['t0'] and all(
        v[p] >= o for p, o in need.items())), None)
    wave['committed_s'] = (None if done_t is None else
                           round(done_t - wave['t0'], 3))
    if seen is not None:
      fresh.append(seen - wave['t0'])
    if done_t is not None:
      source_lat.append(done_t - wave['t0'])
  missing = sum(1 for wv in waves if wv['sink_s'] is None)
  res['freshness'] = {
      'waves': len(waves), 'wave_size': args.wave_size,
      'interval_s': args.wave_interval, 'not_seen': missing,
      'p50_s': _r(percentile(fresh, 50)), 'p99_s': _r(percentile(fresh, 99)),
      'max_s': _r(max(fresh) if fresh else None),
      'source_commit_p50_s': _r(percentile(source_lat, 50)),
      'source_commit_p99_s': _r(percentile(source_lat, 99)),
      'target_p99_s': args.early_firing + 2,
      'per_wave_s': [wv['sink_s'] for wv in waves],
      'per_wave_commit_s': [wv['committed_s'] for wv in waves]}
  print(f'[{runner}] freshness p50 {res["freshness"]["p50_s"]}s, '
        f'p99 {res["freshness"]["p99_s"]}s ({missing} waves not seen)',
        flush=True)
  return res


def _r(x: Optional[float]) -> Optional[float]:
  return None if x is None else round(x, 3)
