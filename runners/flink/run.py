"""`python -m runners.flink.run local|cluster [pipeline flags]`: runs
`python -m pipeline` on Flink with the project's job server and environment.

local:   Flink's embedded mini cluster ([local]), Python workers LOOPBACK.
cluster: the standalone session cluster of runners/flink/cluster.sh
         (FLINK_MASTER, default localhost:8081), Python workers from its
         pool (BEAM_WORKER_POOL, default localhost:50000), or PROCESS with
         FLINK_ENVIRONMENT=PROCESS.
"""
from __future__ import annotations

import os
import sys
from typing import List

from runners.flink import flink_options


def flink_pipeline_args(mode: str, pipeline_args: List[str]) -> List[str]:
  streaming = '--streaming' in pipeline_args
  if mode == 'local':
    return flink_options.local_args(streaming=streaming)
  if mode == 'cluster':
    return flink_options.cluster_args(
        master=os.environ.get('FLINK_MASTER', flink_options.DEFAULT_MASTER),
        worker_pool=os.environ.get('BEAM_WORKER_POOL',
                                   flink_options.DEFAULT_WORKER_POOL),
        environment=os.environ.get('FLINK_ENVIRONMENT', 'EXTERNAL'),
        streaming=streaming)
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
