"""transforms/vectorized/ahead.py: an element's outputs come one element
later (or at the bundle's end), in order, each in its own window."""
from concurrent.futures import ThreadPoolExecutor

import apache_beam as beam
from apache_beam.transforms.window import IntervalWindow
from apache_beam.utils.windowed_value import WindowedValue

from transforms.vectorized.ahead import OneAhead, done


def _work(values):
  return [(done(v), lambda v: [v * 10, beam.pvalue.TaggedOutput('t', -v)])
          for v in values]


def test_outputs_come_one_element_later_in_their_own_window():
  ahead = OneAhead()
  w1, w2 = IntervalWindow(0, 10), IntervalWindow(10, 20)
  assert list(ahead.hold(_work([1, 2]), w1, 5)) == []
  second = list(ahead.hold(_work([3]), w2, 15))
  assert [o for o in second if isinstance(o, WindowedValue)] == [
      WindowedValue(10, 5, (w1,)), WindowedValue(20, 5, (w1,))]
  tagged = [o for o in second if isinstance(o, beam.pvalue.TaggedOutput)]
  assert [(o.tag, o.value) for o in tagged] == [
      ('t', WindowedValue(-1, 5, (w1,))), ('t', WindowedValue(-2, 5, (w1,)))]
  last = list(ahead.release())
  assert last[0] == WindowedValue(30, 15, (w2,))
  assert list(ahead.release()) == []


def test_reset_forgets_the_held_element_and_threads_keep_order():
  ahead = OneAhead()
  list(ahead.hold(_work([1]), IntervalWindow(0, 1), 0))
  ahead.reset()
  assert list(ahead.release()) == []
  with ThreadPoolExecutor(2) as pool:
    work = [(pool.submit(lambda v=v: v), lambda v: [v]) for v in range(20)]
    list(ahead.hold(work, IntervalWindow(0, 1), 0))
    assert [o.value for o in ahead.release()] == list(range(20))
