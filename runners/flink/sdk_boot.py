#!/usr/bin/env python
"""Boot command for Beam's PROCESS environment, without Docker or Go.

Beam's Python SDK container ships a Go `boot` binary that the runner starts
with ``--id --provision_endpoint --logging_endpoint --artifact_endpoint
--control_endpoint [--semi_persist_dir]``. It asks the provision service for
the pipeline options and endpoints, fetches the staged artifacts, and runs
``python -m apache_beam.runners.worker.sdk_worker_main``. This file does the
same with the interpreter that runs it (the project's venv, where the
pipeline's packages are already installed):

    --environment_type=PROCESS
    --environment_config='{"command": "/abs/path/runners/flink/sdk_boot.sh"}'

Staged files (e.g. ``pickled_main_session``) are fetched into
``<semi_persist_dir>/staged``; staged packages (wheels, sdists, requirements)
are not pip-installed: the venv must already have them.
"""

import argparse
import logging
import os
import sys
import tempfile

import grpc
from google.protobuf import json_format
from google.protobuf import text_format

from apache_beam.portability.api import beam_artifact_api_pb2
from apache_beam.portability.api import beam_artifact_api_pb2_grpc
from apache_beam.portability.api import beam_provision_api_pb2
from apache_beam.portability.api import beam_provision_api_pb2_grpc
from apache_beam.portability.api import beam_runner_api_pb2
from apache_beam.portability.api import endpoints_pb2

_LOG = logging.getLogger("sdk_boot")


def _descriptor(url):
  return text_format.MessageToString(endpoints_pb2.ApiServiceDescriptor(url=url))


def _fetch_artifacts(endpoint, worker_id, deps, dest):
  if not deps:
    return
  os.makedirs(dest, exist_ok=True)
  md = [("worker_id", worker_id)]
  with grpc.insecure_channel(endpoint) as ch:
    stub = beam_artifact_api_pb2_grpc.ArtifactRetrievalServiceStub(ch)
    resolved = stub.ResolveArtifacts(
        beam_artifact_api_pb2.ResolveArtifactsRequest(artifacts=deps), metadata=md).replacements
    for dep in resolved:
      name = None
      if dep.role_urn == "beam:artifact:role:staging_to:v1":
        name = beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(dep.role_payload).staged_name
      name = name or "artifact-%d" % len(os.listdir(dest))
      path = os.path.join(dest, os.path.basename(name))
      with open(path, "wb") as out:
        for chunk in stub.GetArtifact(
            beam_artifact_api_pb2.GetArtifactRequest(artifact=dep), metadata=md):
          out.write(chunk.data)
      _LOG.info("staged %s", path)


def main(argv=None):
  p = argparse.ArgumentParser()
  p.add_argument("--id", default="")
  p.add_argument("--provision_endpoint", required=True)
  p.add_argument("--logging_endpoint", default="")
  p.add_argument("--artifact_endpoint", default="")
  p.add_argument("--control_endpoint", default="")
  p.add_argument("--semi_persist_dir", default="")
  args, _ = p.parse_known_args(argv)
  logging.basicConfig(level=logging.INFO, format="%(asctime)s sdk_boot %(levelname)s %(message)s")

  with grpc.insecure_channel(args.provision_endpoint) as ch:
    info = beam_provision_api_pb2_grpc.ProvisionServiceStub(ch).GetProvisionInfo(
        beam_provision_api_pb2.GetProvisionInfoRequest(), metadata=[("worker_id", args.id)]).info

  semi = args.semi_persist_dir or tempfile.mkdtemp(prefix="beam-sdk-%s-" % (args.id or "worker"))
  artifact_ep = args.artifact_endpoint or (info.artifact_endpoint.url if info.HasField("artifact_endpoint") else "")
  if artifact_ep:
    _fetch_artifacts(artifact_ep, args.id, list(info.dependencies), os.path.join(semi, "staged"))

  env = dict(os.environ)
  env["WORKER_ID"] = args.id
  env["PIPELINE_OPTIONS"] = json_format.MessageToJson(info.pipeline_options)
  env["SEMI_PERSISTENT_DIRECTORY"] = semi
  logging_ep = info.logging_endpoint.url if info.HasField("logging_endpoint") else args.logging_endpoint
  control_ep = info.control_endpoint.url if info.HasField("control_endpoint") else args.control_endpoint
  if logging_ep:
    env["LOGGING_API_SERVICE_DESCRIPTOR"] = _descriptor(logging_ep)
  env["CONTROL_API_SERVICE_DESCRIPTOR"] = _descriptor(control_ep)
  if info.runner_capabilities:
    env["RUNNER_CAPABILITIES"] = " ".join(info.runner_capabilities)
  cmd = [sys.executable, "-m", "apache_beam.runners.worker.sdk_worker_main"]
  _LOG.info("starting SDK harness %s (control %s)", args.id, control_ep)
  sys.stdout.flush()
  os.execve(sys.executable, cmd, env)


if __name__ == "__main__":
  main()
