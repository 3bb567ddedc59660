"""Streaming benchmark: sustained throughput and end-to-end freshness.

    python -m benchmarks.streaming                          # Prism, 200k events
    python -m benchmarks.streaming --events 50000 --partitions 4 \\
        --runner prism --early-firing 1 --json out.json
    python -m benchmarks.streaming --runner flink           # needs runners/flink
    python -m benchmarks.streaming --runner flink-cluster --parallelism 2 \
        --load live                  # a running cluster.sh cluster (FLINK_MASTER)
    python -m benchmarks.streaming --profile                # + where the time goes

What it does, per runner:

1. Starts its own single-node Kafka broker (services/kafka/broker.py: free
   ports, a temporary data dir) and stops it at the end.
2. Throughput: pre-produces ``--events`` clean order events (the project's
   generator, tools/generate_orders/, no dirty records, no duplicates;
   ``event_time`` rewritten to the last two minutes so the windows are live)
   into a ``--partitions``-partition topic, then starts
   ``python -m pipeline --source kafka --streaming --sink sqlite:///...`` and
   samples, every 25 ms, (a) the consumer group's committed offsets (the
   source commits after each bundle is finalized) and (b) the SQLite sink:
   ``SUM(orders)`` of the ``__all__`` rows over all windows, i.e. how many
   orders the published aggregates reflect. Sustained rate = events between
   the first and the last sample that moved, divided by the time between
   them, for the source (committed offsets) and end to end (the sink).
3. Freshness: once the backlog is in the sink, produces ``--waves`` waves of
   ``--wave-size`` events every ``--wave-interval`` seconds, with
   ``event_time`` = now and order ids unique per wave. Wave ``w`` is visible
   when the sink's total reaches ``events + (w + 1) * wave_size``; its
   freshness is the time from just before it was produced to the first
   sample that shows it (also: to the first commit of its offsets, i.e. when
   the source finished with it). Reports p50 / p99 / max.
4. ``--profile`` runs the pipeline process under an in-process sampling
   profiler (every thread's stack every 10 ms; py-spy is not available) and
   prints where the SDK worker's bundle-processing threads spend their time,
   plus the CPU seconds of each process (Python SDK / Prism / Kafka JVM).

Prints one table row per runner and, with ``--json PATH``, writes all numbers
(including the sample timelines' summary and the load average) as JSON.
"""
from __future__ import annotations

import argparse
import collections
import json
import math
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from typing import Any, Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

PY = sys.executable
TARGET_EVENTS_PER_S = 50_000
SAMPLE_S = 0.025
COMMIT_SAMPLE_EVERY = 4  # committed offsets every 4th sample (100 ms)


def load_average() -> Tuple[float, float, float]:
  return os.getloadavg()


def _fmt_load(load) -> str:
  return '%.2f %.2f %.2f' % tuple(load)


# --- process CPU accounting ---------------------------------------------------

_CLK = os.sysconf('SC_CLK_TCK')


def _proc_table() -> Dict[int, Tuple[int, str, float]]:
  """pid -> (ppid, comm, cpu seconds) for every process."""
  out = {}
  for name in os.listdir('/proc'):
    if not name.isdigit():
      continue
    try:
      with open(f'/proc/{name}/stat', encoding='utf-8') as f:
        text = f.read()
    except OSError:
      continue
    comm = text[text.index('(') + 1:text.rindex(')')]
    rest = text[text.rindex(')') + 2:].split()
    ppid = int(rest[1])
    cpu = (int(rest[11]) + int(rest[12])) / _CLK
    out[int(name)] = (ppid, comm, cpu)
  return out


def tree_cpu(root_pid: int) -> Dict[str, float]:
  """CPU seconds of a process and its descendants, by command name."""
  table = _proc_table()
  children = collections.defaultdict(list)
  for pid, (ppid, _, _) in table.items():
    children[ppid].append(pid)
  out: Dict[str, float] = collections.defaultdict(float)
  stack = [root_pid]
  while stack:
    pid = stack.pop()
    if pid in table:
      out[table[pid][1]] += table[pid][2]
    stack.extend(children.get(pid, ()))
  return dict(out)


def kafka_jvm_pids(data_dir: str) -> List[int]:
  pids = []
  for name in os.listdir('/proc'):
    if not name.isdigit():
      continue
    try:
      with open(f'/proc/{name}/cmdline', 'rb') as f:
        cmd = f.read()
    except OSError:
      continue
    if data_dir.encode() in cmd and b'java' in cmd:
      pids.append(int(name))
  return pids


def pids_cpu(pids: List[int]) -> float:
  table = _proc_table()
  return sum(table[p][2] for p in pids if p in table)


