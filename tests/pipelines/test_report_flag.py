"""--report is checked before anything runs: one line and exit code 2."""
import pytest

from pipelines.cli import main


@pytest.mark.parametrize('args, message', [
    (['--report', 'r.html', '--source', 'kafka', '--streaming'],
     '--report is for bounded runs'),
    (['--report', 'r.html', '--output', ''],
     '--report reads the tables the run writes'),
])
def test_report_flag_problems_are_one_line(args, message, capsys, tmp_path,
                                           monkeypatch):
  monkeypatch.chdir(tmp_path)
  assert main(args) == 2
  err = capsys.readouterr().err
  assert err.startswith('error: ') and message in err
  assert err.count('\n') == 1
  assert not (tmp_path / 'r.html').exists()


def test_a_directory_is_no_report(capsys, tmp_path):
  assert main(['--report', str(tmp_path), '--output', str(tmp_path)]) == 2
  assert 'is a directory' in capsys.readouterr().err
