"""Beam pipeline arguments for running on Flink, without network at run time.

Dependency-free (stdlib only). Every argument list pins
``--flink_job_server_jar`` (and the matching ``--beam_services`` entry) to the
jar that ``runners/flink/setup.sh`` put in the cache, so Beam never tries to
download a job server.

    from runners.flink import flink_options
    args = flink_options.local_args()                       # embedded MiniCluster
    args = flink_options.cluster_args(streaming=True, checkpoint_ms=10_000)
    args = flink_options.local_args(streaming=True, checkpoint_ms=5_000,
                                    checkpoint_dir="output/flink-checkpoints")

Environments (where the Python user code runs):
  LOOPBACK  inside the submitting Python process; only with [local]/[auto]
  EXTERNAL  in a worker pool started by runners/flink/cluster.sh (port 50000)
  PROCESS   a subprocess per worker, started by the Flink TaskManager (or the
            job server's MiniCluster) through runners/flink/sdk_boot.sh
"""

import json
from pathlib import Path

from runners import portable_options

HERE = Path(__file__).resolve().parent
SETUP_SCRIPT = "runners/flink/setup.sh"
DEFAULT_FLINK_VERSION = "1.19"
DEFAULT_MASTER = "localhost:8081"
DEFAULT_WORKER_POOL = "localhost:50000"
BOOT_COMMAND = str(HERE / "sdk_boot.sh")


# With checkpointing, always finish bundles before the barrier. Otherwise a
# bundle still open when a checkpoint starts is finished inside the snapshot:
# its outputs go to a buffer in operator state that is flushed only when the
# next element or watermark reaches the operator, while the watermark is sent
# on at once. Behind an Impulse (which sends one element, then MAX_WATERMARK,
# then idles forever) the buffer is never flushed: the Kafka source's
# partition list stayed in it and the job read nothing, with every watermark
# at +inf (Beam 2.62 DoFnOperator.snapshotState/ExecutableStageDoFnOperator
# finishBundleCallback; README, Deploy to Flink).
FINISH_BUNDLE_FLAG = "--finish_bundle_before_checkpointing"

# Streaming bundles end after this many milliseconds (Flink's default: 1000).
# Every fused stage hands its output on only when its bundle ends, and a
# record crosses several stages before the sink, so the bundle time adds up
# along the way. Flink [local], 500k events produced live, 1 s early firings
# (docs/performance.md, session 14): 1000 ms gave p50/p99 freshness
# 3.5/4.9 s at 23.3k events/s, 250 ms 1.6/2.0 s at 23.1k, 100 ms 1.5/1.9 s
# at 22.1k. A user's own --max_bundle_time_mills wins (runners/flink/run.py).
BUNDLE_TIME_FLAG = "--max_bundle_time_mills"
STREAMING_BUNDLE_MS = 250


class FlinkSetupError(RuntimeError):
  """The Flink job server / distribution is not in the cache."""


JOB_SERVER = portable_options.JobServerCache(
    "flink", "Flink", FlinkSetupError, SETUP_SCRIPT,
    "it fetches it from Maven Central into the cache")
cache_dir = JOB_SERVER.directory  # ${SALES_CACHE:-~/.cache/sales-pipeline}/flink
installed_versions = JOB_SERVER.versions  # setup.sh's versions.env
find_job_server_jar = JOB_SERVER.jar  # raises FlinkSetupError if setup.sh has not run


def flink_version() -> str:
  """The Flink minor version the cached job server was built for."""
  return installed_versions().get("FLINK_MINOR", DEFAULT_FLINK_VERSION)


