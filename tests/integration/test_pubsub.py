"""The native Pub/Sub source and sink against the local emulator (no mocks).

The emulator is Google's own fake (pstest) behind services/pubsub/main.go;
tests/fixtures/pubsub.py starts it. Unbounded reads run on Prism in
streaming mode; test outputs are appended to files by a DoFn, which works
because the SDK harness runs in this process (LOOPBACK).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from decimal import Decimal

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms import window

from runners.local import prism_binary
from tests.fixtures.collect import (AppendJson, read_lines, streaming_options,
                                    wait_until)
from tests.integration.streaming import (WINDOW_FLAGS, cli, dead_letter_reasons,
                                         results, top_products)
from services.pubsub.admin import (bounded_shuffle, create_subscription,
                                  create_topic, publish, pull, read_events)
from tests.fixtures.samples import RECENT_T0
from transforms.records import CategoryResult, DeadLetter, TopProduct
from transforms.sinks.pubsub_sink import (PubSubTopics, WriteToPubSubTopics,
                                          parse_pubsub_url)
from transforms.sources.pubsub import ReadFromPubSubNative

pytestmark = [pytest.mark.pubsub, pytest.mark.integration]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
# Source tests: a midnight two days back, so idle rules that follow the
# clock close their windows whatever the date (tests/fixtures/samples.py).
T0 = RECENT_T0
# Sink tests: a fixed instant, 2026-11-02T00:00:00Z, whose rendering is known.
SINK_T0 = 1793577600000

def _record_fields(r):
  return [r.source, r.position, r.payload.decode('utf-8', 'replace'),
          r.source_watermark_ms, r.transport_time_ms]


def _publishread_lines(topic, lines, attributes=None):
  from google.cloud import pubsub_v1
  publisher = pubsub_v1.PublisherClient()
  futures = [
      publisher.publish(topic, line.encode('utf-8'), **(attributes or [{}] *
                                                         len(lines))[i])
      for i, line in enumerate(lines)
  ]
  ids = [f.result(timeout=30) for f in futures]
  publisher.stop()
  return ids


# ---------------------------------------------------------------------------
# Source
# ---------------------------------------------------------------------------
@pytest.mark.prism
def test_reads_every_message_once_at_event_time_and_acks_it(
    pubsub_names, tmp_path):
  topic, sub = pubsub_names()
  lines = [json.dumps({'order_id': f'o{i}', 'event_time': T0 + i * 1000})
           for i in range(30)]
  lines += ['{"order_id": "bad", "event_time": "yesterday"}',
            'not json at all']
  before_ms = int(time.time() * 1000) - 5000
  ids = _publishread_lines(topic, lines)
  out = str(tmp_path / 'out.jsonl')

  p = beam.Pipeline(options=streaming_options())
  _ = (p
       | ReadFromPubSubNative(subscription=sub, idle_timeout_s=2)
       | beam.Map(_record_fields)
       | beam.ParDo(AppendJson(out)))
  result = p.run()
  try:
    assert wait_until(lambda: len(read_lines(out)) >= len(lines), 60, result), (
        f'read {len(read_lines(out))} of {len(lines)}')
    time.sleep(3)  # anything read twice would show up now; acks go out
  finally:
    result.cancel()

  rows = read_lines(out)
  positions = sorted(r['value'][1] for r in rows)
  assert positions == sorted(int(i.lstrip('m')) for i in ids)  # once each
  for r in rows:
    source, _, payload, wm_ms, transport_ms = r['value']
    assert source == sub
    # publish time: the emulator's clock (a JVM's, which the year-ahead
    # run of docs/testing.md does not move) against this process's
    if not os.environ.get('SALES_CLOCK_OFFSET_DAYS'):
      assert before_ms <= transport_ms <= int(time.time() * 1000)
    if payload.startswith('{"order_id": "o'):
      assert r['ts_ms'] == json.loads(payload)['event_time']
      # One pull held every message; the watermark moved after it.
      assert wm_ms is None or wm_ms <= r['ts_ms']
    else:
      # Unreadable time: still emitted, at the watermark or publish time.
      assert r['ts_ms'] in (wm_ms, transport_ms)
  # Acknowledged after the bundles were finalized: nothing is left.
  assert pull(sub, max_messages=100, ack=False) == []


@pytest.mark.prism
def test_event_time_from_a_message_attribute(pubsub_names, tmp_path):
  topic, sub = pubsub_names()
  lines = [json.dumps({'order_id': f'o{i}', 'event_time': 'garbage'})
           for i in range(10)]
  attrs = [{'ts': str(T0 + i * 60000)} for i in range(10)]
  _publishread_lines(topic, lines, attrs)
  out = str(tmp_path / 'out.jsonl')

  p = beam.Pipeline(options=streaming_options())
  _ = (p
       | ReadFromPubSubNative(subscription=sub, event_time='transport',
                              timestamp_attribute='ts', idle_timeout_s=2)
       | beam.Map(_record_fields)
       | beam.ParDo(AppendJson(out)))
  result = p.run()
  try:
    assert wait_until(lambda: len(read_lines(out)) >= 10, 60, result)
  finally:
    result.cancel()
  got = sorted((r['ts_ms'], r['value'][4]) for r in read_lines(out))
  assert got == [(T0 + i * 60000, T0 + i * 60000) for i in range(10)]


@pytest.mark.prism
def test_an_idle_subscription_does_not_hold_back_the_watermark(
    pubsub_names, tmp_path):
  # Five events in [T0, T0+10s) and then silence: the 10 s window can only
  # close (ON_TIME) because the idle rule lets the watermark follow the
  # clock after 2 s without messages.
  topic, sub = pubsub_names()
  _publishread_lines(topic, [
      json.dumps({'order_id': f'o{i}', 'event_time': T0 + i * 1000})
      for i in range(5)
  ])
  out = str(tmp_path / 'windows.jsonl')
  p = beam.Pipeline(options=streaming_options())
  _ = (p
       | ReadFromPubSubNative(subscription=sub, idle_timeout_s=2)
       | beam.WindowInto(window.FixedWindows(10))
       | beam.Map(lambda r: ('all', 1))
       | beam.CombinePerKey(sum)
       | beam.ParDo(AppendJson(out)))
  result = p.run()
  try:
    assert wait_until(lambda: read_lines(out), 60, result), 'the window never closed'
  finally:
    result.cancel()
  rows = read_lines(out)
  assert rows[0]['value'] == ['all', 5]
  assert rows[0]['window'] == [T0, T0 + 10000]
  assert rows[0]['timing'] == 1  # PaneInfoTiming.ON_TIME


@pytest.mark.prism
def test_reading_a_topic_creates_a_subscription(pubsub_names, tmp_path):
  topic, _ = pubsub_names(subscription=False)
  source = ReadFromPubSubNative(topic=topic, idle_timeout_s=2)
  assert source.subscription.startswith(
      topic.replace('/topics/', '/subscriptions/') + '-sales-')
  out = str(tmp_path / 'out.jsonl')
  p = beam.Pipeline(options=streaming_options())
  _ = (p | source | beam.Map(_record_fields) | beam.ParDo(AppendJson(out)))
  result = p.run()
  try:
    from google.api_core import exceptions
    from google.cloud import pubsub_v1
    client = pubsub_v1.SubscriberClient()

    def exists():
      try:
        client.get_subscription(request={'subscription': source.subscription})
        return True
      except exceptions.NotFound:
        return False
    assert wait_until(exists, 60, result), 'no subscription was created'
    client.close()
    # Only messages published after the subscription exists are read.
    _publishread_lines(topic, [json.dumps({'order_id': 'o1', 'event_time': T0})])
    assert wait_until(lambda: read_lines(out), 30, result)
  finally:
    result.cancel()
  [row] = read_lines(out)
  assert row['value'][0] == source.subscription
  assert row['ts_ms'] == T0


# ---------------------------------------------------------------------------
# Sink
# ---------------------------------------------------------------------------
def test_pubsub_url_names_three_topics():
  topics = parse_pubsub_url('pubsub://projects/p/topics/sales')
  assert topics == PubSubTopics('projects/p/topics/sales',
                                'projects/p/topics/sales.top_products',
                                'projects/p/topics/sales.dead_letters', False)
  topics = parse_pubsub_url('pubsub://projects/p/topics/sales?dead_letters='
                            'dlq&top_products=projects/q/topics/top&create=1')
  assert topics == PubSubTopics('projects/p/topics/sales',
                                'projects/q/topics/top',
                                'projects/p/topics/dlq', True)
  for bad in ('pubsub://projects/p/sales', 'pubsub://p/topics/t',
              'pubsub://projects/p/topics/t?x=1'):
    with pytest.raises(ValueError):
      parse_pubsub_url(bad)


def test_sink_publishes_results_top_products_and_dead_letters_as_json(
    pubsub_emulator):
  base = pubsub_emulator.topic_path(f'results-{time.time_ns()}')
  topics = parse_pubsub_url(f'pubsub://{base}')
  subs = {}
  for kind in ('results', 'top_products', 'dead_letters'):
    topic = getattr(topics, kind)
    create_topic(topic)
    subs[kind] = topic.replace('/topics/', '/subscriptions/') + '-check'
    create_subscription(subs[kind], topic)
  result = CategoryResult(SINK_T0, SINK_T0 + 3600000, '', 'books', 3, 7,
                          Decimal('123.455'), 2, Decimal('41.15166'),
                          'ON_TIME', 0, True)
  top = TopProduct(SINK_T0, SINK_T0 + 3600000, '', 1, 'P0001', 'Atlas', 'books', 2, 5,
                   Decimal('99.994'), 'EARLY', 2, False)
  letter = DeadLetter('malformed', 'not JSON', 'x{', 'projects/p/'
                      'subscriptions/s', None, 17)
  with beam.Pipeline(options=PipelineOptions(['--runner=FnApiRunner'])) as p:
    _ = {
        'results': p | 'R' >> beam.Create([result]),
        'top_products': p | 'T' >> beam.Create([top]),
        'dead_letters': p | 'D' >> beam.Create([letter]),
    } | WriteToPubSubTopics(topics)

  [r] = pull(subs['results'])
  assert r['attributes'] == {'kind': 'results', 'pane_index': '0',
                             'key': f'{SINK_T0}|{SINK_T0 + 3600000}||books'}
  body = json.loads(r['data'])
  assert body['revenue_usd'] == '123.46'  # cents, half up, as a string
  assert body['avg_order_value_usd'] == '41.15'
  assert body['window_start'] == '2026-11-02T00:00:00Z'
  assert body['window_start_ms'] == SINK_T0
  assert body['is_final'] is True and body['pane_timing'] == 'ON_TIME'
  [t] = pull(subs['top_products'])
  assert t['attributes']['key'] == f'{SINK_T0}|{SINK_T0 + 3600000}||1'
  assert json.loads(t['data'])['revenue_usd'] == '99.99'
  [d] = pull(subs['dead_letters'])
  assert d['attributes'] == {'kind': 'dead_letters',
                             'key': 'projects/p/subscriptions/s||17'}
  assert json.loads(d['data']) == {
      'reason': 'malformed', 'detail': 'not JSON', 'payload': 'x{',
      'source': 'projects/p/subscriptions/s', 'partition': None,
      'position': 17}


# ---------------------------------------------------------------------------
# Batch = stream, through the CLI
# ---------------------------------------------------------------------------
@pytest.mark.prism
def test_streaming_from_pubsub_converges_to_the_bounded_run(
    pubsub_names, live_sample, tmp_path):
  batch_db = str(tmp_path / 'batch.db')
  proc = subprocess.run(
      cli('--input', live_sample, '--output', '', '--sink',
           f'sqlite:///{batch_db}'),
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr
  expected = results(batch_db)
  assert expected

  topic, sub = pubsub_names()
  # Shuffled within an hour of event time (the allowed lateness is longer).
  events = bounded_shuffle(read_events(live_sample), 3600, seed=11)
  assert publish(topic, events)['messages'] == 3000

  stream_db = str(tmp_path / 'stream.db')
  started = time.monotonic()
  proc = subprocess.Popen(
      cli('--source', 'pubsub', '--pubsub_subscription', sub, '--streaming',
           '--early_firing_seconds', '1', '--sink', f'sqlite:///{stream_db}',
           *WINDOW_FLAGS, '--runner=PrismRunner',
           f'--prism_location={prism_binary()}',
           '--environment_type=LOOPBACK'),
      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
      env=dict(os.environ))
  try:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and results(stream_db) != expected:
      assert proc.poll() is None, proc.stderr.read()[-3000:]
      time.sleep(1)
    got = results(stream_db)
    assert got == expected, (f'{len(set(got) ^ set(expected))} rows differ; '
                             f'streamed {len(got)} rows, batch '
                             f'{len(expected)}')
    converged_s = time.monotonic() - started
    assert top_products(stream_db) == top_products(batch_db)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (dead_letter_reasons(stream_db) !=
                                           dead_letter_reasons(batch_db)):
      time.sleep(1)
    assert dead_letter_reasons(stream_db) == dead_letter_reasons(batch_db)
    # Every message was acknowledged once its bundle was finalized.
    time.sleep(2)
    assert pull(sub, max_messages=10, ack=False) == []
    print(f'converged in {converged_s:.1f} s')
  finally:
    proc.send_signal(signal.SIGINT)  # Ctrl-C: a clean shutdown
    try:
      out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
      proc.kill()
      raise
  assert proc.returncode == 0, err[-2000:]
  assert 'Traceback' not in err
  assert 'records read' in out
