"""Issue #14, item 1: everything the project starts listens on loopback only.

Each test lists the listening TCP sockets of real processes while they run
(/proc/net/tcp{,6} for the sockets, /proc/<pid>/fd for their owners, the
same data `ss -ltnp` shows) and fails on any bound outside 127.0.0.0/8 or
::1: a wildcard (0.0.0.0, ::) included.

- a streaming run from Kafka on Prism with LOOPBACK workers: Prism's job,
  artifact and Fn API port, and the SDK's worker pool in the CLI process;
- a bounded run on the default runner (FnApiRunner), with two worker
  processes, and on Beam's DirectRunner (Beam's PrismRunner inside);
- the service scripts' servers: the Kafka broker, the Pub/Sub emulator,
  PostgreSQL;
- runners/loopback.py's worker pool alone, and the Beam code it repeats,
  pinned (these two need no service: they run in the unit suite).
"""
from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import time
from typing import Dict, Iterable, List, Set, Tuple

import pytest

from tests.integration.streaming import (ROOT, SAMPLE, cli, kafka_stream_args,
                                         results, streaming_pipeline,
                                         wait_for)
from runners import loopback
from runners.local import (LOOPBACK_PRISM_RUNNER, prism_binary,
                           resolve_runner_args)
from tools.replay_to_kafka import replay

# Not module-wide: the checks of runners/loopback.py below the socket
# listing need no service and run in the unit suite, where a Beam upgrade
# that changes the code it repeats is noticed.

_LISTEN = '0A'  # TCP_LISTEN in /proc/net/tcp's st column


# --- listening sockets, as `ss -ltnp` sees them ---------------------------

def _hex_address(field: str, family: int) -> Tuple[str, int]:
  host, port = field.split(':')
  raw = bytes.fromhex(host)
  if family == socket.AF_INET:
    addr = socket.inet_ntop(socket.AF_INET, raw[::-1])
  else:  # four little-endian 32-bit words
    words = b''.join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    addr = socket.inet_ntop(socket.AF_INET6, words)
  return addr, int(port, 16)


def listening_sockets() -> Dict[int, Tuple[str, int]]:
  """inode -> (address, port) of every listening TCP socket."""
  found = {}
  for name, family in (('tcp', socket.AF_INET), ('tcp6', socket.AF_INET6)):
    with open(f'/proc/net/{name}', encoding='ascii') as f:
      next(f)
      for line in f:
        cols = line.split()
        if cols[3] == _LISTEN:
          found[int(cols[9])] = _hex_address(cols[1], family)
  return found


def socket_inodes(pid: int) -> Set[int]:
  inodes = set()
  try:
    fds = os.listdir(f'/proc/{pid}/fd')
  except (FileNotFoundError, PermissionError, ProcessLookupError):
    return inodes
  for fd in fds:
    try:
      target = os.readlink(f'/proc/{pid}/fd/{fd}')
    except OSError:
      continue
    if target.startswith('socket:['):
      inodes.add(int(target[8:-1]))
  return inodes


def process_tree(root: int) -> List[int]:
  """root and every descendant (by parent pid)."""
  children: Dict[int, List[int]] = {}
  for entry in os.listdir('/proc'):
    if not entry.isdigit():
      continue
    try:
      with open(f'/proc/{entry}/stat', encoding='utf-8',
                errors='replace') as f:
        stat = f.read()
    except OSError:
      continue
    ppid = int(stat.rsplit(')', 1)[1].split()[1])
    children.setdefault(ppid, []).append(int(entry))
  tree, todo = [], [root]
  while todo:
    pid = todo.pop()
    tree.append(pid)
    todo.extend(children.get(pid, []))
  return tree


def listeners_of(pids: Iterable[int]) -> List[Tuple[int, str, int]]:
  """(pid, address, port) of every socket these processes listen on."""
  table = listening_sockets()
  out = []
  for pid in pids:
    for inode in socket_inodes(pid):
      if inode in table:
        out.append((pid, *table[inode]))
  return sorted(set(out))