def _base_args(job_server_jar, parallelism, streaming, checkpoint_ms,
               shutdown_sources_after_idle_ms=None, extra_flink_version=None,
               checkpoint_dir=None, bundle_ms=STREAMING_BUNDLE_MS):
  jar = job_server_jar or find_job_server_jar()
  version = extra_flink_version or flink_version()
  args = [
      "--runner=FlinkRunner",
      "--flink_version=%s" % version,
      "--flink_job_server_jar=%s" % jar,
      # Belt and braces: the gradle target Beam would otherwise resolve (and
      # download) for this Flink version maps to the same local jar.
      "--beam_services=%s" % json.dumps(
          {":runners:flink:%s:job-server:shadowJar" % version: jar}),
  ]
  if parallelism:
    args.append("--parallelism=%d" % parallelism)
  if streaming:
    args.append("--streaming")
    if bundle_ms:
      args.append("%s=%d" % (BUNDLE_TIME_FLAG, bundle_ms))
  if checkpoint_ms:
    args.append("--checkpointing_interval=%d" % checkpoint_ms)
    args.append(FINISH_BUNDLE_FLAG)
  if checkpoint_dir:
    # Heap state, checkpoints as files: <dir>/<job id>/chk-<n>/_metadata
    # appears when checkpoint n completes. Without it a [local] job keeps its
    # checkpoints in the JobManager's memory (5 MB limit per state handle).
    args += ["--state_backend=filesystem",
             "--state_backend_storage_path=%s" % Path(checkpoint_dir).resolve().as_uri()]
  if shutdown_sources_after_idle_ms is not None:
    # With checkpointing on, Beam keeps finished sources alive (default -1) so
    # a bounded streaming job never ends unless this is set.
    args.append("--shutdown_sources_after_idle_ms=%d" % shutdown_sources_after_idle_ms)
  return args


def environment_args(environment: str, worker_pool: str = DEFAULT_WORKER_POOL,
                     boot_command: str = BOOT_COMMAND) -> list:
  """Args selecting where the Python SDK harness runs."""
  return portable_options.environment_args(environment, worker_pool, boot_command)


def local_args(job_server_jar: str = None, streaming: bool = False, checkpoint_ms: int = None,
               parallelism: int = 1, environment: str = "LOOPBACK",
               shutdown_sources_after_idle_ms: int = None,
               checkpoint_dir: str = None, bundle_ms: int = STREAMING_BUNDLE_MS) -> list:
  """Flink's embedded MiniCluster inside the job server JVM (``[local]``)."""
  return (_base_args(job_server_jar, parallelism, streaming, checkpoint_ms,
                     shutdown_sources_after_idle_ms, checkpoint_dir=checkpoint_dir,
                     bundle_ms=bundle_ms)
          + ["--flink_master=[local]"] + environment_args(environment))


def cluster_args(master: str = DEFAULT_MASTER, worker_pool: str = DEFAULT_WORKER_POOL,
                 streaming: bool = False, checkpoint_ms: int = None, parallelism: int = None,
                 environment: str = "EXTERNAL", job_server_jar: str = None,
                 job_name: str = None, shutdown_sources_after_idle_ms: int = None,
                 bundle_ms: int = STREAMING_BUNDLE_MS) -> list:
  """A standalone Flink session cluster (runners/flink/cluster.sh start).

  The job server runs locally and submits to ``master`` over Flink's REST
  API. LOOPBACK is not offered here: the TaskManager is a different process
  from the submitter, and a cluster job must not depend on the submitter.
  """
  if environment.upper() == "LOOPBACK":
    raise ValueError("LOOPBACK needs the submitting process to live as long as the job; "
                     "use EXTERNAL (cluster.sh's worker pool) or PROCESS on a cluster")
  args = (_base_args(job_server_jar, parallelism, streaming, checkpoint_ms,
                     shutdown_sources_after_idle_ms, bundle_ms=bundle_ms)
          + ["--flink_master=%s" % master]
          + environment_args(environment, worker_pool=worker_pool))
  if job_name:
    args.append("--job_name=%s" % job_name)
  return args


if __name__ == "__main__":  # `python runners/flink/flink_options.py [local|cluster]`
  import sys
  mode = sys.argv[1] if len(sys.argv) > 1 else "local"
  print(" ".join(local_args() if mode == "local" else cluster_args()))
