"""Beam pipeline arguments for running on Spark, without network at run time.

Stdlib only. Every argument list pins ``--spark_job_server_jar`` (and the
matching ``--beam_services`` entry) to the jar that ``runners/spark/setup.sh``
assembled in the cache, so Beam never tries to download a job server.

    from runners.spark import spark_options
    args = spark_options.local_args()            # Spark inside the job server, local[2]
    args = spark_options.cluster_args()          # runners/spark/cluster.sh's master

Environments (where the Python user code runs):
  LOOPBACK  inside the submitting Python process (local masters only); its
            worker pool listens on 127.0.0.1 (runners.loopback.SparkRunner)
  EXTERNAL  in the worker pool started by runners/spark/cluster.sh
  PROCESS   a subprocess per executor, started by the Spark executor through
            runners/flink/sdk_boot.sh (the project's venv; no Docker)
"""

import json
from pathlib import Path

from runners import portable_options
from runners.flink.flink_options import BOOT_COMMAND

SETUP_SCRIPT = "runners/spark/setup.sh"
RUNNER = "runners.loopback.SparkRunner"
DEFAULT_LOCAL_MASTER = "local[2]"
DEFAULT_MASTER_PORT = 7177
DEFAULT_MASTER = "spark://127.0.0.1:%d" % DEFAULT_MASTER_PORT
DEFAULT_WORKER_POOL = "localhost:50100"
# The gradle target Beam's Python SparkRunner would resolve (and download).
GRADLE_TARGET = ":runners:spark:3:job-server:shadowJar"
# JVM properties of the job server (and so of Spark's driver inside it):
# SparkConf reads every spark.* system property.
DRIVER_PROPERTIES = [
    # the driver's web UI only on loopback (SPARK_LOCAL_IP is set as well)
    "-Dspark.driver.host=127.0.0.1",
    "-Dspark.driver.bindAddress=127.0.0.1",
]


class SparkSetupError(RuntimeError):
  """The Spark job server / jars are not in the cache."""


JOB_SERVER = portable_options.JobServerCache(
    "spark", "Spark", SparkSetupError, SETUP_SCRIPT,
    "it assembles it from Maven Central and PyPI into the cache")
cache_dir = JOB_SERVER.directory  # ${SALES_CACHE:-~/.cache/sales-pipeline}/spark
installed_versions = JOB_SERVER.versions  # setup.sh's versions.env
find_job_server_jar = JOB_SERVER.jar  # raises SparkSetupError if setup.sh has not run


def environment_args(environment: str, worker_pool: str = DEFAULT_WORKER_POOL) -> list:
  """Args selecting where the Python SDK harness runs."""
  return portable_options.environment_args(environment, worker_pool, BOOT_COMMAND)


def event_log_dir(master: str) -> Path:
  """Where cluster.sh's history server reads event logs for ``master``
  (its default SPARK_CLUSTER_DIR)."""
  port = master.rstrip("/").rsplit(":", 1)[-1]
  return cache_dir() / ("cluster-%s" % port) / "events"


def _base_args(master: str, job_server_jar: str = None, streaming: bool = False) -> list:
  jar = job_server_jar or find_job_server_jar()
  args = [
      "--runner=%s" % RUNNER,
      "--spark_version=3",
      "--spark_master_url=%s" % master,
      "--spark_job_server_jar=%s" % jar,
      "--beam_services=%s" % json.dumps({GRADLE_TARGET: jar}),
  ]
  args += ["--job_server_jvm_properties=%s" % p for p in DRIVER_PROPERTIES]
  if streaming:
    args.append("--streaming")
  return args


def local_args(master: str = DEFAULT_LOCAL_MASTER, job_server_jar: str = None,
               streaming: bool = False, environment: str = "LOOPBACK") -> list:
  """Spark inside the job server JVM (``local[N]``)."""
  return _base_args(master, job_server_jar, streaming) + environment_args(environment)


def cluster_args(master: str = DEFAULT_MASTER, worker_pool: str = DEFAULT_WORKER_POOL,
                 environment: str = "EXTERNAL", job_server_jar: str = None,
                 streaming: bool = False, job_name: str = None,
                 events_dir: str = None) -> list:
  """A standalone Spark master and worker (runners/spark/cluster.sh start).

  The job server runs locally as the Spark driver and asks ``master`` for
  executors on the worker. Its event log goes to ``events_dir`` (default:
  cluster.sh's, when it exists), where the history server finds it. LOOPBACK is not offered: the executors are other
  processes, and a cluster job must not depend on the submitter's pool.
  """
  if environment.upper() == "LOOPBACK":
    raise ValueError("LOOPBACK is for local masters; use EXTERNAL (cluster.sh's worker pool) "
                     "or PROCESS on a cluster")
  args = (_base_args(master, job_server_jar, streaming)
          + environment_args(environment, worker_pool=worker_pool))
  # What the executors fetch from the driver: Beam's runner classes only.
  # Unset, the job server stages its whole class path, which names every
  # Spark jar the worker already has (255 files, 420 MB per executor).
  args.append("--files_to_stage=%s" % (job_server_jar or find_job_server_jar()))
  events = Path(events_dir) if events_dir else event_log_dir(master)
  if events.is_dir():  # the history server lists the finished application
    args += ["--job_server_jvm_properties=-Dspark.eventLog.enabled=true",
             "--job_server_jvm_properties=-Dspark.eventLog.dir=%s" % events.resolve().as_uri()]
  if job_name:
    args.append("--job_name=%s" % job_name)
  return args


if __name__ == "__main__":  # `python runners/spark/spark_options.py [local|cluster]`
  import sys
  mode = sys.argv[1] if len(sys.argv) > 1 else "local"
  print(" ".join(local_args() if mode == "local" else cluster_args()))
