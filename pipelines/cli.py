"""`python -m pipeline`: flags in, pipeline run, a short summary out.

Errors a user can fix (a bad flag, a missing file, an unknown format, a
runner that is not set up) end with one line on stderr and a non-zero exit,
never a traceback. The summary is the CLI's user-facing output; everything
else goes through logging.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import signal
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import (PipelineOptions,
                                                  StandardOptions)
from apache_beam.runners.runner import PipelineState

from pipelines.options import SalesConfig, SalesOptions, config_from_options
from pipelines.sales import build_sales_graph
from pipelines.wiring import SinkUrlError, sinks_for, source_for
from runners.local import RunnerSetupError, resolve_runner_args
from transforms.currency import ConfigFileError, load_fx_rates
from transforms.enrich import load_catalog
from transforms.parse import METRICS_NAMESPACE
from transforms.sources.files import (InputError, detect_format,
                                      expand_patterns, probe_file)
from transforms.windowing import SLIDING, WindowPolicy

_LOG = logging.getLogger('pipeline')

EXIT_USAGE = 2
EXIT_FAILED = 1
SUMMARY_FILE = 'summary.json'


class UsageError(ValueError):
  """A flag is unknown or has a bad value."""


class _StrictParser(argparse.ArgumentParser):
  """Raises instead of printing usage and exiting."""

  def error(self, message: str) -> None:  # type: ignore[override]
    raise UsageError(message)


def _all_option_classes() -> List[type]:
  seen: Dict[str, type] = {}
  pending = list(PipelineOptions.__subclasses__())
  while pending:
    cls = pending.pop()
    seen.setdefault(f'{cls.__module__}.{cls.__qualname__}', cls)
    pending.extend(cls.__subclasses__())
  return list(seen.values())


_FORWARDING_RUNNERS = ('flinkrunner', 'portablerunner', 'sparkrunner')


def check_flags(argv: Sequence[str]) -> None:
  """Rejects unknown flags and bad values with one clear line."""
  # Loading these modules registers every runner's options class.
  import apache_beam.runners.portability.flink_runner  # noqa: F401
  parser = _StrictParser(add_help=False, allow_abbrev=False)
  for cls in _all_option_classes():
    try:
      cls._add_argparse_args(parser)  # pylint: disable=protected-access
    except argparse.ArgumentError:
      pass  # an option registered twice by two classes
  known, unknown = parser.parse_known_args(list(argv))
  runner = (getattr(known, 'runner', None) or '').rsplit('.', 1)[-1].lower()
  if unknown and runner in _FORWARDING_RUNNERS:
    # These runners hand unknown options to a Java job service
    # (e.g. --checkpointing_interval for Flink), as Beam itself does.
    _LOG.info('passing options through to %s: %s', runner, unknown)
    return
  if unknown:
    raise UsageError(f'unknown flag {unknown[0]} (see --help)')


def help_text() -> str:
  parser = argparse.ArgumentParser(
      prog='python -m pipeline',
      description='Sales pipeline: order events from files, Kafka or Pub/Sub '
      '-> dead letters, dedupe, USD, catalog -> event-time windows -> '
      'Parquet / SQLite / PostgreSQL / Kafka. All Apache Beam flags '
      '(--runner, --streaming, --flink_master, ...) pass through.',
      epilog='Runners: bounded runs default to the in-process FnApiRunner; '
      '--streaming defaults to the local Prism binary '
      '(runners/prism/setup.sh). Pass --runner=FlinkRunner or '
      'DataflowRunner to deploy. See README.md.')
  parser.add_argument('--log_level', default='WARNING',
                      help='Python logging level. (default: WARNING)')
  SalesOptions._add_argparse_args(parser)  # pylint: disable=protected-access
  return parser.format_help()


def _pop_log_level(argv: List[str]) -> str:
  level = 'WARNING'
  rest = []
  skip = False
  for i, arg in enumerate(argv):
    if skip:
      skip = False
      continue
    if arg == '--log_level' and i + 1 < len(argv):
      level, skip = argv[i + 1], True
    elif arg.startswith('--log_level='):
      level = arg.split('=', 1)[1]
    else:
      rest.append(arg)
  argv[:] = rest
  return level.upper()


def preflight(config: SalesConfig) -> None:
  """Checks inputs and reference files before building a graph."""
  load_fx_rates(config.fx_rates)
  load_catalog(config.catalog)
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
                          f'--sink {url}')


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


@dataclasses.dataclass
class RunSummary:
  """The counts a run reports; every record read is accounted for."""
  records_read: int = 0
  valid: int = 0
  duplicates: int = 0
  dead_letters: Dict[str, int] = dataclasses.field(default_factory=dict)
  late: int = 0
  windows: int = 0
  result_rows: int = 0
  state: str = ''
  # False when the runner could not report counters (e.g. gone after Ctrl-C)
  counted: bool = False
  as_of: str = ''

  @property
  def dead_letter_total(self) -> int:
    return sum(self.dead_letters.values())

  def reconciles(self) -> bool:
    return self.records_read == (self.valid + self.dead_letter_total +
                                 self.duplicates + self.late)

  def as_dict(self) -> Dict:
    out = dataclasses.asdict(self)
    out['dead_letter_total'] = self.dead_letter_total
    out['reconciles'] = self.reconciles()
    return out


def summarize(result: beam.runners.runner.PipelineResult) -> RunSummary:
  """Reads the run's counters (namespace `sales`)."""
  summary = RunSummary()
  try:
    summary.state = str(result.state)
    counters = result.metrics().query(
        MetricsFilter().with_namespace(METRICS_NAMESPACE))['counters']
  except Exception as e:  # some runners cannot report after a cancel
    _LOG.info('metrics unavailable: %s', e)
    return summary
  summary.counted = True
  summary.as_of = time.strftime('%H:%M:%S')
  totals: Dict[str, int] = {}
  for counter in counters:
    value = counter.committed if counter.committed is not None else (
        counter.attempted or 0)
    totals[counter.key.metric.name] = totals.get(counter.key.metric.name,
                                                 0) + int(value or 0)
  summary.records_read = totals.get('records_read', 0)
  summary.duplicates = totals.get('duplicates', 0)
  for name, value in totals.items():
    if name == 'dead_letter:late':
      summary.late = value
    elif name.startswith('dead_letter:'):
      summary.dead_letters[name.split(':', 1)[1]] = value
  summary.valid = (totals.get('records_parsed_valid', 0) -
                   summary.duplicates)
  summary.windows = totals.get('windows_final', 0)
  summary.result_rows = totals.get('result_rows', 0)
  return summary


