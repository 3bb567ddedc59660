"""The adversarial corpus (tests/fixtures/adversarial/, expected.json) through
`python -m pipeline` on both engines: a hostile record is a dead letter with
the reason the table names, bad reference data or a bad CSV header stop the
run in one line before it starts, never a traceback; the counts reconcile and
both engines agree (issue #14, items 2, 4 and 9)."""
import json
import os
import sqlite3
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
CORPUS = os.path.join(ROOT, 'tests', 'fixtures', 'adversarial')
ENGINES = ('arrow', 'records')

with open(os.path.join(CORPUS, 'expected.json'), encoding='utf-8') as _f:
  EXPECTED = json.load(_f)


def run_cli(*args):
  return subprocess.run([sys.executable, '-m', 'pipeline', *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=300)


def _columnar_copies(tmp_path):
  """records.csv's rows (all strings) as Avro and Parquet files: the same
  hostile values through the decoded formats."""
  import csv

  import fastavro
  import pyarrow as pa
  import pyarrow.parquet as pq
  with open(os.path.join(CORPUS, 'records.csv'), encoding='utf-8-sig',
            newline='') as f:
    rows = list(csv.DictReader(f))
  names = list(rows[0])
  avro = tmp_path / 'records.avro'
  schema = {'type': 'record', 'name': 'Order', 'fields': [
      {'name': n, 'type': 'string'} for n in names]}
  with open(avro, 'wb') as f:
    fastavro.writer(f, schema, rows)
  parquet = tmp_path / 'records.parquet'
  pq.write_table(pa.Table.from_pylist(rows), parquet)
  expected = {str(i): reason for i, reason in enumerate(
      EXPECTED['records']['records.csv'].values(), 1)}
  # The copies repeat the CSV's order ids: every valid row is a duplicate.
  dup = {k: (v or 'duplicate') for k, v in expected.items()}
  return [str(avro), str(parquet)], {'records.avro': dup,
                                     'records.parquet': dup}


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  tmp = tmp_path_factory.mktemp('adversarial')
  extra, expected = _columnar_copies(tmp)
  out = {}
  for engine in ENGINES:
    output = tmp / engine
    proc = run_cli(
        '--input', os.path.join(CORPUS, 'records.jsonl'),
        '--input', os.path.join(CORPUS, 'records.csv'),
        *[a for path in extra for a in ('--input', path)],
        '--fx_rates', os.path.join(CORPUS, 'fx_rates.csv'),
        '--catalog', os.path.join(CORPUS, 'catalog.csv'),
        '--output', str(output), '--sink', f'sqlite:///{output}/sales.db',
        f'--engine={engine}')
    out[engine] = (proc, output)
  return out, {**EXPECTED['records'], **expected}


@pytest.mark.parametrize('engine', ENGINES)
def test_every_hostile_record_is_a_dead_letter_with_its_reason(runs, engine):
  out, expected = runs
  proc, output = out[engine]
  assert proc.returncode == 0, proc.stderr
  assert 'Traceback' not in proc.stderr
  with open(output / 'summary.json', encoding='utf-8') as f:
    summary = json.load(f)
  assert summary['reconciles'] is True
  with open(output / 'dead_letters.jsonl', encoding='utf-8') as f:
    letters = [json.loads(line) for line in f]
  got = {(os.path.basename(d['source']), str(d['position'])): d['reason']
         for d in letters}
  want = {(name, pos): reason for name, table in expected.items()
          for pos, reason in table.items()
          if reason not in (None, 'duplicate')}
  assert got == want
  valid = sum(r is None for t in expected.values() for r in t.values())
  dups = sum(r == 'duplicate' for t in expected.values() for r in t.values())
  assert (summary['valid'], summary['duplicates']) == (valid, dups)
  assert summary['records_read'] == sum(len(t) for t in expected.values())
  # The SQLite sink took every valid row's windows, and the run finished.
  with sqlite3.connect(output / 'sales.db') as db:
    (status,) = db.execute('SELECT status FROM pipeline_runs').fetchone()
    (latest,) = db.execute('SELECT MAX(window_end) FROM '
                           'sales_by_category').fetchone()
  assert status == 'succeeded'
  assert latest == '9999-01-01T00:00:00Z'


def test_both_engines_give_the_same_dead_letters_and_counts(runs):
  out, _ = runs
  seen = []
  for engine in ENGINES:
    _, output = out[engine]
    with open(output / 'dead_letters.jsonl', encoding='utf-8') as f:
      letters = sorted(f.read().splitlines())
    with open(output / 'summary.json', encoding='utf-8') as f:
      summary = json.load(f)
    for key in ('as_of', 'state'):
      summary.pop(key, None)
    seen.append((letters, summary))
  assert seen[0] == seen[1]


@pytest.mark.parametrize('engine', ENGINES)
@pytest.mark.parametrize('name', sorted(EXPECTED['refused']))
def test_bad_reference_data_and_headers_stop_the_run_in_one_line(
    tmp_path, name, engine):
  case = EXPECTED['refused'][name]
  flags = {'--fx_rates': os.path.join(CORPUS, 'fx_rates.csv'),
           '--catalog': os.path.join(CORPUS, 'catalog.csv'),
           '--input': os.path.join(CORPUS, 'records.jsonl')}
  flags[case['flag']] = os.path.join(CORPUS, name)
  args = [a for item in flags.items() for a in item]
  proc = run_cli(*args, '--output', str(tmp_path / 'out'),
                 f'--engine={engine}')
  assert proc.returncode == 1
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: '), proc.stderr
  assert case['error'] in lines[0]
  assert not os.path.exists(tmp_path / 'out' / 'summary.json')


@pytest.mark.parametrize('ratio, code, passed', [('0.25', 3, False),
                                                 ('0.9', 0, True)])
def test_the_dead_letter_gate_fails_a_dirty_run_after_its_summary(
    tmp_path, ratio, code, passed):
  """Needs pipelines/run.py and cli.py to call pipelines/quality.py."""
  output = tmp_path / 'out'
  proc = run_cli('--input', os.path.join(CORPUS, 'records.jsonl'),
                 '--fx_rates', os.path.join(CORPUS, 'fx_rates.csv'),
                 '--catalog', os.path.join(CORPUS, 'catalog.csv'),
                 '--output', str(output), '--max_dead_letter_ratio', ratio)
  assert proc.returncode == code, proc.stderr
  assert 'Traceback' not in proc.stderr
  with open(output / 'summary.json', encoding='utf-8') as f:
    gate = json.load(f)['quality_gate']
  assert gate['passed'] is passed
  assert gate['max_dead_letter_ratio'] == float(ratio)
  if not passed:
    assert proc.stderr.strip().splitlines()[-1].startswith(
        'error: data-quality gate failed: ')


def test_the_corpus_table_covers_every_record():
  for name, table in EXPECTED['records'].items():
    path = os.path.join(CORPUS, name)
    with open(path, 'rb') as f:
      data = f.read()
    lines = [l for l in data.split(b'\n') if l.strip()]
    header = 1 if name.endswith('.csv') else 0
    assert len(lines) - header == len(table), name
