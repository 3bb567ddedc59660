"""`python -m pipeline`: flags in, pipeline run, a short summary out.

Errors a user can fix (a bad flag, a missing file, an unknown format, a
runner that is not set up) end with one line on stderr and a non-zero exit,
never a traceback. The summary is the CLI's user-facing output; everything
else goes through logging.
"""
from __future__ import annotations

import logging
import sys
from typing import List, Optional

from pipelines.flags import UsageError, help_text, pop_log_level
from pipelines.quality import EXIT_QUALITY, QualityGateFailed
from pipelines.reachability import Unreachable
from pipelines.run import build_and_run
from pipelines.terminal import configure_logging
from pipelines.wiring import SinkUrlError
from runners.local import RunnerSetupError
from runners.loopback import bind_grpc_servers_to_loopback
from transforms.currency import ConfigFileError
from transforms.redact import redact_text
from transforms.sources.files import InputError

_LOG = logging.getLogger('pipeline')

EXIT_USAGE = 2
EXIT_FAILED = 1


def fail(message: str, code: int) -> int:
  """Prints one error line (with any URL password or secret setting
  hidden: messages may echo what a user typed) and returns the exit code."""
  print(f'error: {redact_text(message)}', file=sys.stderr)
  return code


def main(argv: Optional[List[str]] = None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  if '-h' in argv or '--help' in argv:
    print(help_text())
    return 0
  noise = configure_logging(pop_log_level(argv))
  bind_grpc_servers_to_loopback()  # docs/security.md, "Loopback only"
  try:
    build_and_run(argv, noise)
  except QualityGateFailed as e:
    return fail(str(e), EXIT_QUALITY)
  except (UsageError, SinkUrlError) as e:
    return fail(str(e), EXIT_USAGE)
  except (InputError, ConfigFileError, RunnerSetupError, Unreachable,
          ValueError) as e:
    return fail(str(e), EXIT_FAILED)
  except KeyboardInterrupt:
    print('stopped', file=sys.stderr)
    return 130
  except Exception as e:  # a failed run: one line, details in the log
    _LOG.debug('pipeline failed', exc_info=True)
    first = str(e).strip().splitlines()[0] if str(e).strip() else repr(e)
    return fail(f'pipeline failed: {redact_text(first)[:300]} '
                '(rerun with --log_level=DEBUG for details)', EXIT_FAILED)
  return 0