def _top_categories(output_dir: str, window: WindowPolicy,
                    limit: int = 5) -> List[str]:
  """Categories by revenue over the run: the sum of their window rows.

  Sliding windows overlap, so only the windows that start on a multiple of
  the size (they tile the timeline) are summed; when the size is not a
  multiple of the period there is no such tiling and no line.
  """
  from transforms.sinks.files import RESULTS_FILE
  path = os.path.join(output_dir, RESULTS_FILE)
  if not os.path.exists(path):
    return []
  import pyarrow.parquet as pq
  from transforms.records import ALL_CATEGORIES
  tile_ms = 0
  if window.kind == SLIDING:
    if window.size_seconds % window.period_seconds:
      return []
    tile_ms = window.size_seconds * 1000
  table = pq.read_table(path, columns=['window_start', 'category',
                                       'revenue_usd'])
  totals: Dict[str, Any] = {}
  for start, category, revenue in zip(
      table.column('window_start').cast('int64').to_pylist(),
      table.column('category').to_pylist(),
      table.column('revenue_usd').to_pylist()):
    if category != ALL_CATEGORIES and not (tile_ms and start % tile_ms):
      totals[category] = totals.get(category, 0) + revenue
  ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
  return [f'{name} ${value:,.2f}' for name, value in ranked]


