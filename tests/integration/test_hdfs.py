"""hdfs:// inputs and outputs through Beam's Hadoop filesystem (WebHDFS)
against a real single-node HDFS (services/hdfs/hdfs.sh). The sample is put
into HDFS gzipped and read through a glob; its rows, dead letters and counts
must be the local-file run's, and the summary lands in HDFS too."""
from __future__ import annotations

import gzip

import pytest

from tests.fixtures.clusters import free_port
from tests.integration.same_run import assert_same_run
from tests.integration.streaming import SAMPLE, cli, run_bounded

pytestmark = [pytest.mark.hdfs, pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope='module')
def hdfs_sample(hdfs_service):
  """The sample in HDFS as /sales/in/orders.jsonl.gz; returns its URL."""
  hdfs_service.client.makedirs('/sales/in', permission='750')
  with hdfs_service.client.write('/sales/in/orders.jsonl.gz',
                                 overwrite=True) as f:
    with open(SAMPLE, 'rb') as src:
      f.write(gzip.compress(src.read()))
  return 'hdfs://sales/in/orders.jsonl.gz'


def test_sample_in_hdfs_gives_the_local_file_rows_into_hdfs(
    tmp_path, hdfs_service, hdfs_sample, local_runner_output):
  proc = run_bounded('--input', 'hdfs://sales/in/*.jsonl.gz',
                     '--output', 'hdfs://sales/out-local',
                     *hdfs_service.flags())
  assert sorted(hdfs_service.client.list('/sales/out-local')) == [
      'dead_letters.jsonl', 'sales_by_category.parquet', 'summary.json',
      'top_products.parquet']
  out = hdfs_service.fetch('/sales/out-local', tmp_path / 'out')
  assert_same_run(out, local_runner_output, source=hdfs_sample)
  assert 'output            hdfs://sales/out-local/' in proc.stdout
  assert 'top categories    electronics' in proc.stdout


@pytest.mark.parametrize('args, message', [
    (['--input', 'hdfs://sales/missing/*.jsonl'],
     'error: cannot list hdfs://sales/missing/*.jsonl: '
     'File /sales/missing does not exist.'),
    (['--input', 'hdfs://sales/in/*.csv'],
     'error: no input file matches hdfs://sales/in/*.csv'),
])
def test_a_missing_hdfs_path_is_one_line(tmp_path, hdfs_service, hdfs_sample,
                                         args, message):
  import subprocess
  proc = subprocess.run(cli(*args, '--output', str(tmp_path / 'out'),
                            *hdfs_service.flags()),
                        capture_output=True, text=True, timeout=120)
  assert proc.returncode == 1
  assert proc.stderr.strip() == message


def test_an_unreachable_namenode_is_one_line(tmp_path):
  import subprocess
  port = free_port()  # nothing listens there
  proc = subprocess.run(
      cli('--input', SAMPLE, '--output', 'hdfs://sales/out',
          '--hdfs_host', '127.0.0.1', '--hdfs_port', str(port),
          '--hdfs_user', 'sales'),
      capture_output=True, text=True, timeout=120)
  assert proc.returncode == 1
  assert proc.stderr.strip() == (
      f'error: cannot reach HDFS (WebHDFS) at http://127.0.0.1:{port} '
      '(connection refused); start it with services/hdfs/hdfs.sh start, or '
      "fix --hdfs_host and --hdfs_port (the NameNode's WebHDFS port)")
