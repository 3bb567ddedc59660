"""The command line: help, clear one-line errors, the summary."""
import argparse
import json
import os
import subprocess
import sys

import pytest

from pipelines.cli import main
from pipelines.options import SalesOptions

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def run_cli(*args, cwd=ROOT):
  return subprocess.run([sys.executable, '-m', 'pipeline', *args], cwd=cwd,
                        capture_output=True, text=True, timeout=300)


def project_actions():
  parser = argparse.ArgumentParser()
  SalesOptions._add_argparse_args(parser)  # pylint: disable=protected-access
  return [a for a in parser._actions if a.option_strings != ['-h', '--help']]


def help_entries(text):
  """--help's text per flag, keyed by the flag's first option string, with
  the wrapping undone."""
  entries, key = {}, None
  for line in text.splitlines():
    if line.startswith('  -'):
      key = line.split()[0].rstrip(',')
      entries[key] = line
    elif key and line.startswith('   '):
      entries[key] += ' ' + line
    else:
      key = None
  return {flag: ' '.join(entry.split()) for flag, entry in entries.items()}


def cli_help(capsys, monkeypatch):
  # a terminal this narrow would break long words (paths) across lines
  monkeypatch.setenv('COLUMNS', '100')
  assert main(['--help']) == 0
  return help_entries(capsys.readouterr().out)


def test_every_flag_has_help_text_that_states_no_default_by_hand(
    capsys, monkeypatch):
  entries = cli_help(capsys, monkeypatch)
  actions = project_actions()
  assert len(actions) > 25
  for action in actions:
    if action.help == argparse.SUPPRESS:  # a hidden debugging switch
      assert action.option_strings[0] not in entries
      continue
    assert action.help and action.help.strip(), action.option_strings
    assert '(default' not in action.help, action.option_strings
    for flag in action.option_strings:  # short forms included
      assert flag in entries[action.option_strings[0]], flag


def test_help_shows_each_flag_with_the_default_the_parser_holds(
    capsys, monkeypatch):
  """The expectation comes from the parser itself, so a default cannot
  drift away from its help."""
  from pipelines.flags import shown_default
  entries = cli_help(capsys, monkeypatch)
  for action in project_actions():
    if action.help == argparse.SUPPRESS:
      continue
    entry = entries[action.option_strings[0]]
    assert entry.endswith(f'(default: {shown_default(action)})'), (
        entry, action.default)


@pytest.mark.parametrize('flag, shown', [
    ('--log_level', 'WARNING'),
    ('--source', 'files'),
    ('--input', 'the bundled sample, data/sample/orders.jsonl'),
    ('--input_format', 'by extension'),
    ('--catalog', 'data/catalog.csv'),  # absolute in the parser
    ('--catalog_refresh_seconds', '300'),  # 300.0 in the parser
    ('--sink', 'none'),
    ('--kafka_config_file', 'none'),
    ('--no_late_firings', 'off'),
    ('--top_n', '5'),
    ('--pubsub_subscription', 'none'),
])
def test_help_words_defaults_for_people(capsys, monkeypatch, flag, shown):
  assert cli_help(capsys, monkeypatch)[flag].endswith(f'(default: {shown})')


@pytest.mark.parametrize('default, shown', [
    (['a.jsonl', 'b.jsonl'], 'a.jsonl, b.jsonl'),
    ([], 'none'),
    (True, 'on'),
    (0.5, '0.5'),
    ('/elsewhere/catalog.csv', '/elsewhere/catalog.csv'),
    ('50%', '50%'),
])
def test_defaults_of_other_kinds_are_shown_plainly(default, shown):
  import argparse
  from pipelines.flags import DefaultsHelpFormatter, shown_default
  parser = argparse.ArgumentParser(formatter_class=DefaultsHelpFormatter)
  action = parser.add_argument('--x', default=default, help='X.')
  assert shown_default(action) == shown
  assert f'(default: {shown})' in ' '.join(parser.format_help().split())


@pytest.mark.parametrize('args, message', [
    (['--bogus', '1'], 'unknown flag --bogus'),
    (['--window=weekly'], 'window must be one of'),
    (['--window_size_seconds=abc'], "invalid int value: 'abc'"),
    (['--source=ftp'], '--source must be one of'),
    (['--sink=mysql://x'], "unknown sink 'mysql://x'"),
    # --subscription and --topic: the short forms of --pubsub_*
    (['--source=pubsub', '--subscription=projects/p/subscriptions/s',
      '--topic=projects/p/topics/t'], 'needs exactly one of'),
])
def test_bad_flags_give_one_line_and_exit_2(args, message):
  proc = run_cli(*args)
  assert proc.returncode == 2
  lines = [l for l in proc.stderr.splitlines() if l.startswith('error:')]
  assert len(lines) == 1 and message in lines[0]
  assert 'Traceback' not in proc.stderr


