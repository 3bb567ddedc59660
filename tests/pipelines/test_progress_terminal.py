"""The progress line of a bounded run on the default (in-process) runner,
seen on a real terminal (a pseudo-terminal): before, that runner showed no
line at all, because it reports its counters only when the job is done."""
import os
import pty
import subprocess
import sys

from tests.integration.streaming import ROOT, SAMPLE


def run_on_a_terminal(*args: str) -> str:
  """Runs `python -m pipeline` with stdout on a pseudo-terminal; returns
  what the terminal received."""
  leader, follower = pty.openpty()
  proc = subprocess.Popen([sys.executable, '-m', 'pipeline', *args],
                          cwd=ROOT, stdout=follower, stderr=subprocess.PIPE)
  os.close(follower)
  received = b''
  while True:
    try:
      chunk = os.read(leader, 65536)
    except OSError:  # the child closed the terminal
      break
    if not chunk:
      break
    received += chunk
  _, err = proc.communicate(timeout=300)
  os.close(leader)
  assert proc.returncode == 0, err.decode()[-2000:]
  return received.decode().replace('\r\n', '\n')  # the terminal's newlines


def test_the_default_runner_shows_progress_then_a_clean_summary(tmp_path):
  shown = run_on_a_terminal('--input', SAMPLE, '--output',
                            str(tmp_path / 'out'))
  # At least the first reader's first report; the line is rewritten in
  # place ('\r') and removed before the summary.
  assert '\rread ' in shown and ' records/s' in shown
  summary = shown[shown.rindex('\r') + 1:]
  assert summary.lstrip().startswith('records read      3000'), summary[:200]


def test_off_a_terminal_there_is_no_progress_line(tmp_path):
  proc = subprocess.run(
      [sys.executable, '-m', 'pipeline', '--input', SAMPLE, '--output',
       str(tmp_path / 'out')], cwd=ROOT, capture_output=True, text=True,
      timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert '\r' not in proc.stdout and 'records/s' not in proc.stdout
