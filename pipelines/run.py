"""One run: the checks before it, the graph built and run, the wait for its
end (a streaming run's Ctrl-C), and the summary written and printed.
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from typing import Any, List, Optional, Tuple

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import (PipelineOptions,
                                                  StandardOptions)
from apache_beam.runners.runner import PipelineState

from pipelines.flags import UsageError, check_flags
from pipelines.options import SalesConfig, config_from_options
from pipelines.outputs import (SUMMARY_FILE, TempFiles, private_files,
                               restrict, write_summary)
from pipelines.progress import ProgressLine, progress_from_readers
from pipelines.hdfs_check import check_hdfs
from pipelines.reachability import check_services
from pipelines.report import check_report, write_run_report
from pipelines.sales import build_sales_graph
from pipelines.quality import QualityGateFailed, dead_letter_gate
from pipelines.restart import plan_restart
from pipelines.summary import RunSummary, print_summary, summarize
from pipelines.terminal import RunNoiseFilter
from pipelines.wiring import sinks_for, source_for
from runners.local import resolve_runner_args
from transforms.currency import load_fx_rates
from transforms.enrich import load_catalog
from transforms.kafka_client import check_properties_file
from transforms.redact import redact_text, redact_url
from transforms.sinks.files import OUTPUT_FILES
from transforms.sources.files import (InputError, detect_format,
                                      expand_patterns, probe_file)

_LOG = logging.getLogger('pipeline')

# How often a streaming run's counters are read while it runs.
SNAPSHOT_SECONDS = 2
# How often a bounded run's progress line is refreshed on a terminal.
PROGRESS_SECONDS = 1


def preflight(config: SalesConfig,
              options: Optional[PipelineOptions] = None) -> None:
  """Checks inputs, reference files, outputs and (given the run's Beam
  options) the services the run needs, before building a graph: a problem
  is one line before anything starts, not a failure deep in the run."""
  load_fx_rates(config.fx_rates)
  load_catalog(config.catalog)
  if options is not None:
    # hdfs:// is listed with the run's --hdfs_host/--hdfs_port/--hdfs_user
    FileSystems.set_options(options)
    check_hdfs(config, options)
  if config.source == 'files':
    for path in expand_patterns(config.inputs):
      fmt = config.input_format or detect_format(path)
      if '://' not in path:  # remote: read by the workers, as they may
        probe_file(path, fmt)
  if config.output and config.bounded:
    _check_writable_dir(config.output, '--output')
  for url in config.sinks:
    if url.lower().startswith('sqlite:'):
      from transforms.sinks.sqlite_sink import sqlite_path
      _check_writable_dir(os.path.dirname(sqlite_path(url)) or '.',
                          f'--sink {redact_url(url)}')
  for path in (config.kafka_config_file, config.kafka_sink_config_file):
    if path and os.path.isfile(path):  # else read by the workers only
      check_properties_file(path)  # no literal secret, every line readable
  if options is not None:
    check_services(config, options)


def _check_writable_dir(directory: str, what: str) -> None:
  """Creates a local output directory, or fails in one line."""
  if '://' in directory:
    return  # remote: written by the workers, with their credentials
  if os.path.exists(directory) and not os.path.isdir(directory):
    raise InputError(f'cannot write {what}: {directory} is not a directory')
  try:
    os.makedirs(directory, exist_ok=True)
  except OSError as e:
    raise InputError(
        f'cannot write {what}: {directory}: {e.strerror}') from None
  if not os.access(directory, os.W_OK):
    raise InputError(f'cannot write {what}: {directory}: permission denied')


def wait_for_end(result: beam.runners.runner.PipelineResult, bounded: bool,
                 noise: Optional[RunNoiseFilter] = None
                 ) -> Tuple[str, Optional[RunSummary]]:
  """Waits for the run; a streaming run ends on Ctrl-C with a cancel.

  Returns the status recorded in the database sinks' run table, and for a
  streaming run the last counters read while it ran (a terminal's Ctrl-C
  may stop a local runner before it can report them once more).
  """
  if bounded:
    show_progress(result)
    result.wait_until_finish()
    return 'succeeded', None
  snapshot: Optional[RunSummary] = None
  next_snapshot = time.monotonic()  # the first one at once: a Ctrl-C may come soon
  interrupted = threading.Event()

  def on_sigint(*_: Any) -> None:
    # Marked at once, in the handler: the same Ctrl-C reaches a local job
    # service (Prism) in our process group, whose end the worker threads
    # start reporting while this loop is still asleep.
    if noise is not None:
      noise.stop_requested()
    interrupted.set()

  previous = signal.signal(signal.SIGINT, on_sigint)
  try:
    while not interrupted.is_set():
      try:
        if PipelineState.is_terminal(result.state):
          break
      except Exception:
        # A terminal's Ctrl-C reaches the whole process group: a local job
        # service (Prism) may be gone before our handler has run.
        if not interrupted.wait(1):
          raise
      if time.monotonic() >= next_snapshot and not interrupted.is_set():
        taken = summarize(result)
        snapshot = taken if taken.counted else snapshot
        _LOG.debug('counts as of %s: %d records read', taken.as_of or '-',
                   taken.records_read)
        next_snapshot = time.monotonic()  # the first one at once: a Ctrl-C may come soon
      interrupted.wait(2)
  finally:
    signal.signal(signal.SIGINT, previous)
  if not interrupted.is_set():
    result.wait_until_finish()  # raises if the job failed
    return 'succeeded', snapshot
  print('stopping: cancelling the pipeline', file=sys.stderr)
  try:
    result.cancel()
  except Exception as e:  # already finished, or the runner is gone
    _LOG.debug('cancel: %s', e)
  return 'cancelled', snapshot


def show_progress(result: beam.runners.runner.PipelineResult) -> None:
  """While a bounded run goes on, its records read so far and the rate on
  the terminal (pipelines/progress.py); returns when the run ends."""
  progress = ProgressLine()
  if not progress.enabled:
    return
  try:
    while not PipelineState.is_terminal(result.state):
      progress.update(summarize(result).records_read)
      time.sleep(PROGRESS_SECONDS)
  finally:
    progress.clear()


def runs_detached(options: PipelineOptions, bounded: bool) -> bool:
  """A streaming job on Dataflow keeps running on its own: the CLI (or a
  Flex Template launcher) returns once it is submitted, and a Ctrl-C never
  cancels it. A dry run builds the job graph only and returns anyway."""
  from apache_beam.options.pipeline_options import TestOptions
  runner = str(options.view_as(StandardOptions).runner or '')
  return (not bounded and runner.rsplit('.', 1)[-1] == 'DataflowRunner'
          and not options.view_as(TestOptions).dry_run)


def build_and_run(argv: List[str],
                  noise: Optional[RunNoiseFilter] = None) -> RunSummary:
  """Parses flags, builds the graph, runs it to the end (or Ctrl-C).

  Everything the run creates locally is private (pipelines/outputs.py).
  """
  with private_files():
    return _build_and_run(argv, noise)


def _build_and_run(argv: List[str],
                   noise: Optional[RunNoiseFilter]) -> RunSummary:
  check_flags(argv)
  try:
    config = config_from_options(PipelineOptions(argv))
  except ValueError as e:
    raise UsageError(str(e)) from None
  beam_args = resolve_runner_args(argv, config.bounded)
  options = PipelineOptions(beam_args)
  # A bad --sink URL or --output fails first, before anything is read or
  # created.
  sinks = sinks_for(config)
  check_report(config)
  _LOG.info('checking inputs, outputs and services')
  preflight(config, options)
  recovery = plan_restart(config, options)  # a plain restart recovers
  if recovery is not config:
    config, sinks = recovery, sinks_for(recovery)
  if noise is not None and config.bounded:
    noise.failures_surface()
  if not config.bounded:
    options.view_as(StandardOptions).streaming = True
  pipeline = beam.Pipeline(options=options)
  build_sales_graph(pipeline, config, source_for(config), sinks)
  _LOG.info('running: %s source -> %s, %s, on %s', config.source,
            ', '.join(name for name, _ in sinks) or 'no sink',
            'bounded' if config.bounded else 'streaming',
            options.view_as(StandardOptions).runner)
  output = config.output if config.output and config.bounded else ''
  temp_files = TempFiles(output)
  started, started_wall = time.monotonic(), time.time()
  result = None
  try:
    # An in-process runner returns when a bounded job is done: its readers
    # feed the progress line meanwhile (pipelines/progress.py).
    with (progress_from_readers() if config.bounded else
          contextlib.nullcontext()):
      result = pipeline.run()
    if runs_detached(options, config.bounded):
      job_id = getattr(result, 'job_id', lambda: '?')()
      print(f'submitted streaming Dataflow job {job_id}; it runs until '
            f'drained (gcloud dataflow jobs drain {job_id}) or cancelled')
      return RunSummary(state='submitted')
    status, snapshot = wait_for_end(result, config.bounded, noise)
  except BaseException as e:  # failed, or a bounded run's Ctrl-C
    record_failed_run(result, sinks, output, temp_files, e)
    raise
  _LOG.info('run %s after %.1f s; writing the summary', status,
            time.monotonic() - started)
  summary = summarize(result)
  if not summary.counted and snapshot is not None:
    summary = snapshot
  verdict = dead_letter_gate(summary, config.max_dead_letter_ratio)
  recorded = summary.as_dict()
  if verdict is not None:
    recorded['quality_gate'] = verdict.as_dict()
    if not verdict.passed:
      status = 'failed_quality'
  recorded['status'] = status
  finish_runs(sinks, status, recorded)
  if output:
    for name in OUTPUT_FILES:  # written by workers, maybe other processes
      restrict(os.path.join(output, name))
    write_summary(output, recorded)
  if config.report:
    write_run_report(config, recorded, started_wall)
  print_summary(summary, config)
  if verdict is not None and not verdict.passed:
    raise QualityGateFailed(verdict.message)
  return summary


def finish_runs(sinks: List[Tuple[str, Any]], status: str,
                recorded: dict) -> None:
  """Database sinks record each run, its status and counts in
  pipeline_runs."""
  for _, sink in sinks:
    if hasattr(sink, 'finish_run'):
      sink.finish_run(status, recorded)


def record_failed_run(result: Any, sinks: List[Tuple[str, Any]],
                      output: str, temp_files: TempFiles,
                      error: BaseException) -> None:
  """A run that failed (or was stopped) says so: summary.json with status
  'failed' ('cancelled' for a Ctrl-C) and ``reconciles: false`` (its counts
  are partial), pipeline_runs marked the same, and the beam-temp-*
  directories it created removed. Each step is tried on its own, and none
  hides the run's own error."""
  status = 'cancelled' if isinstance(error, KeyboardInterrupt) else 'failed'
  summary = summarize(result) if result is not None else RunSummary()
  recorded = summary.as_dict()
  text = str(error).strip()
  recorded.update(
      status=status, state=summary.state or 'FAILED', reconciles=False,
      error=redact_text(text.splitlines()[0] if text else repr(error))[:500])
  for _, sink in sinks:
    if hasattr(sink, 'finish_run'):
      try:
        sink.finish_run(status, recorded)
      except Exception as e:  # pylint: disable=broad-except
        _LOG.warning('could not mark the run %s in %s: %s', status,
                     getattr(sink, 'label', 'a database sink'),
                     redact_text(str(e)))
  if output:
    try:
      write_summary(output, recorded)
    except OSError as e:
      _LOG.warning('could not write %s: %s', SUMMARY_FILE, e)
    removed = temp_files.remove_new()
    _LOG.info('run %s: summary written, %d temp files removed',
              status, removed)
