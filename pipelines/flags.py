"""The command line's flags: the strict check of a run's flags, the --help
text, and --log_level, which is the CLI's own flag and never reaches Beam.
"""
from __future__ import annotations

import argparse
import logging
import pathlib
from typing import Any, Dict, List, Sequence

from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.options import PROJECT_ROOT, UNSET_MEANS, SalesOptions

_LOG = logging.getLogger('pipeline')


class UsageError(ValueError):
  """A flag is unknown or has a bad value."""


class StrictParser(argparse.ArgumentParser):
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
  parser = StrictParser(add_help=False, allow_abbrev=False)
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


def shown_default(action: argparse.Action) -> str:
  """A flag's default as --help shows it: the value the parser holds, in
  words, or what an unset flag means (options.UNSET_MEANS)."""
  if action.dest in UNSET_MEANS:
    return UNSET_MEANS[action.dest]
  return _in_words(action.default)


def _in_words(value: Any) -> str:
  if value is False:
    return 'off'  # a store_true flag not given
  if value is True:
    return 'on'
  if value is None or value == '':
    return 'none'
  if isinstance(value, (list, tuple)):
    return ', '.join(_in_words(v) for v in value) or 'none'
  if isinstance(value, float) and value.is_integer():
    return str(int(value))  # 300, not 300.0
  if isinstance(value, str) and pathlib.Path(value).is_absolute():
    path = pathlib.Path(value)
    if path.is_relative_to(PROJECT_ROOT):  # data/catalog.csv, not /home/...
      return str(path.relative_to(PROJECT_ROOT))
  return str(value)


class DefaultsHelpFormatter(argparse.HelpFormatter):
  """Ends each flag's help with its default, as shown_default words it."""

  def _get_help_string(self, action: argparse.Action) -> str:
    if (not action.option_strings or not action.help
        or action.default is argparse.SUPPRESS):
      return action.help
    shown = shown_default(action).replace('%', '%%')  # help is %-formatted
    return f'{action.help} (default: {shown})'


def help_text() -> str:
  parser = argparse.ArgumentParser(
      prog='python -m pipeline',
      formatter_class=DefaultsHelpFormatter,
      description='Sales pipeline: order events from files, Kafka or Pub/Sub '
      '-> dead letters, dedupe, USD, catalog -> event-time windows -> '
      'Parquet / SQLite / PostgreSQL / Kafka. All Apache Beam flags '
      '(--runner, --streaming, --flink_master, ...) pass through.',
      epilog='Runners: bounded runs default to the in-process FnApiRunner; '
      '--streaming defaults to the local Prism binary '
      '(runners/prism/setup.sh). Pass --runner=FlinkRunner or '
      'DataflowRunner to deploy. See README.md.')
  parser.add_argument('--log_level', default='WARNING',
                      help='Python logging level.')
  SalesOptions._add_argparse_args(parser)  # pylint: disable=protected-access
  return parser.format_help()


def pop_log_level(argv: List[str]) -> str:
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
