"""pipelines/outputs.py on its own: the atomic writer, temp directories,
modes (the whole run: tests/pipelines/test_outputs.py)."""
import json
import os
import stat

import pytest

from pipelines.outputs import (TempFiles, private_files, restrict,
                               write_json_atomically, write_summary)
from transforms.sinks.atomic_file import temp_name
from transforms.sinks.files import check_output_dir


def test_the_summary_replaces_a_link_and_leaves_its_target(tmp_path):
  target = tmp_path / 'elsewhere.json'
  target.write_text('keep')
  (tmp_path / 'out').mkdir()
  (tmp_path / 'out' / 'summary.json').symlink_to(target)
  path = write_summary(str(tmp_path / 'out'), {'status': 'failed'})
  assert target.read_text() == 'keep'
  assert not os.path.islink(path)
  assert json.loads(open(path).read()) == {'status': 'failed'}
  assert os.listdir(tmp_path / 'out') == ['summary.json']  # no temp left


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
  path = tmp_path / 's.json'
  path.write_text('old')
  with pytest.raises(TypeError):
    write_json_atomically(str(path), {'x': object()})
  assert path.read_text() == 'old'
  assert os.listdir(tmp_path) == ['s.json']


def test_private_files_masks_others_and_restores_the_umask(tmp_path):
  before = os.umask(0o022)
  try:
    with private_files():
      (tmp_path / 'f').write_text('x')
      os.mkdir(tmp_path / 'd')
    assert stat.S_IMODE(os.stat(tmp_path / 'f').st_mode) == 0o640
    assert stat.S_IMODE(os.stat(tmp_path / 'd').st_mode) == 0o750
    assert os.umask(0o022) == 0o022
  finally:
    os.umask(before)


def test_restrict_removes_others_bits_and_never_follows_a_link(tmp_path):
  f = tmp_path / 'f'
  f.write_text('x')
  os.chmod(f, 0o666)
  restrict(str(f))
  assert stat.S_IMODE(os.stat(f).st_mode) == 0o640
  target = tmp_path / 't'
  target.write_text('x')
  os.chmod(target, 0o644)
  (tmp_path / 'l').symlink_to(target)
  restrict(str(tmp_path / 'l'))
  assert stat.S_IMODE(os.stat(target).st_mode) == 0o644
  restrict(str(tmp_path / 'missing'))
  restrict('gs://bucket/out/x')


def test_only_the_runs_own_temp_files_are_removed(tmp_path):
  old = temp_name('results.parquet')
  (tmp_path / old).write_text('x')
  files = TempFiles(str(tmp_path))
  new = temp_name('results.parquet')
  (tmp_path / new).write_text('x')
  (tmp_path / 'kept.parquet').write_text('x')
  (tmp_path / '.hidden').write_text('x')
  assert files.remove_new() == 1
  assert sorted(os.listdir(tmp_path)) == sorted(['.hidden', old,
                                                 'kept.parquet'])
  assert TempFiles('').remove_new() == 0


@pytest.mark.parametrize('path', ['/tmp/x/*', 'out?', 'o[12]', 'o{a,b}', ''])
def test_an_output_pattern_is_refused(path):
  with pytest.raises(ValueError, match='--output'):
    check_output_dir(path)
  assert check_output_dir('/tmp/out-1.2_x') == '/tmp/out-1.2_x'
