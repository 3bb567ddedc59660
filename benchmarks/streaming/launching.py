"""Launching and stopping the pipeline under test: the Beam arguments of each
runner (Prism, Flink's mini cluster, a running Flink cluster), the in-process
entry point that runs the pipeline under a sampling profiler and/or a
diagnostic variant, Ctrl-C then kill to stop it, and cancelling a cluster
job by name."""
from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from typing import List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

PY = sys.executable


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
