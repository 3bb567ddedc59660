"""Local runner choice: never download anything at run time.

- Bounded run, no --runner given: Beam's FnApiRunner, in process. (Beam's
  DirectRunner would first try to download Prism from the internet.)
- Unbounded run, no --runner given: PrismRunner, Beam's portable local
  runner, from the binary that runners/prism/setup.sh built.
- --runner=PrismRunner or DirectRunner without --prism_location: the same
  local binary is passed, so Beam does not fetch one.
- PrismRunner (default or given) runs as runners.loopback.PrismRunner:
  Beam's, with its LOOPBACK worker pool on 127.0.0.1 instead of every
  interface (docs/security.md, "Loopback only").
Any other runner (FlinkRunner, DataflowRunner, ...) passes through as given.
"""
from __future__ import annotations

import pathlib
from typing import List, Optional

from runners.cache import cache_dir

BEAM_VERSION = '2.77.0'
_PRISM_RUNNERS = ('prismrunner', 'directrunner')
LOOPBACK_PRISM_RUNNER = 'runners.loopback.PrismRunner'


class RunnerSetupError(RuntimeError):
  """A runner needs something the project's setup has not put in place."""


def prism_binary() -> Optional[pathlib.Path]:
  # '-patched-4': built by runners/prism/setup.sh with its patches (job
  # service on 127.0.0.1, docs/security.md; split bundles keep their keys,
  # docs/running.md; no empty bundles for a stage with nothing pending, a
  # stateful stage runs on data beside complete side inputs, docs/running.md);
  # older builds in other folders are not used.
  path = cache_dir() / 'prism' / f'v{BEAM_VERSION}-patched-4' / 'prism'
  return path if path.is_file() else None


def _flag_value(args: List[str], name: str) -> Optional[str]:
  for i, arg in enumerate(args):
    if arg == name and i + 1 < len(args):
      return args[i + 1]
    if arg.startswith(name + '='):
      return arg.split('=', 1)[1]
  return None


def resolve_runner_args(beam_args: List[str], bounded: bool) -> List[str]:
  """Returns beam_args with an offline runner chosen and located."""
  args = list(beam_args)
  runner = _flag_value(args, '--runner')
  if runner is None:
    runner = 'FnApiRunner' if bounded else 'PrismRunner'
    args.append(f'--runner={runner}')
  short = runner.rsplit('.', 1)[-1].lower()
  if short in _PRISM_RUNNERS and _flag_value(args, '--prism_location') is None:
    binary = prism_binary()
    if binary is None:
      if short == 'prismrunner':
        raise RunnerSetupError(
            'the Prism runner is not built; run runners/prism/setup.sh')
      # DirectRunner without Prism: skip the download attempt and use the
      # in-process runners it would fall back to anyway (argparse keeps the
      # last --runner).
      args.append('--runner=FnApiRunner' if bounded else
                  '--runner=BundleBasedDirectRunner')
    else:
      args.append(f'--prism_location={binary}')
  if short == 'prismrunner' and _flag_value(args, '--environment_type') is None:
    # Python workers run in this process's machine, no Docker.
    args.append('--environment_type=LOOPBACK')
  if short == 'prismrunner' and runner != LOOPBACK_PRISM_RUNNER:
    # The same runner; its LOOPBACK worker pool listens on loopback only.
    args.append(f'--runner={LOOPBACK_PRISM_RUNNER}')
  return args