def owner_of_port(port: int) -> int:
  """The pid listening on 127.0.0.1:port (a service started with setsid is
  not in the test's process tree)."""
  inodes = {i for i, (_, p) in listening_sockets().items() if p == port}
  for entry in os.listdir('/proc'):
    if entry.isdigit() and socket_inodes(int(entry)) & inodes:
      return int(entry)
  raise AssertionError(f'no process listens on port {port}')


def _unmapped(address: str):
  ip = ipaddress.ip_address(address)
  return ip.ipv4_mapped or ip if ip.version == 6 else ip


def is_loopback(address: str) -> bool:
  return _unmapped(address).is_loopback


def outside_loopback(listeners) -> list:
  return [l for l in listeners if not is_loopback(l[1])]


def describe(listeners) -> str:
  def cmd(pid):
    try:
      with open(f'/proc/{pid}/cmdline', 'rb') as f:
        return f.read().replace(b'\0', b' ').decode()[:100]
    except OSError:
      return '?'
  return '\n'.join(f'  {a}:{p}  pid {pid} {cmd(pid)}'
                   for pid, a, p in listeners)


def test_the_socket_listing_sees_a_wildcard_and_a_loopback_listener():
  """The checks below would pass vacuously if the listing were wrong."""
  with socket.socket() as wild, socket.socket() as local:
    wild.bind(('0.0.0.0', 0))
    wild.listen()
    local.bind(('127.0.0.1', 0))
    local.listen()
    mine = listeners_of([os.getpid()])
    assert (os.getpid(), '0.0.0.0', wild.getsockname()[1]) in mine
    assert (os.getpid(), '127.0.0.1', local.getsockname()[1]) in mine
    assert outside_loopback(mine) == [
        (os.getpid(), '0.0.0.0', wild.getsockname()[1])]
  assert is_loopback('::1') and is_loopback('::ffff:127.0.0.1')
  assert not is_loopback('::') and not is_loopback('0.0.0.0')


# --- a streaming run on Prism ----------------------------------------------

@pytest.mark.integration
@pytest.mark.kafka
@pytest.mark.prism
def test_a_streaming_run_on_prism_listens_on_loopback_only(
    tmp_path, kafka_broker, kafka_topic_factory, live_sample):
  topic = kafka_topic_factory(partitions=3)
  replay(live_sample, topic, kafka_broker.bootstrap, seed=5)
  db = str(tmp_path / 'live.db')
  with streaming_pipeline(
      *kafka_stream_args(kafka_broker.bootstrap, topic, 'loopback'),
      '--sink', f'sqlite:///{db}') as proc:
    # Rows in the sink: the job runs, its workers are connected.
    assert wait_for(lambda: results(db), 180, proc)
    listeners = listeners_of(process_tree(proc.pid))
    shown = describe(listeners)  # while the processes are there to name
  # Prism's job port and the SDK worker pool, at least.
  assert len(listeners) >= 2, shown
  assert not outside_loopback(listeners), 'listening outside loopback:\n' + shown


# --- a bounded run on the default runner -------------------------------------

