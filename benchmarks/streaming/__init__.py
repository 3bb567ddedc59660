"""Streaming benchmark: sustained throughput and end-to-end freshness.

    python -m benchmarks.streaming                          # Prism, 200k events
    python -m benchmarks.streaming --events 50000 --partitions 4 \\
        --runner prism --early-firing 1 --json out.json
    python -m benchmarks.streaming --runner flink           # needs runners/flink
    python -m benchmarks.streaming --runner flink-cluster --parallelism 2 \
        --load live                  # a running cluster.sh cluster (FLINK_MASTER)
    python -m benchmarks.streaming --profile                # + where the time goes

What it does, per runner:

1. Starts its own single-node Kafka broker (services/kafka/broker.py: free
   ports, a temporary data dir) and stops it at the end.
2. Throughput: pre-produces ``--events`` clean order events (the project's
   generator, tools/generate_orders/, no dirty records, no duplicates;
   ``event_time`` rewritten to the last two minutes so the windows are live)
   into a ``--partitions``-partition topic, then starts
   ``python -m pipeline --source kafka --streaming --sink sqlite:///...`` and
   samples, every 25 ms, (a) the consumer group's committed offsets (the
   source commits after each bundle is finalized) and (b) the SQLite sink:
   ``SUM(orders)`` of the ``__all__`` rows over all windows, i.e. how many
   orders the published aggregates reflect. Sustained rate = events between
   the first and the last sample that moved, divided by the time between
   them, for the source (committed offsets) and end to end (the sink).
3. Freshness: once the backlog is in the sink, produces ``--waves`` waves of
   ``--wave-size`` events every ``--wave-interval`` seconds, with
   ``event_time`` = now and order ids unique per wave. Wave ``w`` is visible
   when the sink's total reaches ``events + (w + 1) * wave_size``; its
   freshness is the time from just before it was produced to the first
   sample that shows it (also: to the first commit of its offsets, i.e. when
   the source finished with it). Reports p50 / p99 / max.
4. ``--profile`` runs the pipeline process under an in-process sampling
   profiler (every thread's stack every 10 ms; py-spy is not available) and
   prints where the SDK worker's bundle-processing threads spend their time,
   plus the CPU seconds of each process (Python SDK / Prism / Kafka JVM).

Prints one table row per runner and, with ``--json PATH``, writes all numbers
(including the sample timelines' summary and the load average) as JSON.

The package, one job a module: `cpu` (load average, CPU seconds from /proc),
`events` (backlog, waves, producer), `sampler` (the Sampler thread, rates,
timeline, percentiles), `launching` (runner arguments, the profiled
pipeline, stopping and cancelling), `measuring` (run_one: the throughput and
freshness phases), `report` (table, profile) and `cli` (the command line).
"""
from benchmarks.streaming.cli import TARGET_EVENTS_PER_S, main
from benchmarks.streaming.cpu import (
    cpu_delta, fmt_load, kafka_jvm_pids, load_average, pids_cpu, tree_cpu)
from benchmarks.streaming.events import (
    make_backlog, produce_all, producer, wave_events)
from benchmarks.streaming.launching import (
    PY, ROOT, cancel_cluster_job, profiled_pipeline, runner_args,
    stop_pipeline)
from benchmarks.streaming.measuring import WARMUP_EVENTS, run_one
from benchmarks.streaming.report import print_profile, print_table
from benchmarks.streaming.sampler import (
    COMMIT_SAMPLE_EVERY, SAMPLE_S, Sampler, percentile, sustained_rate,
    timeline)

__all__ = [
    'COMMIT_SAMPLE_EVERY', 'PY', 'ROOT', 'SAMPLE_S', 'Sampler',
    'TARGET_EVENTS_PER_S', 'WARMUP_EVENTS', 'cancel_cluster_job', 'cpu_delta',
    'fmt_load', 'kafka_jvm_pids', 'load_average', 'main', 'make_backlog',
    'percentile', 'pids_cpu', 'print_profile', 'print_table', 'produce_all',
    'producer', 'profiled_pipeline', 'run_one', 'runner_args',
    'stop_pipeline', 'sustained_rate', 'timeline', 'tree_cpu', 'wave_events',
]
