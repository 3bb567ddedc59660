"""The Dataflow job graph, built OFFLINE with Beam's ``--dry_run=True``.

DataflowRunner.run_pipeline applies Dataflow's overrides, translates the
pipeline to the portable proto Dataflow receives, infers streaming mode,
validates the graph and builds the job (``apiclient.Job``); with
``--dry_run`` it then returns ``result.job`` without staging anything or
calling the Dataflow API. These tests forbid every non-loopback connection
and Google's credential lookup, so they prove that building the job needs no
project, no network and no credentials. What they cannot prove (the service
accepting the job, IAM, quotas) needs a real project: runners/dataflow/README.md.
"""
from __future__ import annotations

import socket

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import (PipelineOptions,
                                                  StandardOptions)
from apache_beam.portability.api import beam_runner_api_pb2

from pipelines.options import SAMPLE_INPUT, config_from_options
from pipelines.sales import build_sales_graph
from pipelines.wiring import sinks_for, source_for
from transforms.sinks.pubsub_sink import WriteToPubSubTopics
from transforms.sources.pubsub import ReadFromPubSubDataflow

DATAFLOW = [
    '--runner=DataflowRunner', '--project=sales-demo',
    '--region=europe-west1', '--temp_location=gs://sales-demo-tmp/tmp',
    '--dry_run=True'
]
STEPS = {'ReadFxRates', 'ReadOrders', 'ParseOrders', 'Deduplicate',
         'ConvertToUsd', 'JoinCatalog', 'ApplyWindowPolicy', 'AggregateSales',
         'WriteToBigQuery'}
SUBSCRIPTION = 'projects/sales-demo/subscriptions/orders-sales'


@pytest.fixture(autouse=True)
def offline(monkeypatch):
  """Fails any connection off the loopback, any gRPC channel to Google
  and any credential lookup."""
  real_connect = socket.socket.connect

  def connect(sock, address):
    host = address[0] if isinstance(address, tuple) else str(address)
    if not (host.startswith('127.') or host in ('localhost', '::1') or
            sock.family == getattr(socket, 'AF_UNIX', None)):
      raise AssertionError(f'the dry run tried to reach {address}')
    return real_connect(sock, address)

  def no_credentials(*unused_args, **unused_kwargs):
    raise AssertionError('the dry run asked for Google credentials')

  def no_grpc(target, *unused_args, **unused_kwargs):
    raise AssertionError(f'the dry run opened a gRPC channel to {target}')

  import google.auth
  import grpc
  monkeypatch.setattr(socket.socket, 'connect', connect)
  monkeypatch.setattr(google.auth, 'default', no_credentials)
  # gRPC's C core does not go through Python sockets.
  monkeypatch.setattr(grpc, 'secure_channel', no_grpc)


def dry_run(flags, extra_sinks=(), source=None):
  """Builds the sales graph for Dataflow; returns (job, portable proto)."""
  options = PipelineOptions(DATAFLOW + list(flags))
  config = config_from_options(options)
  if not config.bounded:  # as pipelines/run.py does
    options.view_as(StandardOptions).streaming = True
  pipeline = beam.Pipeline(options=options)
  build_sales_graph(pipeline, config, source or source_for(config),
                    list(sinks_for(config)) + list(extra_sinks))
  result = pipeline.run()
  assert str(result.state) == 'DONE'
  job = result.job
  return job, job.proto_pipeline


def transform_names(proto):
  return {t.unique_name for t in proto.components.transforms.values()}


def top_level(proto):
  return {name for name in transform_names(proto) if '/' not in name} - {
      n for n in transform_names(proto) if n.startswith('ref_')}


def side_inputs(proto, prefix):
  """The side inputs of the ParDos whose names start with prefix."""
  found = []
  for t in proto.components.transforms.values():
    if (t.unique_name.startswith(prefix) and
        t.spec.urn == 'beam:transform:pardo:v1'):
      payload = beam_runner_api_pb2.ParDoPayload.FromString(t.spec.payload)
      found.extend(payload.side_inputs)
  return found


def unbounded(proto):
  return [
      pc.unique_name for pc in proto.components.pcollections.values()
      if pc.is_bounded == beam_runner_api_pb2.IsBounded.UNBOUNDED
  ]


def test_bounded_job_reads_files_and_loads_bigquery():
  job, proto = dry_run(['--input', SAMPLE_INPUT, '--output', '',
                        '--sink', 'bigquery:sales-demo:sales'])
  assert job.proto.type.name == 'JOB_TYPE_BATCH'
  assert not job.options.view_as(StandardOptions).streaming
  assert top_level(proto) == STEPS | {'ReadCatalog'}
  assert side_inputs(proto, 'ParseOrders/')  # the FX rates
  assert not unbounded(proto)
  names = transform_names(proto)
  for table in ('Results', 'TopProducts', 'DeadLetters'):
    # Batch: BigQuery load jobs through --temp_location.
    assert (f'WriteToBigQuery/Write{table}Table/BigQueryBatchFileLoads'
            in names)
  # Workers run Beam's own Python 3 SDK image at the SDK's version.
  [env] = proto.components.environments.values()
  assert env.urn == 'beam:env:docker:v1'
  assert b'beam_python3' in env.payload and b'2.77.0' in env.payload


