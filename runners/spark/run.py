"""`python -m runners.spark.run local|cluster [pipeline flags]`: runs
`python -m pipeline` on Spark with the project's job server and environment.

local:   Spark inside the job server JVM (SPARK_LOCAL_MASTER, default
         local[2]), Python workers LOOPBACK on 127.0.0.1.
cluster: the standalone master and worker of runners/spark/cluster.sh
         (SPARK_MASTER, default spark://127.0.0.1:7177), Python workers from
         its pool (BEAM_WORKER_POOL, default localhost:50100), or PROCESS with
         SPARK_ENVIRONMENT=PROCESS. The driver's event log goes where
         cluster.sh's history server reads it (SPARK_EVENT_LOG_DIR).

The job server (Spark's driver) binds 127.0.0.1: SPARK_LOCAL_IP is set to it
unless the environment already says otherwise.
"""
from __future__ import annotations

import os
import sys
from typing import List

from runners.spark import spark_options


def spark_pipeline_args(mode: str, pipeline_args: List[str]) -> List[str]:
  streaming = '--streaming' in pipeline_args
  if mode == 'local':
    return spark_options.local_args(
        master=os.environ.get('SPARK_LOCAL_MASTER',
                              spark_options.DEFAULT_LOCAL_MASTER),
        streaming=streaming)
  if mode == 'cluster':
    return spark_options.cluster_args(
        master=os.environ.get('SPARK_MASTER', spark_options.DEFAULT_MASTER),
        worker_pool=os.environ.get('BEAM_WORKER_POOL',
                                   spark_options.DEFAULT_WORKER_POOL),
        environment=os.environ.get('SPARK_ENVIRONMENT', 'EXTERNAL'),
        streaming=streaming,
        events_dir=os.environ.get('SPARK_EVENT_LOG_DIR') or None)
  raise ValueError('mode must be local or cluster')


def main(argv: List[str]) -> int:
  if not argv or argv[0] not in ('local', 'cluster'):
    print('usage: python -m runners.spark.run local|cluster [pipeline flags]',
          file=sys.stderr)
    return 2
  try:
    spark_args = spark_pipeline_args(argv[0], argv[1:])
  except (spark_options.SparkSetupError, ValueError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 1
  os.environ.setdefault('SPARK_LOCAL_IP', '127.0.0.1')
  os.execv(sys.executable, [sys.executable, '-m', 'pipeline', *argv[1:],
                            *spark_args])
  return 0  # not reached


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