def test_missing_unreadable_and_unknown_inputs_fail_cleanly(tmp_path):
  unknown = tmp_path / 'orders.txt'
  unknown.write_text('{}\n')
  unreadable_fx = tmp_path / 'fx.csv'
  unreadable_fx.write_text('currency,rate\nUSD,1\n')  # wrong header
  cases = [
      (['--input', str(tmp_path / 'none-*.jsonl')], 'no input file matches'),
      (['--input', str(unknown)], 'cannot tell the format'),
      (['--fx_rates', str(tmp_path / 'missing.csv')], 'cannot read'),
      (['--fx_rates', str(unreadable_fx)], 'expected header'),
      (['--input_format', 'xml'], "unknown input format 'xml'"),
  ]
  for args, message in cases:
    proc = run_cli(*args, '--output', str(tmp_path / 'out'))
    assert proc.returncode == 1, args
    assert proc.stderr.strip().startswith('error:'), proc.stderr
    assert message in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_damaged_inputs_and_unwritable_outputs_fail_in_one_line(tmp_path):
  import gzip
  sample = open(os.path.join(ROOT, 'data', 'sample', 'orders.jsonl'),
                'rb').read()
  (tmp_path / 'dir.jsonl').mkdir()
  (tmp_path / 'plain.jsonl.gz').write_bytes(sample[:500])  # not gzip
  (tmp_path / 'junk.parquet').write_bytes(b'not parquet at all')
  (tmp_path / 'junk.avro').write_bytes(b'not avro either')
  packed = gzip.compress(sample)
  (tmp_path / 'cut.jsonl.gz').write_bytes(packed[:len(packed) // 2])
  (tmp_path / 'a_file').write_text('x')
  cases = [
      (['--input', str(tmp_path / 'dir.jsonl')], 'it is a directory'),
      (['--input', str(tmp_path / 'plain.jsonl.gz')], 'Not a gzipped file'),
      (['--input', str(tmp_path / 'junk.parquet')], 'as parquet'),
      (['--input', str(tmp_path / 'junk.avro')], 'as avro'),
      # damage past the header: found by the read, in the middle of the run
      (['--input', str(tmp_path / 'cut.jsonl.gz')], 'cut.jsonl.gz as jsonl'),
      (['--input', str(tmp_path / 'cut.jsonl.gz'), '--engine', 'records'],
       'cut.jsonl.gz as jsonl'),
      (['--output', str(tmp_path / 'a_file' / 'out')], 'cannot write --output'),
      (['--output', '', '--sink',
        f'sqlite:///{tmp_path}/a_file/results.db'], 'is not a directory'),
  ]
  for args, message in cases:
    if '--output' not in args:
      args = [*args, '--output', str(tmp_path / 'out')]
    proc = run_cli(*args)
    assert proc.returncode == 1, args
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error:'), proc.stderr
    assert message in lines[0], (args, lines[0])


@pytest.mark.parametrize('flags, bounded, detached', [
    (['--runner=DataflowRunner'], False, True),
    (['--runner=apache_beam.runners.dataflow.DataflowRunner'], False, True),
    (['--runner=DataflowRunner'], True, False),  # a batch job: wait for it
    (['--runner=DataflowRunner', '--dry_run=True'], False, False),
    (['--runner=FlinkRunner'], False, False),
    ([], False, False),
])
def test_only_a_streaming_dataflow_job_is_left_running(flags, bounded,
                                                       detached):
  from apache_beam.options.pipeline_options import PipelineOptions
  from pipelines.run import runs_detached
  assert runs_detached(PipelineOptions(flags), bounded) is detached


def test_summary_reconciles_on_a_small_file(tmp_path):
  lines = [
      '{"order_id":"a","customer_id":"c1","product_id":"P0001","quantity":2,'
      '"unit_price":"10.50","currency":"EUR","event_time":"2026-11-02T10:15:00Z"}',
      '{"order_id":"a","customer_id":"c1","product_id":"P0001","quantity":2,'
      '"unit_price":"10.50","currency":"EUR","event_time":"2026-11-02T10:15:00Z"}',
      'not json',
      '{"order_id":"b","customer_id":"c2","product_id":"P0001","quantity":1,'
      '"unit_price":"1","currency":"XYZ","event_time":"2026-11-02T10:15:00Z"}',
  ]
  source = tmp_path / 'in.jsonl'
  source.write_text('\n'.join(lines) + '\n')
  out = tmp_path / 'out'
  proc = run_cli('--input', str(source), '--output', str(out))
  assert proc.returncode == 0, proc.stderr
  summary = json.loads((out / 'summary.json').read_text())
  assert summary['records_read'] == 4
  assert summary['valid'] == 1
  assert summary['duplicates'] == 1
  assert summary['dead_letters'] == {'malformed': 1, 'unknown_currency': 1}
  assert summary['reconciles'] is True
  assert 'records read      4' in proc.stdout
