"""`python -m runners.flink.run local|cluster [pipeline flags]`: runs
`python -m pipeline` on Flink with the project's job server and environment.
`python -m runners.flink.run stop --savepoint DIR [--job NAME|ID]` stops a
cluster job with a savepoint; `--from_savepoint DIR` among the pipeline
flags resumes from it (runners/flink/jobs.py).

local:   Flink's embedded mini cluster ([local]), Python workers LOOPBACK.
cluster: the standalone session cluster of runners/flink/cluster.sh
         (FLINK_MASTER, default localhost:8081), Python workers from its
         pool (BEAM_WORKER_POOL, default localhost:50000), or PROCESS with
         FLINK_ENVIRONMENT=PROCESS.

Streaming runs checkpoint every FLINK_CHECKPOINT_MS (default 10000; 0 turns
it off) unless the flags carry their own --checkpointing_interval. Local runs
keep their checkpoints under FLINK_CHECKPOINT_DIR (default
<cache>/flink/checkpoints-local); the cluster uses its own state.checkpoints.dir.
Checkpointing always comes with --finish_bundle_before_checkpointing (see
flink_options.FINISH_BUNDLE_FLAG). Streaming bundles last at most
flink_options.STREAMING_BUNDLE_MS unless the flags carry their own
--max_bundle_time_mills.
"""
from __future__ import annotations

import os
import sys
from typing import List

from runners.flink import flink_options, jobs


DEFAULT_CHECKPOINT_MS = 10_000


def _has_flag(args: List[str], flag: str) -> bool:
  return any(a == flag or a.startswith(flag + '=') for a in args)


def flink_pipeline_args(mode: str, pipeline_args: List[str]) -> List[str]:
  streaming = '--streaming' in pipeline_args
  bundle_ms = (None if _has_flag(pipeline_args, flink_options.BUNDLE_TIME_FLAG)
               else flink_options.STREAMING_BUNDLE_MS)
  checkpoint_ms = None
  extra = []
  if _has_flag(pipeline_args, '--checkpointing_interval'):
    if not _has_flag(pipeline_args, flink_options.FINISH_BUNDLE_FLAG):
      extra.append(flink_options.FINISH_BUNDLE_FLAG)
  elif streaming:
    checkpoint_ms = int(os.environ.get('FLINK_CHECKPOINT_MS',
                                       DEFAULT_CHECKPOINT_MS)) or None
  if mode == 'local':
    checkpoint_dir = None
    if checkpoint_ms and not _has_flag(pipeline_args, '--state_backend'):
      checkpoint_dir = os.environ.get('FLINK_CHECKPOINT_DIR') or str(
          flink_options.cache_dir() / 'checkpoints-local')
    return flink_options.local_args(
        streaming=streaming, checkpoint_ms=checkpoint_ms,
        checkpoint_dir=checkpoint_dir, bundle_ms=bundle_ms) + extra
  if mode == 'cluster':
    return flink_options.cluster_args(
        master=os.environ.get('FLINK_MASTER', flink_options.DEFAULT_MASTER),
        worker_pool=os.environ.get('BEAM_WORKER_POOL',
                                   flink_options.DEFAULT_WORKER_POOL),
        environment=os.environ.get('FLINK_ENVIRONMENT', 'EXTERNAL'),
        streaming=streaming, checkpoint_ms=checkpoint_ms,
        bundle_ms=bundle_ms) + extra
  raise ValueError('mode must be local or cluster')


def from_savepoint(args: List[str]) -> List[str]:
  """``--from_savepoint DIR`` (this script's name) as Beam's
  ``--savepoint_path=<the savepoint in DIR>``."""
  out = []
  rest = iter(args)
  for arg in rest:
    if arg == '--from_savepoint' or arg.startswith('--from_savepoint='):
      path = arg.split('=', 1)[1] if '=' in arg else next(rest, '')
      out.append('--savepoint_path=%s' % jobs.resolve_savepoint(path))
    else:
      out.append(arg)
  return out


def stop(args: List[str]) -> int:
  """``stop --savepoint DIR [--job NAME|ID]``: prints the savepoint path."""
  import argparse
  parser = argparse.ArgumentParser(prog='python -m runners.flink.run stop')
  parser.add_argument('--savepoint', required=True,
                      help='Directory the savepoint is written to.')
  parser.add_argument('--job', default='',
                      help='Job name or id; empty = the only running job.')
  opts = parser.parse_args(args)
  master = os.environ.get('FLINK_MASTER', flink_options.DEFAULT_MASTER)
  jid = jobs.find_job(master, opts.job)
  print(jobs.stop_with_savepoint(master, jid, opts.savepoint))
  return 0


def main(argv: List[str]) -> int:
  if not argv or argv[0] not in ('local', 'cluster', 'stop'):
    print('usage: python -m runners.flink.run local|cluster [pipeline flags]'
          ' [--from_savepoint DIR] | stop --savepoint DIR [--job NAME|ID]',
          file=sys.stderr)
    return 2
  try:
    if argv[0] == 'stop':
      return stop(argv[1:])
    pipeline_args = from_savepoint(argv[1:])
    flink_args = flink_pipeline_args(argv[0], pipeline_args)
  except (flink_options.FlinkSetupError, jobs.FlinkJobError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 1
  os.execv(sys.executable, [sys.executable, '-m', 'pipeline', *pipeline_args,
                            *flink_args])
  return 0  # not reached


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