def print_summary(summary: RunSummary, config: SalesConfig) -> None:
  if not summary.counted:
    print('counts unavailable: the runner could not report them')
    return
  lines = [] if config.bounded else [
      f'counts as of {summary.as_of} (streaming; the job was cancelled)']
  lines += [
      f'records read      {summary.records_read}',
      f'valid orders      {summary.valid}',
      f'duplicates        {summary.duplicates}',
      f'dead letters      {summary.dead_letter_total}',
  ]
  for reason, count in sorted(summary.dead_letters.items()):
    lines.append(f'  {reason:<28}{count}')
  if not config.bounded:
    lines.append(f'late (dead)       {summary.late}')
  lines.append(f'windows written   {summary.windows}')
  lines.append('accounted for     ' + (
      'yes' if summary.reconciles() else
      'NO: read != valid + dead letters + duplicates + late'))
  if config.output and config.bounded:
    top = _top_categories(config.output, config.window)
    if top:
      lines.append('top categories    ' + ', '.join(top))
    lines.append(f'output            {config.output}/')
  print('\n'.join(lines))


SNAPSHOT_SECONDS = 2


def wait_for_end(result: beam.runners.runner.PipelineResult, bounded: bool,
                 noise: Optional[RunNoiseFilter] = None
                 ) -> Tuple[str, Optional[RunSummary]]:
  """Waits for the run; a streaming run ends on Ctrl-C with a cancel.

  Returns the status recorded in the database sinks' run table, and for a
  streaming run the last counters read while it ran (a terminal's Ctrl-C
  may stop a local runner before it can report them once more).
  """
  if bounded:
    result.wait_until_finish()
    return 'succeeded', None
  snapshot: Optional[RunSummary] = None
  next_snapshot = time.monotonic() + SNAPSHOT_SECONDS
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
        next_snapshot = time.monotonic() + SNAPSHOT_SECONDS
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
  """Parses flags, builds the graph, runs it to the end (or Ctrl-C)."""
  check_flags(argv)
  try:
    config = config_from_options(PipelineOptions(argv))
  except ValueError as e:
    raise UsageError(str(e)) from None
  preflight(config)
  if noise is not None and config.bounded:
    noise.failures_surface()
  sinks = sinks_for(config)  # an unknown --sink URL fails here, before a run
  beam_args = resolve_runner_args(argv, config.bounded)
  options = PipelineOptions(beam_args)
  if not config.bounded:
    options.view_as(StandardOptions).streaming = True
  pipeline = beam.Pipeline(options=options)
  build_sales_graph(pipeline, config, source_for(config), sinks)
  result = pipeline.run()
  if runs_detached(options, config.bounded):
    job_id = getattr(result, 'job_id', lambda: '?')()
    print(f'submitted streaming Dataflow job {job_id}; it runs until '
          f'drained (gcloud dataflow jobs drain {job_id}) or cancelled')
    return RunSummary(state='submitted')
  status, snapshot = wait_for_end(result, config.bounded, noise)
  summary = summarize(result)
  if not summary.counted and snapshot is not None:
    summary = snapshot
  for _, sink in sinks:
    # Database sinks record each run and its counts in pipeline_runs.
    if hasattr(sink, 'finish_run'):
      sink.finish_run(status, summary.as_dict())
  if config.output and config.bounded:
    os.makedirs(config.output, exist_ok=True)
    with open(os.path.join(config.output, SUMMARY_FILE), 'w',
              encoding='utf-8') as f:
      json.dump(summary.as_dict(), f, indent=2, sort_keys=True)
  print_summary(summary, config)
  return summary


_HARMLESS = 'not in a finalizable state'
# How a worker thread reports that the runner's end of a gRPC channel went
# away (Prism stopped, or the job was cancelled).
_CHANNEL_CLOSED = ('StatusCode.UNAVAILABLE', 'StatusCode.CANCELLED',
                   'Socket closed', 'Stream removed')
# A Ctrl-C reaches Prism and this process together; a worker thread may see
# the channel close before our SIGINT handler has run. Such an error waits
# this long for the stop to be marked before it is reported as a failure.
STOP_GRACE_SECONDS = 3.0


