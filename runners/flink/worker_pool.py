"""Beam Python SDK worker pool for the EXTERNAL environment, loopback only.

Same service as ``python -m apache_beam.runners.worker.worker_pool_main
--service_port=PORT`` (Beam's own entry point), except that Beam's binds
``[::]:PORT`` (every interface) while this one binds ``127.0.0.1:PORT`` (or
``--bind_host``). Each SDK harness the runner asks for is started as a
subprocess (``use_process=True``), exactly as Beam's entry point does.

    python runners/flink/worker_pool.py --service_port=50000
"""

import argparse
import logging
import os
import signal
import sys
import threading

import grpc
from apache_beam.portability.api import beam_fn_api_pb2_grpc
from apache_beam.runners.worker.worker_pool_main import BeamFnExternalWorkerPoolServicer
from apache_beam.utils import thread_pool_executor

_LOGGER = logging.getLogger("worker_pool")


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--service_port", type=int, required=True)
  parser.add_argument("--bind_host", default="127.0.0.1")
  parser.add_argument("--container_executable", default=None)
  parser.add_argument("--state_cache_size", type=int, default=None)
  parser.add_argument("--data_buffer_time_limit_ms", type=int, default=None)
  args = parser.parse_args(argv)
  logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
  # Beam's pool starts each SDK harness as `python -c ...` found on PATH:
  # make that the interpreter running this pool (the project's venv).
  bindir = os.path.dirname(os.path.abspath(sys.executable))
  os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")

  kwargs = {}
  if args.state_cache_size is not None:
    kwargs["state_cache_size"] = args.state_cache_size
  if args.data_buffer_time_limit_ms is not None:
    kwargs["data_buffer_time_limit_ms"] = args.data_buffer_time_limit_ms
  servicer = BeamFnExternalWorkerPoolServicer(
      use_process=True, container_executable=args.container_executable, **kwargs)
  server = grpc.server(
      thread_pool_executor.shared_unbounded_instance(),
      options=[("grpc.http2.max_pings_without_data", 0), ("grpc.http2.max_ping_strikes", 0)])
  beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(servicer, server)
  address = "%s:%d" % (args.bind_host, args.service_port)
  if server.add_insecure_port(address) == 0:
    _LOGGER.error("cannot bind %s", address)
    return 1
  server.start()
  _LOGGER.info("Beam worker pool listening at %s", address)

  done = threading.Event()
  for sig in (signal.SIGTERM, signal.SIGINT):
    signal.signal(sig, lambda *_: done.set())
  done.wait()
  _LOGGER.info("stopping worker pool")
  server.stop(5).wait()
  return 0


if __name__ == "__main__":
  sys.exit(main())