def test_streaming_job_reads_pubsub_natively_and_streams_to_bigquery():
  job, proto = dry_run(
      ['--source', 'pubsub', '--pubsub_subscription', SUBSCRIPTION,
       '--streaming', '--sink', 'bigquery:sales-demo:sales'],
      extra_sinks=[('WriteToPubSub', WriteToPubSubTopics.from_url(
          'pubsub://projects/sales-demo/topics/sales'))])
  assert job.proto.type.name == 'JOB_TYPE_STREAMING'
  assert job.options.view_as(StandardOptions).streaming
  # A streaming run's checks take the FX table read at launch, not a side
  # input: on a fusing runner they then share the read's stage.
  assert top_level(proto) == STEPS - {'ReadFxRates'} | {'WriteToPubSub'}
  assert not side_inputs(proto, 'ParseOrders/')
  names = transform_names(proto)
  for step in ('ReadOrders/Impulse', 'ReadOrders/ResolveSubscription',
               'ReadOrders/ReadMessages', 'WriteToPubSub/PublishResults',
               'WriteToPubSub/PublishTopProducts',
               'WriteToPubSub/PublishDeadLetters',
               'WriteToBigQuery/WriteResultsTable/_StreamToBigQuery'):
    assert step in names, step
  # (PCollection names carry a numeric prefix, e.g. '23ReadOrders/...'.)
  assert any('ReadOrders/ReadMessages' in n for n in unbounded(proto))


def test_streaming_is_inferred_from_the_unbounded_source():
  # No --streaming flag: a Pub/Sub source makes it an unbounded run
  # (pipelines/options.py), so the job is a streaming job.
  job, _ = dry_run(['--source', 'pubsub', '--pubsub_subscription',
                    SUBSCRIPTION, '--sink', 'bigquery:sales-demo:sales'])
  assert job.proto.type.name == 'JOB_TYPE_STREAMING'


def test_streaming_job_with_dataflows_own_pubsub_read():
  options = PipelineOptions(
      DATAFLOW + ['--source', 'pubsub', '--pubsub_subscription', SUBSCRIPTION,
                  '--event_time_from', 'transport',
                  '--pubsub_event_time_attribute', 'event_time', '--streaming'])
  source = ReadFromPubSubDataflow.from_config(config_from_options(options))
  job, proto = dry_run(['--source', 'pubsub', '--pubsub_subscription',
                        SUBSCRIPTION, '--event_time_from', 'transport',
                        '--pubsub_event_time_attribute', 'event_time',
                        '--streaming', '--sink', 'bigquery:sales-demo:sales'],
                       source=source)
  assert job.proto.type.name == 'JOB_TYPE_STREAMING'
  read = [t for t in proto.components.transforms.values()
          if t.unique_name == 'ReadOrders/ReadFromPubSub']
  assert read
  # Dataflow replaces the read with its service-side Pub/Sub source.
  urns = {t.spec.urn for t in proto.components.transforms.values()
          if t.unique_name.startswith('ReadOrders/ReadFromPubSub')}
  assert 'beam:transform:pubsub_read:v1' in urns, urns


def test_the_cli_builds_the_dataflow_job_offline(capsys):
  from pipelines.cli import main
  code = main(DATAFLOW + ['--source', 'pubsub', '--pubsub_subscription',
                          SUBSCRIPTION, '--sink', 'bigquery:sales-demo:sales'])
  assert code == 0, capsys.readouterr().err


# ---------------------------------------------------------------------------
# The Flex Template kit (runners/dataflow), checked offline
# ---------------------------------------------------------------------------
def test_flex_template_parameters_are_pipeline_flags():
  import json
  import os
  import re

  from pipelines.options import SalesOptions
  root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
  with open(os.path.join(root, 'runners', 'dataflow', 'metadata.json'),
            encoding='utf-8') as f:
    metadata = json.load(f)
  flags = set(SalesOptions(['--source=files']).get_all_options(
      retain_unknown_options=False))
  names = [p['name'] for p in metadata['parameters']]
  assert len(names) == len(set(names))
  assert set(names) <= flags, set(names) - flags
  required = {p['name'] for p in metadata['parameters']
              if not p.get('isOptional')}
  assert required == {'catalog', 'fx_rates', 'sink'}
  examples = {
      'source': 'pubsub', 'pubsub_subscription': SUBSCRIPTION,
      'pubsub_topic': 'projects/p/topics/orders', 'event_time_from':
      'transport', 'pubsub_event_time_attribute': 'event_time',
      'input': 'gs://b/in/*.jsonl', 'catalog': 'gs://b/catalog.csv',
      'fx_rates': 'gs://b/fx_rates.csv', 'sink': 'bigquery:p:sales',
      'output': 'gs://b/out', 'window': 'sliding', 'window_size_seconds':
      '3600', 'allowed_lateness_seconds': '0', 'early_firing_seconds': '60',
      'dedupe_ttl_seconds': '86400', 'top_n': '5'}
  for p in metadata['parameters']:
    for regex in p.get('regexes', []):
      assert re.fullmatch(regex, examples[p['name']]), (p['name'], regex)
  sink = next(p for p in metadata['parameters'] if p['name'] == 'sink')
  assert re.fullmatch(sink['regexes'][0], 'pubsub://projects/p/topics/t')

  with open(os.path.join(root, 'runners', 'dataflow', 'Dockerfile'),
            encoding='utf-8') as f:
    dockerfile = f.read()
  assert ('FROM gcr.io/dataflow-templates-base/'
          'python311-template-launcher-base') in dockerfile
  assert 'FLEX_TEMPLATE_PYTHON_PY_FILE="${WORKDIR}/pipeline.py"' in dockerfile
  assert "apache-beam[gcp]==2.77.0" in dockerfile
