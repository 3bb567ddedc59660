"""What a run leaves under --output and in its databases: no glob is taken
for a directory, every file is replaced atomically and never through a link,
a failed run says so, and nothing is world-readable (pipelines/outputs.py,
docs/security.md "Outputs")."""
import gzip
import json
import os
import sqlite3
import stat
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
SAMPLE = os.path.join(ROOT, 'data', 'sample', 'orders.jsonl')


def run_cli(*args, umask=0o022):
  return subprocess.run(
      [sys.executable, '-m', 'pipeline', *args], cwd=ROOT,
      capture_output=True, text=True, timeout=600,
      preexec_fn=lambda: os.umask(umask))


def mode(path):
  return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.mark.parametrize('pattern', ['*', '?', '[ab]', '{a,b}'])
def test_glob_characters_in_output_are_refused_and_touch_nothing(
    tmp_path, pattern):
  for sibling in ('a', 'b'):
    (tmp_path / sibling).mkdir()
    (tmp_path / sibling / 'sales_by_category.parquet').write_bytes(b'keep')
  proc = run_cli('--input', SAMPLE, '--output', str(tmp_path / pattern))
  assert proc.returncode == 2, proc.stderr
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error:'), proc.stderr
  assert '--output' in lines[0] and 'glob' in lines[0]
  for sibling in ('a', 'b'):
    assert (tmp_path / sibling / 'sales_by_category.parquet').read_bytes() \
        == b'keep'
  assert sorted(os.listdir(tmp_path)) == ['a', 'b']


def test_a_run_writes_private_outputs_and_never_follows_a_planted_link(
    tmp_path):
  out, db = tmp_path / 'out', tmp_path / 'sales.db'
  victim = tmp_path / 'victim.txt'
  victim.write_text('not yours\n')
  out.mkdir()
  planted = ('summary.json', 'dead_letters.jsonl', 'top_products.parquet')
  for name in planted:
    (out / name).symlink_to(victim)
  proc = run_cli('--input', SAMPLE, '--output', str(out), '--sink',
                 f'sqlite:///{db}')
  assert proc.returncode == 0, proc.stderr
  assert victim.read_text() == 'not yours\n'
  for name in planted:
    assert not os.path.islink(out / name), name
  summary = json.loads((out / 'summary.json').read_text())
  assert summary['reconciles'] is True and summary['status'] == 'succeeded'
  for name in ('summary.json', 'sales_by_category.parquet',
               'top_products.parquet', 'dead_letters.jsonl'):
    assert mode(out / name) & 0o007 == 0, (name, oct(mode(out / name)))
  assert mode(db) == 0o640, oct(mode(db))
  assert not [n for n in os.listdir(out) if n.startswith(('beam-temp', '.'))]


def test_a_failed_run_says_so_and_cleans_its_temp_files(tmp_path):
  out, db = tmp_path / 'out', tmp_path / 'sales.db'
  good = run_cli('--input', SAMPLE, '--output', str(out), '--sink',
                 f'sqlite:///{db}')
  assert good.returncode == 0, good.stderr
  assert json.loads((out / 'summary.json').read_text())['reconciles'] is True
  packed = gzip.compress(open(SAMPLE, 'rb').read())
  cut = tmp_path / 'cut.jsonl.gz'
  cut.write_bytes(packed[:len(packed) // 2])  # damage found mid-run
  proc = run_cli('--input', str(cut), '--output', str(out), '--sink',
                 f'sqlite:///{db}')
  assert proc.returncode == 1
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error:'), proc.stderr
  summary = json.loads((out / 'summary.json').read_text())
  assert summary['status'] == 'failed'
  assert summary['reconciles'] is False
  assert 'cut.jsonl.gz' in summary['error']
  with sqlite3.connect(db) as conn:
    statuses = [s for s, in conn.execute(
        'SELECT status FROM pipeline_runs ORDER BY started_at, run_id')]
  assert statuses == ['succeeded', 'failed']
  assert not [n for n in os.listdir(out) if n.startswith(('beam-temp', '.'))]


def test_outputs_respect_a_stricter_umask(tmp_path):
  out, db = tmp_path / 'out', tmp_path / 'sales.db'
  proc = run_cli('--input', SAMPLE, '--output', str(out), '--sink',
                 f'sqlite:///{db}', umask=0o077)
  assert proc.returncode == 0, proc.stderr
  assert mode(out) == 0o700
  assert mode(out / 'summary.json') == 0o600
  assert mode(out / 'sales_by_category.parquet') == 0o600
  assert mode(db) == 0o600
