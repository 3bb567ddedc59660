"""Before a run with an hdfs:// input or output: Beam's Hadoop filesystem
flags are given and the NameNode answers WebHDFS (one line, exit 1,
otherwise; see pipelines/reachability.py for the other services)."""
from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from typing import List

from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.options import SalesConfig
from pipelines.reachability import TIMEOUT_S, Unreachable, tcp_problem

_LOG = logging.getLogger('pipeline')

HDFS_FIX = ('start it with services/hdfs/hdfs.sh start, or fix --hdfs_host '
            'and --hdfs_port (the NameNode\'s WebHDFS port)')


def hdfs_paths(config: SalesConfig) -> List[str]:
  """The run's hdfs:// inputs and output."""
  paths = [p for p in config.inputs if p.lower().startswith('hdfs://')]
  if config.bounded and config.output.lower().startswith('hdfs://'):
    paths.append(config.output)
  return paths


def check_hdfs(config: SalesConfig, options: PipelineOptions) -> None:
  """An hdfs:// input or output: Beam's Hadoop filesystem flags are given
  and the NameNode answers WebHDFS as that user."""
  paths = hdfs_paths(config)
  if not paths:
    return
  from apache_beam.options.pipeline_options import HadoopFileSystemOptions
  hdfs = options.view_as(HadoopFileSystemOptions)
  missing = [f'--{name}' for name in ('hdfs_host', 'hdfs_port', 'hdfs_user')
             if not getattr(hdfs, name)]
  if missing:
    raise Unreachable(f'{paths[0]} needs {", ".join(missing)} (the '
                      'NameNode\'s WebHDFS address and the HDFS user)')
  base = f'http://{hdfs.hdfs_host}:{hdfs.hdfs_port}'
  problem = tcp_problem(str(hdfs.hdfs_host), int(hdfs.hdfs_port))
  if problem is not None:
    raise Unreachable(f'cannot reach HDFS (WebHDFS) at {base} ({problem}); '
                      f'{HDFS_FIX}')
  url = (f'{base}/webhdfs/v1/?op=GETFILESTATUS&user.name='
         f'{urllib.request.quote(str(hdfs.hdfs_user))}')
  try:
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
      answer = json.loads(response.read(65536) or b'{}')
  except (urllib.error.URLError, OSError, ValueError) as e:
    raise Unreachable(f'{base} does not answer as WebHDFS '
                      f'({getattr(e, "reason", e)}); {HDFS_FIX}') from None
  if 'FileStatus' not in answer:
    raise Unreachable(f'{base} answers, but not as WebHDFS; {HDFS_FIX}')
  _LOG.info('HDFS (WebHDFS) at %s: reachable', base)