def listeners_during(*args: str):
  """Every listener of ``python -m pipeline *args`` and its children,
  sampled while the run lasts (a server bound for a moment could slip
  between two samples; the run's servers live as long as the run)."""
  proc = subprocess.Popen(cli(*args), cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
  seen = set()
  samples = 0
  try:
    while proc.poll() is None:
      seen.update(listeners_of(process_tree(proc.pid)))
      samples += 1
      time.sleep(0.05)
    _, err = proc.communicate(timeout=60)
  finally:
    if proc.poll() is None:
      proc.kill()
  assert proc.returncode == 0, err[-3000:]
  assert samples > 0
  return seen


@pytest.mark.integration
def test_a_bounded_run_on_the_default_runner_listens_on_loopback_only(
    tmp_path):
  seen = listeners_during('--input', SAMPLE, '--output', str(tmp_path / 'out'))
  bad = outside_loopback(seen)
  assert not bad, 'listening outside loopback:\n' + describe(bad)


@pytest.mark.integration
@pytest.mark.parametrize('runner_args', [
    # The FnApiRunner's control, data, state and logging servers, for
    # workers in two threads (the same servers serve worker processes,
    # --direct_running_mode=multi_processing, as benchmarks/batch.py runs).
    ['--direct_num_workers=2', '--direct_running_mode=multi_threading'],
    # Beam's DirectRunner runs the batch on Beam's own PrismRunner, whose
    # LOOPBACK worker pool is in this process.
    ['--runner=DirectRunner'],
], ids=['two-workers', 'direct-runner'])
def test_bounded_runs_with_worker_servers_listen_on_loopback_only(
    tmp_path, runner_args):
  """Before: `:::<port>` for each of these servers (Beam binds `[::]`)."""
  if '--runner=DirectRunner' in runner_args and prism_binary() is None:
    pytest.skip('DirectRunner without Prism runs in-process, no server')
  small = tmp_path / 'orders.jsonl'  # the servers, not the data, matter
  with open(SAMPLE, 'rb') as f:
    small.write_bytes(b''.join(f.readline() for _ in range(200)))
  seen = listeners_during('--input', str(small), '--output',
                          str(tmp_path / 'out'), *runner_args)
  assert seen, 'no server seen: the case proves nothing'
  bad = outside_loopback(seen)
  assert not bad, 'listening outside loopback:\n' + describe(bad)


# --- the service scripts -----------------------------------------------------

@pytest.mark.integration
@pytest.mark.kafka
def test_the_kafka_broker_listens_on_loopback_only(kafka_broker):
  if not hasattr(kafka_broker, 'port'):
    pytest.skip('KAFKA_BOOTSTRAP_SERVERS names a broker this test did not start')
  pid = owner_of_port(kafka_broker.port)
  listeners = listeners_of(process_tree(pid))
  ports = {p for _, _, p in listeners}
  assert {kafka_broker.port, kafka_broker.controller_port} <= ports
  bad = outside_loopback(listeners)
  assert not bad, 'listening outside loopback:\n' + describe(bad)


@pytest.mark.integration
@pytest.mark.pubsub
def test_the_pubsub_emulator_listens_on_loopback_only(pubsub_emulator):
  port = int(pubsub_emulator.host.rsplit(':', 1)[1])
  listeners = listeners_of(process_tree(owner_of_port(port)))
  assert port in {p for _, _, p in listeners}
  bad = outside_loopback(listeners)
  assert not bad, 'listening outside loopback:\n' + describe(bad)


@pytest.mark.integration
@pytest.mark.postgres
def test_postgresql_listens_on_loopback_only(postgres_server):
  if os.environ.get('SALES_PG_URL'):
    pytest.skip('SALES_PG_URL names a server this project did not start')
  import urllib.parse
  port = urllib.parse.urlsplit(postgres_server.url).port or 5432
  listeners = listeners_of(process_tree(owner_of_port(port)))
  assert port in {p for _, _, p in listeners}
  bad = outside_loopback(listeners)
  assert not bad, 'listening outside loopback:\n' + describe(bad)


# --- runners/loopback.py ------------------------------------------------------

def test_the_worker_pool_listens_on_loopback_and_where_it_is_told(
    monkeypatch):
  for host, reach in (('127.0.0.1', '127.0.0.1'), ('::1', '[::1]')):
    address, server = loopback.start_worker_pool(host)
    try:
      port = int(address.rsplit(':', 1)[1])
      assert address == f'{reach}:{port}'
      mine = [l for l in listeners_of([os.getpid()]) if l[2] == port]
      # gRPC may bind an IPv4 address on an IPv6 socket: ::ffff:127.0.0.1.
      assert [str(_unmapped(a)) for _, a, _ in mine] == [host]
    finally:
      server.stop(None)
  monkeypatch.delenv(loopback.BIND_HOST_ENV, raising=False)
  assert loopback.bind_host() == '127.0.0.1'
  monkeypatch.setenv(loopback.BIND_HOST_ENV, '')
  assert loopback.bind_host() == ''
  address, server = loopback.start_worker_pool(loopback.bind_host())
  try:  # the opt-out really opens every interface
    port = int(address.rsplit(':', 1)[1])
    assert address == f'localhost:{port}'
    mine = [l for l in listeners_of([os.getpid()]) if l[2] == port]
    assert mine and not any(is_loopback(a) for _, a, _ in mine)
  finally:
    server.stop(None)


def test_grpc_servers_bind_loopback_for_a_wildcard(monkeypatch):
  """bind_grpc_servers_to_loopback: what Beam asks as '[::]:0' listens on
  127.0.0.1 (LOOPBACK_BIND_HOST), a named host is kept, and
  LOOPBACK_BIND_HOST= restores every interface."""
  import grpc
  monkeypatch.setattr(grpc, 'server', grpc.server)  # undone after the test
  loopback.bind_grpc_servers_to_loopback()
  loopback.bind_grpc_servers_to_loopback()  # idempotent
  from concurrent import futures
  monkeypatch.delenv(loopback.BIND_HOST_ENV, raising=False)
  cases = [('[::]:0', '', '127.0.0.1'), ('0.0.0.0:0', '', '127.0.0.1'),
           ('[::]:0', '::1', '::1'), ('[::1]:0', '', '::1'),
           ('[::]:0', '-', None)]
  for address, host, want in cases:
    if host == '-':
      monkeypatch.setenv(loopback.BIND_HOST_ENV, '')
    elif host:
      monkeypatch.setenv(loopback.BIND_HOST_ENV, host)
    else:
      monkeypatch.delenv(loopback.BIND_HOST_ENV, raising=False)
    server = grpc.server(futures.ThreadPoolExecutor(1))
    port = server.add_insecure_port(address)
    server.start()
    try:
      mine = [str(_unmapped(a)) for _, a, p in listeners_of([os.getpid()])
              if p == port]
      if want is None:
        assert mine and not any(is_loopback(a) for a in mine), mine
      else:
        assert mine == [want], (address, host, mine)
    finally:
      server.stop(None)


def test_the_cli_runs_prism_as_the_loopback_subclass():
  for given in ([], ['--runner=PrismRunner'], [
      '--runner=apache_beam.runners.portability.prism_runner.PrismRunner']):
    args = resolve_runner_args([*given, '--prism_location=/x/prism'],
                               bounded=False)
    assert [a for a in args if a.startswith('--runner')][-1] == (
        f'--runner={LOOPBACK_PRISM_RUNNER}')
  args = resolve_runner_args(['--runner=FlinkRunner'], bounded=False)
  assert args == ['--runner=FlinkRunner']
  from apache_beam.runners.runner import create_runner
  assert isinstance(create_runner(LOOPBACK_PRISM_RUNNER), loopback.PrismRunner)


# Beam 2.77's code that runners/loopback.py repeats with another address. A
# Beam upgrade that changes it fails here: compare it with runners/loopback.py,
# carry the change over (or drop the override if Beam has an option for the
# address by then), then record the new digests.
PINNED_BEAM_CODE = {
    'PortableRunner.start_and_replace_loopback_environments':
        '08bd4bf8db7aa7bc',
    'BeamFnExternalWorkerPoolServicer.start': '9901444a2f53bc5f',
}


def _beam_code() -> Dict[str, str]:
  import hashlib
  import inspect
  from apache_beam.runners.portability.portable_runner import PortableRunner
  from apache_beam.runners.worker.worker_pool_main import (
      BeamFnExternalWorkerPoolServicer)
  functions = {
      'PortableRunner.start_and_replace_loopback_environments':
          PortableRunner.start_and_replace_loopback_environments,
      'BeamFnExternalWorkerPoolServicer.start':
          BeamFnExternalWorkerPoolServicer.start,
  }
  return {name: hashlib.sha256(inspect.getsource(f).encode()).hexdigest()[:16]
          for name, f in functions.items()}


def test_the_beam_code_the_loopback_runner_repeats_is_unchanged():
  assert _beam_code() == PINNED_BEAM_CODE, (
      'Beam changed code that runners/loopback.py repeats: review it')
  # And the override is still the one Beam calls (through self).
  from apache_beam.runners.portability.portable_runner import PortableRunner
  import inspect
  assert 'self.start_and_replace_loopback_environments(' in inspect.getsource(
      PortableRunner.run_portable_pipeline)
  assert issubclass(loopback.PrismRunner, PortableRunner)