def cpu_delta(before: Dict[str, float], after: Dict[str, float]) -> Dict[str, float]:
  return {k: round(after.get(k, 0.0) - before.get(k, 0.0), 2)
          for k in sorted(set(before) | set(after))
          if after.get(k, 0.0) - before.get(k, 0.0) >= 0.05}


# --- events -------------------------------------------------------------------

def make_backlog(count: int, seed: int, span_s: float) -> List[Tuple[bytes, bytes]]:
  """``count`` clean generated events, event times spread over the last
  ``span_s`` seconds (in production order), as (key, value) pairs."""
  from tools.generate_orders import iter_events
  now_ms = int(time.time() * 1000)
  span_ms = int(span_s * 1000)
  out = []
  for i, event in enumerate(iter_events(count, seed, dirty_rate=0.0,
                                        duplicate_rate=0.0, blank_rate=0.0)):
    event = dict(event)
    event['event_time'] = now_ms - span_ms + (i * span_ms) // max(count, 1)
    out.append((event['order_id'].encode(),
                json.dumps(event, separators=(',', ':')).encode()))
  return out


def wave_events(wave: int, size: int, run_tag: str) -> List[Tuple[bytes, bytes]]:
  now_ms = int(time.time() * 1000)
  rng = random.Random(wave)
  out = []
  for i in range(size):
    order_id = f'bench-{run_tag}-w{wave:04d}-{i:05d}'
    event = {'order_id': order_id, 'customer_id': f'CW{wave:05d}',
             'product_id': f'P{1 + rng.randrange(200):04d}', 'quantity': 1,
             'unit_price': 10.0, 'currency': 'USD', 'event_time': now_ms,
             'country': 'US'}
    out.append((order_id.encode(), json.dumps(event).encode()))
  return out


def producer(bootstrap: str):
  from confluent_kafka import Producer
  return Producer({'bootstrap.servers': bootstrap, 'linger.ms': 5,
                   'acks': 'all', 'enable.idempotence': True,
                   'queue.buffering.max.messages': 1_000_000,
                   'batch.num.messages': 10_000})


def produce_all(prod, topic: str, events: List[Tuple[bytes, bytes]],
                offsets: Optional[List[Tuple[int, int]]] = None) -> None:
  """Produces and flushes; ``offsets`` collects (partition, offset)."""
  errors = []

  def on_delivery(err, msg):
    if err is not None:
      errors.append(str(err))
    elif offsets is not None:
      offsets.append((msg.partition(), msg.offset()))

  for key, value in events:
    while True:
      try:
        prod.produce(topic, value=value, key=key, on_delivery=on_delivery)
        break
      except BufferError:
        prod.poll(0.05)
    prod.poll(0)
  left = prod.flush(120)
  if left or errors:
    raise RuntimeError(f'{left} events not delivered; errors: {errors[:3]}')


# --- sampling -------------------------------------------------------------------

class Sampler(threading.Thread):
  """Samples the sink total and the committed offsets into a timeline."""

  def __init__(self, db_path: str, bootstrap: str, topic: str, group: str,
               partitions: int):
    super().__init__(daemon=True)
    self.db_path = db_path
    self.bootstrap = bootstrap
    self.topic = topic
    self.group = group
    self.partitions = partitions
    self.sink: List[Tuple[float, int]] = []        # (t, orders in sink)
    self.commits: List[Tuple[float, List[int]]] = []  # (t, offset per partition)
    self._halt = threading.Event()
    self._conn = None

  def sink_total(self) -> int:
    if self._conn is None:
      if not os.path.exists(self.db_path):
        return 0
      self._conn = sqlite3.connect(f'file:{self.db_path}?mode=ro', uri=True,
                                   timeout=1.0, check_same_thread=False)
    try:
      row = self._conn.execute(
          "SELECT COALESCE(SUM(orders), 0) FROM sales_by_category "
          "WHERE category = '__all__' AND customer_id = ''").fetchone()
      return int(row[0])
    except sqlite3.Error:
      return self.sink[-1][1] if self.sink else 0

  def run(self) -> None:
    from confluent_kafka import Consumer, TopicPartition
    consumer = Consumer({'bootstrap.servers': self.bootstrap,
                         'group.id': self.group,
                         'enable.auto.commit': False})
    tps = [TopicPartition(self.topic, p) for p in range(self.partitions)]
    i = 0
    try:
      while not self._halt.is_set():
        t = time.monotonic()
        self.sink.append((t, self.sink_total()))
        if i % COMMIT_SAMPLE_EVERY == 0:
          try:
            got = consumer.committed(tps, timeout=5)
            self.commits.append(
                (time.monotonic(), [max(tp.offset, 0) for tp in got]))
          except Exception:  # pylint: disable=broad-except
            pass
        i += 1
        self._halt.wait(max(0.0, SAMPLE_S - (time.monotonic() - t)))
    finally:
      consumer.close()
      if self._conn is not None:
        self._conn.close()

  def stop(self) -> None:
    self._halt.set()
    self.join(10)

  def latest_sink(self) -> int:
    return self.sink[-1][1] if self.sink else 0

  def latest_committed(self) -> int:
    return sum(self.commits[-1][1]) if self.commits else 0


