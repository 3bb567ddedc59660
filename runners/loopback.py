"""Prism with its LOOPBACK worker pool on 127.0.0.1 (issue #14).

With ``--environment_type=LOOPBACK`` Beam's portable runners start a gRPC
worker pool inside the submitting process and point the job's environment
at it (``PortableRunner.start_and_replace_loopback_environments``, which
calls ``BeamFnExternalWorkerPoolServicer.start``). Beam 2.77 binds that pool
to ``[::]:<port>``: every interface, unauthenticated, with no option to
change it. The runner asks the pool to start SDK harnesses, which then run
user code in this process: whoever reaches the port can do the same.

``PrismRunner`` here is Beam's PrismRunner with that one step overridden
(a subclass, chosen with ``--runner=runners.loopback.PrismRunner``; Beam's
own classes are not modified): the same pool, Beam's servicer, on
``$LOOPBACK_BIND_HOST`` (default 127.0.0.1; ``::1`` works too;
``LOOPBACK_BIND_HOST=`` restores every interface). runners/local.py picks
it for the project's Prism runs. ``SparkRunner`` is Beam's SparkRunner
with the same override (``--runner=runners.loopback.SparkRunner``, which
runners/spark/spark_options.py passes for local Spark masters).

Beam's other gRPC servers bind ``[::]`` too: the FnApiRunner's control,
data, state and logging servers when it runs workers in other threads or
processes (``--direct_num_workers=2 --direct_running_mode=multi_processing``),
and the LOOPBACK pool of Beam's own PrismRunner, which ``--runner=DirectRunner``
creates. ``bind_grpc_servers_to_loopback()`` (called by the CLI,
pipelines/cli.py) makes every gRPC server the process creates afterwards
take ``$LOOPBACK_BIND_HOST`` for a wildcard address (``[::]``, ``0.0.0.0``):
``grpc.server`` is wrapped, no Beam code is touched.

The override repeats Beam 2.77's code with the address changed.
tests/integration/test_loopback.py pins the Beam code it repeats (a Beam
upgrade that changes it fails that test until this module is reviewed) and
checks the listening sockets of a real streaming run.
"""
from __future__ import annotations

import atexit
import copy
import functools
import ipaddress
import logging
import os
from typing import Tuple

import grpc
from apache_beam.options.pipeline_options import DebugOptions, PortableOptions
from apache_beam.portability import python_urns
from apache_beam.portability.api import beam_fn_api_pb2_grpc
from apache_beam.runners.portability import prism_runner, spark_runner
from apache_beam.runners.worker import sdk_worker_main, worker_pool_main
from apache_beam.transforms import environments
from apache_beam.utils import thread_pool_executor

_LOG = logging.getLogger(__name__)

BIND_HOST_ENV = 'LOOPBACK_BIND_HOST'
DEFAULT_BIND_HOST = '127.0.0.1'


def bind_host() -> str:
  """Where the LOOPBACK worker pool listens ('' = every interface)."""
  return os.environ.get(BIND_HOST_ENV, DEFAULT_BIND_HOST).strip()


def _bind_and_reach(host: str) -> Tuple[str, str]:
  """(address pattern to bind, host for the runner to dial)."""
  if host in ('', '*', '0.0.0.0', '::', '[::]'):
    return '[::]', 'localhost'
  bare = host.strip('[]')
  try:
    literal = ipaddress.ip_address(bare)
  except ValueError:
    return bare, bare  # a name, such as localhost
  wrapped = f'[{bare}]' if literal.version == 6 else bare
  return wrapped, wrapped


