"""Flink infrastructure, proven with toy pipelines (independent of the product
pipeline): Beam's FlinkRunner on the embedded MiniCluster ([local]) and on a
standalone JobManager + TaskManager started by runners/flink/cluster.sh.

Needs `runners/flink/setup.sh` to have run (skips otherwise, unless
FLINK_REQUIRED=1, where a missing setup fails the test).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from runners.flink import flink_options

pytestmark = [pytest.mark.flink, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
CLUSTER_SH = REPO / "runners" / "flink" / "cluster.sh"
WORDS = "the quick brown fox jumps over the lazy dog the fox".split()
EXPECTED = {"the": 3, "fox": 2, "quick": 1, "brown": 1, "jumps": 1, "over": 1, "lazy": 1, "dog": 1}

# The toy pipeline runs in a child interpreter: FlinkRunner starts a job server
# JVM and (for LOOPBACK) a worker in-process, which we keep out of pytest.
TOY = r'''
import sys
import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
out, words = sys.argv[1], sys.argv[2].split(",")
with beam.Pipeline(options=PipelineOptions(sys.argv[3:])) as p:
    (p | "CreateWords" >> beam.Create(words)
       | "CountWords" >> beam.combiners.Count.PerElement()
       | "FormatCounts" >> beam.MapTuple(lambda w, n: "%s\t%d" % (w, n))
       | "WriteCounts" >> beam.io.WriteToText(out, shard_name_template=""))
'''

STREAMING_TOY = r'''
import sys, time
import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms.periodicsequence import PeriodicImpulse
from apache_beam.transforms import window
out = sys.argv[1]
start = time.time()
class AppendLine(beam.DoFn):
    # LOOPBACK runs this in the submitting process: a plain append is enough
    # for a toy (WriteToText's windowed file naming is not under test here).
    def process(self, kv, w=beam.DoFn.WindowParam):
        with open(out, "a") as f:
            f.write("%d\t%d\n" % (int(w.start), kv[1]))
with beam.Pipeline(options=PipelineOptions(sys.argv[2:])) as p:
    (p | "Tick" >> PeriodicImpulse(start_timestamp=start, stop_timestamp=start + 6,
                                   fire_interval=0.5, apply_windowing=False)
       | "Window5s" >> beam.WindowInto(window.FixedWindows(5))
       | "One" >> beam.Map(lambda _: ("ticks", 1))
       | "CountPerWindow" >> beam.CombinePerKey(sum)
       | "Append" >> beam.ParDo(AppendLine()))
'''


def _require_setup():
  try:
    return flink_options.find_job_server_jar()
  except flink_options.FlinkSetupError as e:
    if os.environ.get("FLINK_REQUIRED") == "1":
      pytest.fail(str(e))
    pytest.skip(str(e))


def _run_toy(tmp_path, script, out_name, args, script_args=(), timeout=420):
  out = tmp_path / out_name
  src = tmp_path / ("toy_%s.py" % out_name.replace(".", "_"))
  src.write_text(script)
  cmd = [sys.executable, str(src), str(out), *script_args, *args]
  t0 = time.monotonic()
  # Own process group: on a time-out the job server JVM that Beam started is
  # killed with the pipeline process instead of being orphaned.
  proc = subprocess.Popen(cmd, cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, start_new_session=True)
  try:
    _, stderr = proc.communicate(timeout=timeout)
  except subprocess.TimeoutExpired:
    os.killpg(proc.pid, signal.SIGKILL)
    _, stderr = proc.communicate()
    pytest.fail("toy pipeline timed out after %ds:\n%s" % (timeout, stderr[-6000:]))
  elapsed = time.monotonic() - t0
  assert proc.returncode == 0, "toy pipeline failed (%.0fs):\n%s" % (elapsed, stderr[-6000:])
  print("toy pipeline %s took %.1fs" % (out_name, elapsed))
  return out, elapsed


def _read_counts(path):
  counts = {}
  for line in path.read_text().splitlines():
    w, n = line.split("\t")
    counts[w] = counts.get(w, 0) + int(n)
  return counts


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _rest(port, path):
  with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
    return json.load(r)


def _check_ticks(out):
  rows = [line.split("\t") for line in out.read_text().splitlines()] if out.exists() else []
  assert rows, "no windows written"
  # 0, 0.5, ..., 6 s: 12 or 13 ticks depending on whether the stop instant
  # itself is reached before the source checks it.
  assert sum(int(n) for _, n in rows) in (12, 13), rows
  starts = [int(s) for s, _ in rows]
  assert len(starts) == len(set(starts)), "more than one pane per window: %s" % rows


# ------------------------------------------------------------------- cluster

@pytest.fixture(scope="module")
def flink_cluster(tmp_path_factory):
  _require_setup()
  rest_port, pool_port, rpc_port = _free_port(), _free_port(), _free_port()
  env = dict(os.environ, FLINK_REST_PORT=str(rest_port), BEAM_WORKER_POOL_PORT=str(pool_port),
             FLINK_RPC_PORT=str(rpc_port),
             FLINK_CLUSTER_DIR=str(tmp_path_factory.mktemp("flink-cluster")))
  t0 = time.monotonic()
  start = subprocess.run(["bash", str(CLUSTER_SH), "start"], env=env, capture_output=True,
                         text=True, timeout=300)
  try:
    assert start.returncode == 0, "cluster.sh start failed:\n%s\n%s" % (start.stdout, start.stderr)
    print("cluster start took %.1fs" % (time.monotonic() - t0))
    overview = _rest(rest_port, "/overview")
    assert overview["taskmanagers"] == 1 and overview["slots-total"] >= 1, overview
    yield {"rest_port": rest_port, "pool_port": pool_port, "env": env}
  finally:
    stop = subprocess.run(["bash", str(CLUSTER_SH), "stop"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert stop.returncode == 0, stop.stderr
    status = subprocess.run(["bash", str(CLUSTER_SH), "status"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert status.returncode != 0, "cluster still running after stop:\n" + status.stdout


def _check_finished_job(rest_port, job_name):
  jobs = [j for j in _rest(rest_port, "/jobs/overview")["jobs"] if j["name"] == job_name]
  assert jobs, "job %s not in /jobs/overview" % job_name
  assert jobs[-1]["state"] == "FINISHED", jobs
  detail = _rest(rest_port, "/jobs/%s" % jobs[-1]["jid"])
  names = " | ".join(v["name"] for v in detail["vertices"])
  # Beam's transform labels show up in Flink's operator names.
  for label in ("CreateWords", "CountWords", "WriteCounts"):
    assert label in names, names
  assert all(v["status"] == "FINISHED" for v in detail["vertices"]), detail["vertices"]


@pytest.mark.slow
def test_toy_wordcount_on_cluster_process(flink_cluster, tmp_path):
  """Standalone cluster + PROCESS environment (the TaskManager runs sdk_boot.sh)."""
  port = flink_cluster["rest_port"]
  args = flink_options.cluster_args(master="localhost:%d" % port, environment="PROCESS",
                                    job_name="toy-wordcount-process")
  out, _ = _run_toy(tmp_path, TOY, "counts.txt", args, [",".join(WORDS)])
  assert _read_counts(out) == EXPECTED
  _check_finished_job(port, "toy-wordcount-process")