def sustained_rate(samples: List[Tuple[float, int]], start_t: Optional[float],
                   end_value: int) -> Dict[str, Any]:
  """``end_value`` events over the time from ``start_t`` (the last sample
  before the first offset commit, i.e. before the first record was
  consumed, conservatively) to the first sample at or above ``end_value``."""
  last = next(((t, v) for t, v in samples if v >= end_value), None)
  if start_t is None or last is None or last[0] <= start_t:
    return {'events_per_s': None, 'seconds': None}
  seconds = last[0] - start_t
  return {'events_per_s': round(end_value / seconds),
          'seconds': round(seconds, 2), 'events': end_value}


def timeline(sampler: 'Sampler', launched: float, end: float,
             step_s: float = 1.0) -> List[Tuple[float, int, int]]:
  """(seconds after launch, committed offsets, sink orders) every step_s."""
  out = []
  commits = list(sampler.commits)
  sink = list(sampler.sink)
  t = launched
  ci = si = 0
  c = v = 0
  while t <= end + step_s:
    while ci < len(commits) and commits[ci][0] <= t:
      c = sum(commits[ci][1])
      ci += 1
    while si < len(sink) and sink[si][0] <= t:
      v = sink[si][1]
      si += 1
    out.append((round(t - launched, 1), c, v))
    t += step_s
  return out


def percentile(values: List[float], q: float) -> Optional[float]:
  if not values:
    return None
  ordered = sorted(values)
  k = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
  return ordered[k]


# --- runners --------------------------------------------------------------------

def runner_args(runner: str, checkpoint_ms: int = 0,
                work: str = '', parallelism: int = 1) -> Optional[List[str]]:
  """Beam args for the runner, or None if it is not set up here."""
  if runner == 'prism':
    from runners.local import prism_binary
    binary = prism_binary()
    if binary is None:
      print('Prism is not built (runners/prism/setup.sh); skipping prism')
      return None
    return ['--runner=PrismRunner', f'--prism_location={binary}',
            '--environment_type=LOOPBACK']
  if runner == 'flink':
    if not os.path.exists(os.path.join(ROOT, 'runners', 'flink',
                                       'flink_options.py')):
      print('Flink is not set up (no runners/flink/flink_options.py); '
            'skipping flink')
      return None
    try:
      from runners.flink import flink_options
      jar = flink_options.find_job_server_jar()
      return [a for a in flink_options.local_args(
          job_server_jar=jar, streaming=True,
          checkpoint_ms=checkpoint_ms or None,
          checkpoint_dir=(os.path.join(work or tempfile.gettempdir(),
                                       'flink-checkpoints')
                          if checkpoint_ms else None))
              if a != '--streaming']
    except Exception as e:  # pylint: disable=broad-except
      print(f'Flink is not set up ({e}); skipping flink')
      return None
  if runner == 'flink-cluster':
    # A cluster started by runners/flink/cluster.sh (FLINK_MASTER,
    # BEAM_WORKER_POOL as in runners.flink.run); each job is cancelled
    # after its run (stop_pipeline), a Ctrl-C does not stop a cluster job.
    from runners.flink import flink_options
    return [a for a in flink_options.cluster_args(
        master=os.environ.get('FLINK_MASTER', flink_options.DEFAULT_MASTER),
        worker_pool=os.environ.get('BEAM_WORKER_POOL',
                                   flink_options.DEFAULT_WORKER_POOL),
        streaming=True, checkpoint_ms=checkpoint_ms or None,
        parallelism=parallelism, job_name=f'bench-p{parallelism}')
            if a != '--streaming']
  raise ValueError(runner)


def cancel_cluster_job(beam_args: List[str]) -> None:
  """Cancels the benchmark's job on a Flink cluster (by its name)."""
  from runners.flink import jobs
  master = next(a.split('=', 1)[1] for a in beam_args
                if a.startswith('--flink_master='))
  name = next(a.split('=', 1)[1] for a in beam_args
              if a.startswith('--job_name='))
  try:
    jobs.cancel(master, jobs.find_job(master, name))
  except jobs.FlinkJobError as e:
    print(f'[flink-cluster] {e}', flush=True)


# --- profiling the pipeline process ----------------------------------------------

