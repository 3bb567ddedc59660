"""The progress line of long bounded runs (pure logic, a fake clock and
streams): records read and a rate, throttled, and quiet off a terminal."""
import io

from pipelines.progress import ProgressLine, progress_text


class Terminal(io.StringIO):

  def isatty(self):
    return True


class Clock:

  def __init__(self):
    self.now = 100.0

  def __call__(self):
    return self.now


def test_text_has_the_count_and_the_average_rate():
  assert progress_text(12345, 3.0) == 'read 12,345 records, 4,115 records/s'
  assert progress_text(0, 0.0) == 'read 0 records, 0 records/s'


def test_a_terminal_gets_one_line_rewritten_at_most_each_interval():
  out, clock = Terminal(), Clock()
  line = ProgressLine(out, interval_s=1.0, clock=clock)
  clock.now += 2
  line.update(10_000)
  clock.now += 0.5
  line.update(11_000)  # too soon: not shown
  clock.now += 0.5
  line.update(30_000)
  assert out.getvalue() == ('\rread 10,000 records, 5,000 records/s'
                            '\rread 30,000 records, 10,000 records/s')
  line.clear()
  assert out.getvalue().endswith('\r' + ' ' * 37 + '\r')
  assert '\n' not in out.getvalue()


def test_not_a_terminal_means_no_output():
  out, clock = io.StringIO(), Clock()
  line = ProgressLine(out, clock=clock)
  clock.now += 5
  line.update(1000)
  line.clear()
  assert not line.enabled and out.getvalue() == ''
