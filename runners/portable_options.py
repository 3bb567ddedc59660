"""What the Flink and Spark argument builders share (stdlib only): the
cached job server jar and its ``versions.env``, and the SDK harness
environment flags."""

import json
import os
from pathlib import Path
from typing import Type

from runners import cache


class JobServerCache:
  """A runner's folder in the setup cache: the job server jar its setup.sh
  put there, and the versions it wrote to ``versions.env``.

  runner: the folder and the jar override variable (``<RUNNER>_JOB_SERVER_JAR``).
  title: the runner's name in messages; error: raised when the jar is missing;
  setup_script, how: the script to run, and what it does.
  """

  def __init__(self, runner: str, title: str, error: Type[Exception],
               setup_script: str, how: str) -> None:
    self.runner = runner
    self.title = title
    self.error = error
    self.setup_script = setup_script
    self.how = how

  def directory(self) -> Path:
    """``${SALES_CACHE:-~/.cache/sales-pipeline}/<runner>``."""
    return cache.cache_dir() / self.runner

  def versions(self) -> dict:
    """The key=value pairs setup.sh wrote to ``versions.env`` ({} if none)."""
    out = {}
    f = self.directory() / "versions.env"
    if f.is_file():
      for line in f.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
          k, v = line.split("=", 1)
          out[k.strip()] = v.strip().strip('"')
    return out

  def jar(self) -> str:
    """Path of the cached job server jar (or the one the override variable
    names); raises ``error`` if setup.sh has not run."""
    override = os.environ.get("%s_JOB_SERVER_JAR" % self.runner.upper())
    candidates = [Path(override)] if override else []
    candidates.append(self.directory() / "job-server.jar")
    for c in candidates:
      if c.is_file():
        return str(c.resolve())
    raise self.error(
        "Beam's %s job server jar is missing (looked at %s). Run `%s` first "
        "(%s; Beam is never allowed to download it at run time)."
        % (self.title, ", ".join(map(str, candidates)), self.setup_script,
           self.how))


# How long a PROCESS harness outlives its last bundle. Beam's default, 0,
# stops it when a task ends, so each task of each stage starts a new Python
# process (a few seconds of imports each); kept, the next task reuses it.
PROCESS_CACHE_MS = 30_000


def environment_args(environment: str, worker_pool: str,
                     boot_command: str) -> list:
  """Args selecting where the Python SDK harness runs."""
  env = environment.upper()
  if env == "LOOPBACK":
    return ["--environment_type=LOOPBACK"]
  if env == "EXTERNAL":
    return ["--environment_type=EXTERNAL", "--environment_config=%s" % worker_pool]
  if env == "PROCESS":
    return ["--environment_type=PROCESS",
            "--environment_config=%s" % json.dumps({"command": boot_command}),
            "--environment_cache_millis=%d" % PROCESS_CACHE_MS]
  raise ValueError("environment must be LOOPBACK, EXTERNAL or PROCESS (no Docker here), not %r" % environment)