_IDLE_LEAVES = frozenset({'wait', 'select', 'poll', '_wait_once', 'get',
                          '_blocking', 'sleep', 'accept', 'recv_into',
                          'epoll', '_recv', 'next', '_next', 'consume'})


def profiled_pipeline(out_path: str, variant: str, argv: List[str]) -> int:
  """Runs ``pipelines.cli.main(argv)``, with a sampling profiler thread
  when ``out_path`` is set, and the diagnostic graph ``variant``."""
  inclusive = collections.Counter()
  leaf = collections.Counter()
  steps = collections.Counter()
  total = collections.Counter()
  stop = threading.Event()
  me = threading.get_ident()

  def frame_name(code) -> str:
    path = code.co_filename
    for marker in ('site-packages/', ROOT + '/'):
      if marker in path:
        path = path.split(marker, 1)[1]
    return f'{path}:{code.co_name}'

  def sample() -> None:
    while not stop.wait(0.01):
      for tid, frame in sys._current_frames().items():  # pylint: disable=protected-access
        if tid == me or tid == sampler_ident[0]:
          continue
        stack = []
        f = frame
        while f is not None:
          stack.append(f.f_code)
          f = f.f_back
        names = [frame_name(c) for c in stack]
        if not any('process_bundle' in n for n in names):
          total['idle/other threads'] += 1
          continue
        if stack[0].co_name in _IDLE_LEAVES and len(names) > 1 and (
            'kafka' not in names[1] and 'sqlite' not in names[1]):
          total['bundle thread waiting'] += 1
        total['bundle thread'] += 1
        leaf[names[0]] += 1
        for n in set(names):
          inclusive[n] += 1
        project = next((n for n in names
                        if n.startswith(('transforms/', 'pipelines/'))), None)
        steps[project.rsplit(':', 1)[0] if project else 'beam/other'] += 1

  sampler_ident = [None]
  thread = threading.Thread(target=sample, daemon=True)
  if out_path:
    thread.start()
    sampler_ident[0] = thread.ident
  if variant == 'no-dedupe':
    # Diagnostic only: the streaming dedupe (one keyed state read + write +
    # timer per order) replaced by a pass-through, to measure its cost.
    import apache_beam as beam
    import pipelines.sales as sales

    def passthrough(bounded, ttl_seconds=0):  # pylint: disable=unused-argument
      return beam.Map(lambda order: order)
    sales.DeduplicateOrders = passthrough
  from pipelines.cli import main as pipeline_main
  try:
    return pipeline_main(argv)
  finally:
    stop.set()
    if not out_path:
      return
    thread.join(2)
    with open(out_path, 'w', encoding='utf-8') as f:
      json.dump({'totals': dict(total),
                 'by_project_module': steps.most_common(),
                 'inclusive': inclusive.most_common(60),
                 'self': leaf.most_common(40)}, f, indent=1)


# --- one run --------------------------------------------------------------------

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
      *args.pipeline_arg, *beam_args]
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


def stop_pipeline(proc: subprocess.Popen) -> None:
  """Ctrl-C (the pipeline cancels the job and prints its summary), then
  kill the process group if it does not end."""
  if proc.poll() is not None:
    return
  proc.send_signal(signal.SIGINT)
  try:
    proc.wait(90)
  except subprocess.TimeoutExpired:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


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
  t0 = time.monotonic()
  producing = threading.Thread(target=produce_all,
                               args=(prod, topic, backlog), daemon=True)
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
      seconds, 2), 'events': n}
  res['source'] = {'events_per_s': None, 'seconds': None}
  res['cpu_s_throughput_phase'] = {
      'wall_s': round(time.monotonic() - t0, 2),
      'pipeline_tree': cpu_delta(cpu0, cpu1),
      'kafka_jvm': round(cpu_k1 - cpu_k0, 2)}
  print(f'[{runner}] live throughput: {n} events produced and in the sink '
        f'in {seconds:.2f}s = {res["sink"]["events_per_s"]}/s', flush=True)
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


# --- report ---------------------------------------------------------------------

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
        _fmt_load(r.get('load_after', r['load_before']))))
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
          f'Kafka JVM {cpu["kafka_jvm"]}')
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


def main(argv: Optional[List[str]] = None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  if argv and argv[0] == '--_inproc':
    # Internal: the pipeline process under the sampling profiler and/or a
    # diagnostic variant: --_inproc PROFILE_OUT|'' VARIANT -- pipeline flags
    rest = argv[3:]
    if rest and rest[0] == '--':
      rest = rest[1:]
    return profiled_pipeline(argv[1], argv[2], rest)
  ap = argparse.ArgumentParser(prog='python -m benchmarks.streaming',
                               description=__doc__.split('\n')[0])
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
  print(f'load average at start: {_fmt_load(load_start)} '
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


if __name__ == '__main__':
  sys.exit(main())
