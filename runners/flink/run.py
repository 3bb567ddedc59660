"""`python -m runners.flink.run local|cluster [pipeline flags]`: runs
`python -m pipeline` on Flink with the project's job server and environment.

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
flink_options.FINISH_BUNDLE_FLAG).
"""
from __future__ import annotations

import os
import sys
from typing import List

from runners.flink import flink_options


DEFAULT_CHECKPOINT_MS = 10_000


def _has_flag(args: List[str], flag: str) -> bool:
  return any(a == flag or a.startswith(flag + '=') for a in args)


def flink_pipeline_args(mode: str, pipeline_args: List[str]) -> List[str]:
  streaming = '--streaming' in pipeline_args
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
        checkpoint_dir=checkpoint_dir) + extra
  if mode == 'cluster':
    return flink_options.cluster_args(
        master=os.environ.get('FLINK_MASTER', flink_options.DEFAULT_MASTER),
        worker_pool=os.environ.get('BEAM_WORKER_POOL',
                                   flink_options.DEFAULT_WORKER_POOL),
        environment=os.environ.get('FLINK_ENVIRONMENT', 'EXTERNAL'),
        streaming=streaming, checkpoint_ms=checkpoint_ms) + extra
  raise ValueError('mode must be local or cluster')


def main(argv: List[str]) -> int:
  if not argv or argv[0] not in ('local', 'cluster'):
    print('usage: python -m runners.flink.run local|cluster [pipeline flags]',
          file=sys.stderr)
    return 2
  try:
    flink_args = flink_pipeline_args(argv[0], argv[1:])
  except flink_options.FlinkSetupError as e:
    print(f'error: {e}', file=sys.stderr)
    return 1
  os.execv(sys.executable, [sys.executable, '-m', 'pipeline', *argv[1:],
                            *flink_args])
  return 0  # not reached


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
