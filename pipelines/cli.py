"""`python -m pipeline`: flags in, pipeline run, a short summary out.

Errors a user can fix (a bad flag, a missing file, an unknown format, a
runner that is not set up) end with one line on stderr and a non-zero exit,
never a traceback. The summary is the CLI's user-facing output; everything
else goes through logging.
"""
from __future__ import annotations

import atexit
import gc
import logging
import os
import sys
from typing import List, NoReturn, Optional

from pipelines.allocator import reuse_freed_memory
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
  reuse_freed_memory()  # docs/performance.md, "Third round"
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


def run_as_program() -> NoReturn:
  """`python -m pipeline`: main(), then the process ends without tearing
  down native libraries.

  After a streaming run is cancelled, the runner's worker threads (daemon
  threads in this process) may still be inside gRPC or Arrow code; the C++
  static destructors that a normal interpreter exit runs then race them and
  abort the process ("terminate called without an active exception", or a
  segfault) after the summary was printed. So the exit is the last exit
  handler: every other one (Beam stopping its Prism process, logging) runs
  first, then os._exit ends the process with main()'s code.
  """
  code = [EXIT_FAILED]  # if main() itself dies of an uncaught error

  def end_process() -> None:
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
      try:
        stream.flush()
      except (OSError, ValueError):
        pass  # a closed pipe: nothing more can be said
    os._exit(code[0])  # pylint: disable=protected-access

  atexit.register(end_process)  # registered first, so it runs last
  # The objects the imports made (Beam's modules: most of the heap) live
  # until the process ends; frozen, no collection during the run traverses
  # them again (docs/performance.md, "Fifth round").
  gc.freeze()
  code[0] = main()
  sys.exit(code[0])
