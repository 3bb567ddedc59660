"""A caught-up streaming run on Prism leaves the cores to others.

The Kafka read self-checkpoints: a partition with nothing new returns its
residual with a resume delay, which Prism parks until it is due. The read
is fused with the order checks, which take the FX rates as a side input, so
its stage is an ordinary stage with a side input. Beam 2.77's Prism took
such a stage as ready whenever its input watermark lagged its upstream's
(the parked residuals hold it back), built an empty bundle, rescheduled it,
and its scheduling loop spun: 0.76 of a core idle, most of a core while
busy (docs/performance.md). `runners/prism/patches/elementmanager.go.patch`
makes a stage with nothing pending not ready.
"""
import time

import pytest

from benchmarks.streaming.cpu import tree_cpu
from tests.integration.streaming import (kafka_stream_args, prism_children,
                                         results, streaming_pipeline,
                                         wait_for)
from tools.replay_to_kafka import replay

pytestmark = [pytest.mark.kafka, pytest.mark.prism, pytest.mark.integration,
              pytest.mark.slow]

# Measured idle: 0.76 of a core before the patch (15.3 CPU s in 20 s, a
# quiet machine), 0.08 after (1.6 CPU s in 20 s).
MAX_IDLE_CORES = 0.25
WINDOW_S = 8.0


def cpu_seconds(pid: int) -> float:
  """User + system CPU seconds of the process (and any children)."""
  return sum(tree_cpu(pid).values())


def test_a_caught_up_stream_leaves_prism_nearly_idle(
    kafka_broker, kafka_topic_factory, live_sample, tmp_path):
  topic = kafka_topic_factory(partitions=3)
  replay(live_sample, topic, kafka_broker.bootstrap, seed=5)
  db = tmp_path / 'live.db'
  with streaming_pipeline(
      *kafka_stream_args(kafka_broker.bootstrap, topic, 'prism-idle'),
      '--sink', f'sqlite:///{db}') as proc:
    # Rows in the sink: the sample is read; then until they stop changing,
    # so that the window below sees a run with nothing left to do.
    assert wait_for(lambda: results(str(db)), 120, proc)
    seen = [None]

    def unchanged() -> bool:
      previous, seen[0] = seen[0], results(str(db))
      return previous == seen[0]

    assert wait_for(unchanged, 120, proc, interval_s=3)
    found = prism_children(proc.pid)
    assert found, 'no Prism child process found'
    prism = found[0]
    start_cpu, start = cpu_seconds(prism), time.monotonic()
    time.sleep(WINDOW_S)  # a measuring window, not a wait for an event
    cores = (cpu_seconds(prism) - start_cpu) / (time.monotonic() - start)
  assert cores < MAX_IDLE_CORES, (
      f'Prism used {cores:.2f} of a core while the run had nothing to do')
