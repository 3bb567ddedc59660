"""`--from_savepoint DIR` (runners/flink/run.py, runners/flink/jobs.py):
which savepoint a directory names, and the flag Beam receives. The stop and
the resume on a real cluster are tests/integration/test_flink_recovery.py."""
import os

import pytest

from runners.flink.jobs import FlinkJobError, resolve_savepoint
from runners.flink.run import from_savepoint


def savepoint(path, mtime):
  path.mkdir(parents=True)
  (path / '_metadata').write_bytes(b'x')
  os.utime(path / '_metadata', (mtime, mtime))
  return str(path.resolve())


def test_a_savepoint_directory_names_itself(tmp_path):
  sp = savepoint(tmp_path / 'savepoint-1', 1_000)
  assert resolve_savepoint(sp) == sp


def test_a_parent_directory_names_its_newest_savepoint(tmp_path):
  savepoint(tmp_path / 'savepoint-old', 1_000)
  newest = savepoint(tmp_path / 'savepoint-new', 2_000)
  (tmp_path / 'unrelated').mkdir()
  assert resolve_savepoint(str(tmp_path)) == newest


def test_no_savepoint_is_one_clear_error(tmp_path):
  with pytest.raises(FlinkJobError, match='no savepoint in'):
    resolve_savepoint(str(tmp_path))


def test_the_flag_becomes_beams_savepoint_path(tmp_path):
  sp = savepoint(tmp_path / 'savepoint-1', 1_000)
  for args in (['--streaming', '--from_savepoint', str(tmp_path)],
               ['--streaming', f'--from_savepoint={tmp_path}']):
    assert from_savepoint(args) == ['--streaming', f'--savepoint_path={sp}']
