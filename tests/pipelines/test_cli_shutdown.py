"""What a Ctrl-C leaves on the terminal: the runner's closed channels are the
expected end of a streaming run; any other error still shows."""
import logging
import os
import subprocess
import sys
import textwrap
import threading

from pipelines.terminal import RunNoiseFilter

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
CLOSED = ('<_MultiThreadedRendezvous of RPC that terminated with: '
          'status = StatusCode.UNAVAILABLE details = "Stream removed '
          '(Socket closed)">')


def raise_in_thread(monkeypatch, noise: RunNoiseFilter, error: Exception,
                    stop_after_s=None) -> None:
  """Runs a thread that dies of error, with noise's hook installed; the stop
  (the SIGINT handler's call) may come after the thread has failed."""
  monkeypatch.setattr(threading, 'excepthook', noise.thread_error)
  failed = threading.Event()

  def work():
    failed.set()
    raise error

  thread = threading.Thread(target=work, name='read_state')
  thread.start()
  if stop_after_s is not None:
    failed.wait(5)
    threading.Event().wait(stop_after_s)
    noise.stop_requested()
  thread.join(10)


def test_a_channel_closed_just_before_the_stop_is_not_reported(
    monkeypatch, capsys):
  noise = RunNoiseFilter(grace_s=5)
  raise_in_thread(monkeypatch, noise, RuntimeError(CLOSED), stop_after_s=0.3)
  assert capsys.readouterr().err == ''


def test_a_channel_closed_without_a_stop_is_a_failure_and_shows(
    monkeypatch, capsys):
  noise = RunNoiseFilter(grace_s=0.2)
  raise_in_thread(monkeypatch, noise, RuntimeError(CLOSED))
  err = capsys.readouterr().err
  assert 'Traceback' in err and 'StatusCode.UNAVAILABLE' in err


def test_other_thread_errors_show_when_no_stop_was_asked(monkeypatch, capsys):
  noise = RunNoiseFilter(grace_s=5)
  raise_in_thread(monkeypatch, noise, ValueError('bad record in a DoFn'))
  assert 'ValueError: bad record in a DoFn' in capsys.readouterr().err


def record(level: int, message: str) -> logging.LogRecord:
  return logging.LogRecord('apache_beam', level, __file__, 1, message, (),
                           None)


def test_log_records_of_closed_channels_pass_until_the_stop():
  noise = RunNoiseFilter(grace_s=0)
  assert noise.filter(record(logging.ERROR, f'data channel: {CLOSED}'))
  assert noise.filter(record(logging.ERROR, 'a failing DoFn'))
  assert not noise.filter(
      record(logging.ERROR, 'bundle 7 not in a finalizable state'))
  noise.stop_requested()
  assert not noise.filter(record(logging.ERROR, f'data channel: {CLOSED}'))
  assert not noise.filter(record(logging.WARNING, 'worker shutting down'))
  assert noise.filter(record(logging.CRITICAL, 'disk full'))


def test_after_the_stop_only_the_main_thread_writes_to_stderr():
  noise = RunNoiseFilter(grace_s=0)
  seen = {}

  def background():
    seen['before'] = noise.is_noise('Exception in thread x:\n')
    noise.stop_requested()
    seen['after'] = noise.is_noise('  File "sdk_worker.py", line 1086\n')

  thread = threading.Thread(target=background)
  thread.start()
  thread.join()
  assert seen == {'before': False, 'after': True}
  assert not noise.is_noise('error: pipeline failed: ...\n')


def test_the_program_ends_with_mains_code_after_the_runs_exit_handlers():
  """run_as_program ends the process itself (os._exit, so that native
  teardown cannot race the runner's daemon threads, see its docstring): the
  exit handlers a run registers (Beam's stop of its Prism process) still run,
  the output is flushed, and the code is main()'s."""
  script = textwrap.dedent('''
      import atexit, sys, threading, time
      import pipelines.cli as cli

      def main():
        atexit.register(print, 'exit handler of the run')
        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
        print('summary', end='')  # no newline: only a flush writes it
        return 3

      cli.main = main
      cli.run_as_program()
      ''')
  proc = subprocess.run([sys.executable, '-c', script], cwd=ROOT,
                        capture_output=True, text=True, timeout=120)
  assert proc.returncode == 3, proc.stderr
  assert proc.stdout == 'summaryexit handler of the run\n'