def start_worker_pool(host: str, use_process: bool = False,
                      state_cache_size: int = 0,
                      data_buffer_time_limit_ms: int = -1
                      ) -> Tuple[str, grpc.Server]:
  """``BeamFnExternalWorkerPoolServicer.start`` (Beam 2.77) on ``host``
  instead of ``[::]``. Returns (the address the runner dials, the server)."""
  options = [("grpc.http2.max_pings_without_data", 0),
             ("grpc.http2.max_ping_strikes", 0)]
  server = grpc.server(
      thread_pool_executor.shared_unbounded_instance(), options=options)
  bind, reach = _bind_and_reach(host)
  port = server.add_insecure_port(f'{bind}:0')
  if not port:
    raise RuntimeError(f'the LOOPBACK worker pool cannot listen on {bind} '
                       f'(set {BIND_HOST_ENV})')
  pool = worker_pool_main.BeamFnExternalWorkerPoolServicer(
      use_process=use_process,
      state_cache_size=state_cache_size,
      data_buffer_time_limit_ms=data_buffer_time_limit_ms)
  beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(
      pool, server)
  server.start()
  address = f'{reach}:{port}'
  _LOG.info('Listening for workers at %s', address)

  def kill_worker_processes():
    # As Beam's start() does: only with use_process (an experiment).
    for process in getattr(pool, '_worker_processes', {}).values():
      worker_pool_main.kill_process_gracefully(process)

  atexit.register(kill_worker_processes)
  return address, server


_WILDCARDS = ('[::]', '0.0.0.0', '::', '')


def loopback_address(address: str) -> str:
  """A gRPC listen address with a wildcard host replaced by bind_host()
  (unchanged when it names a host, or when bind_host() is every
  interface)."""
  host, sep, port = address.rpartition(':')
  if not sep or host not in _WILDCARDS or bind_host() in _WILDCARDS + (
      '*',):
    return address
  return f'{_bind_and_reach(bind_host())[0]}:{port}'


class _LoopbackServer:
  """A grpc.Server whose add_insecure_port binds loopback for a wildcard."""

  def __init__(self, server):
    self._server = server

  def add_insecure_port(self, address: str) -> int:
    return self._server.add_insecure_port(loopback_address(address))

  def add_secure_port(self, address: str, credentials) -> int:
    return self._server.add_secure_port(loopback_address(address),
                                        credentials)

  def __getattr__(self, name):
    return getattr(self._server, name)


def bind_grpc_servers_to_loopback() -> None:
  """From now on, every ``grpc.server(...)`` of this process listens on
  bind_host() where it asks for every interface. Idempotent."""
  if getattr(grpc.server, '_sales_loopback', False):
    return
  make = grpc.server

  @functools.wraps(make)
  def server(*args, **kwargs):
    return _LoopbackServer(make(*args, **kwargs))

  server._sales_loopback = True  # type: ignore[attr-defined]
  grpc.server = server


class PrismRunner(prism_runner.PrismRunner):
  """Beam's PrismRunner; the LOOPBACK worker pool on ``bind_host()``."""

  @staticmethod
  def start_and_replace_loopback_environments(pipeline, options):
    # Beam 2.77's PortableRunner.start_and_replace_loopback_environments,
    # with start_worker_pool(bind_host(), ...) for the servicer's start().
    portable_options = copy.deepcopy(options.view_as(PortableOptions))
    experiments = options.view_as(DebugOptions).experiments or []
    cleanup_callbacks = []
    for env in pipeline.components.environments.values():
      if env.urn == python_urns.EMBEDDED_PYTHON_LOOPBACK:
        use_process = options.view_as(DebugOptions).lookup_experiment(
            'use_loopback_process_worker', False)
        portable_options.environment_type = 'EXTERNAL'
        portable_options.environment_config, server = start_worker_pool(
            bind_host(),
            use_process=use_process,
            state_cache_size=sdk_worker_main._get_state_cache_size_bytes(  # pylint: disable=protected-access
                options=options),
            data_buffer_time_limit_ms=(
                sdk_worker_main._get_data_buffer_time_limit_ms(experiments)))  # pylint: disable=protected-access
        external_env = environments.ExternalEnvironment.from_options(
            portable_options).to_runner_api(None)  # type: ignore
        env.urn = external_env.urn
        env.payload = external_env.payload
        cleanup_callbacks.append(functools.partial(server.stop, 1))
    return cleanup_callbacks


class SparkRunner(spark_runner.SparkRunner):
  """Beam's SparkRunner; the LOOPBACK worker pool on ``bind_host()``."""

  start_and_replace_loopback_environments = staticmethod(
      PrismRunner.start_and_replace_loopback_environments)