class RunNoiseFilter(logging.Filter):
  """Keeps known-harmless runner noise off the terminal.

  - Prism asks every bundle of a stage that uses bundle finalization to
    finalize, including bundles that registered no callback (the SDF's
    split stage); the SDK reports that as an error with a traceback and
    carries on.
  - After a Ctrl-C, workers and job-state readers report their channels
    closing as errors (logged, or raised in Beam's background threads):
    the expected end of the run.
  The SDK worker both logs these (through Beam's job-message stream, on the
  root logger) and prints them to stderr, so the filter guards the root
  handlers, stderr and uncaught errors of threads. Anything else passes
  untouched.
  """

  def __init__(self, grace_s: float = STOP_GRACE_SECONDS) -> None:
    super().__init__()
    self._stopping = threading.Event()
    self._grace_s = grace_s
    self._failures_surface = False

  def stop_requested(self) -> None:
    self._stopping.set()

  def failures_surface(self) -> None:
    """A bounded run: a failing step fails the run, and the CLI reports it
    in one line; Beam's own ERROR record of it (a traceback) then shows only
    with --log_level=DEBUG."""
    self._failures_surface = True

  def _reported_by_cli(self, record: logging.LogRecord) -> bool:
    return (self._failures_surface and record.levelno == logging.ERROR
            and record.exc_info is not None
            and record.name.startswith('apache_beam.runners')
            and not logging.getLogger().isEnabledFor(logging.DEBUG))

  def _after_stop(self, text: str) -> bool:
    """True if text is an error the stop explains; a closed channel waits
    for a stop that is on its way."""
    if self._stopping.is_set():
      return True
    return (any(mark in text for mark in _CHANNEL_CLOSED)
            and self._stopping.wait(self._grace_s))

  def is_noise(self, text: str) -> bool:
    """For writes to stderr: after the stop only the main thread (the CLI's
    own messages) still writes there."""
    return _HARMLESS in text or (
        self._stopping.is_set()
        and threading.current_thread() is not threading.main_thread())

  def filter(self, record: logging.LogRecord) -> bool:
    if record.levelno >= logging.CRITICAL:
      return True
    if self._reported_by_cli(record):
      return False
    text = record.getMessage()
    if record.exc_info:
      text += str(record.exc_info[1])
    return _HARMLESS not in text and not self._after_stop(text)

  def thread_error(self, args: threading.ExceptHookArgs) -> None:
    """threading.excepthook: a background thread's error, unless the stop
    explains it."""
    if self._after_stop(f'{args.exc_type.__name__}: {args.exc_value}'):
      _LOG.debug('background thread %s ended after the stop: %s',
                 getattr(args.thread, 'name', '?'), args.exc_value)
      return
    threading.__excepthook__(args)


class _FilteredStream:
  """stderr, minus the writes RunNoiseFilter calls noise."""

  def __init__(self, stream: Any, noise: RunNoiseFilter) -> None:
    self._stream = stream
    self._noise = noise

  def write(self, text: str) -> int:
    if self._noise.is_noise(text):
      return len(text)
    return self._stream.write(text)

  def __getattr__(self, name: str) -> Any:
    return getattr(self._stream, name)


def configure_logging(level: str) -> RunNoiseFilter:
  noise = RunNoiseFilter()
  terminal = sys.stderr
  sys.stderr = _FilteredStream(terminal, noise)
  # Log records pass through the filter below; only direct writes to
  # stderr (a thread's traceback, say) go through the filtered stream.
  logging.basicConfig(
      stream=terminal,
      level=getattr(logging, level, logging.WARNING),
      format='%(asctime)s %(levelname)s %(name)s: %(message)s')
  for handler in logging.getLogger().handlers:
    handler.addFilter(noise)
  threading.excepthook = noise.thread_error
  return noise


def main(argv: Optional[List[str]] = None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  if '-h' in argv or '--help' in argv:
    print(help_text())
    return 0
  noise = configure_logging(_pop_log_level(argv))
  try:
    build_and_run(argv, noise)
  except (UsageError, SinkUrlError) as e:
    print(f'error: {e}', file=sys.stderr)
    return EXIT_USAGE
  except (InputError, ConfigFileError, RunnerSetupError, ValueError) as e:
    print(f'error: {e}', file=sys.stderr)
    return EXIT_FAILED
  except KeyboardInterrupt:
    print('stopped', file=sys.stderr)
    return 130
  except Exception as e:  # a failed run: one line, details in the log
    _LOG.debug('pipeline failed', exc_info=True)
    first = str(e).strip().splitlines()[0] if str(e).strip() else repr(e)
    print(f'error: pipeline failed: {first[:300]} '
          '(rerun with --log_level=DEBUG for details)', file=sys.stderr)
    return EXIT_FAILED
  return 0
