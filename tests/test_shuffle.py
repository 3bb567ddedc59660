"""The bounded replay shuffle shared by the Kafka and Pub/Sub tools."""
from tools.shuffle import bounded_shuffle


def test_permutation_within_the_disorder_bound_and_deterministic():
  events = [(i * 1000, f'e{i}') for i in range(500)] + [(None, 'dirty')]
  out = bounded_shuffle(events, shuffle_seconds=30, seed=4)
  assert sorted(out, key=lambda e: e[1]) == sorted(events, key=lambda e: e[1])
  assert out != events
  assert out == bounded_shuffle(events, shuffle_seconds=30, seed=4)
  newest = 0
  for t, _ in out:
    if t is not None:
      assert newest - t < 30_000  # never 30 s or more behind a newer event
      newest = max(newest, t)


def test_no_shuffle_keeps_the_order():
  events = [(3, 'a', 'x'), (None, 'b', 'y'), (1, 'c', 'z')]
  assert bounded_shuffle(events, 0, seed=1) == events
