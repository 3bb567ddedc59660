"""The native Kafka source, sink and replay tool against a REAL broker.

Unbounded reads run on Prism in streaming mode (the binary that
runners/prism/setup.sh builds); the bounded read
runs on the in-process FnApiRunner. Test outputs are written to
files by a DoFn, which works because the SDK harness runs in this process
(LOOPBACK).
"""
from __future__ import annotations

import json
import os
import time
from decimal import Decimal

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import window

from tests.fixtures.collect import (AppendJson, read_lines, streaming_options,
                                    wait_until)
from tests.fixtures.samples import RECENT_T0
from transforms.records import CategoryResult, DeadLetter, TopProduct
from transforms.sinks.kafka_sink import WriteToKafka
from transforms.sources.kafka import ReadFromKafkaNative

pytestmark = [pytest.mark.kafka, pytest.mark.integration]

# A midnight two days back: idle partitions' watermarks follow the clock, so
# windows close whatever the date (tests/fixtures/samples.py).
T0 = RECENT_T0


def _produce(bootstrap, topic, records):
  """records: [(partition, dict or bytes)]; returns [(partition, offset)]."""
  from confluent_kafka import Producer
  producer = Producer({'bootstrap.servers': bootstrap, 'linger.ms': 0})
  delivered = []

  def on_delivery(err, msg):
    assert err is None, err
    delivered.append((msg.partition(), msg.offset()))

  for partition, value in records:
    if isinstance(value, dict):
      value = json.dumps(value).encode()
    producer.produce(topic, value=value, partition=partition,
                     on_delivery=on_delivery)
  assert producer.flush(30) == 0
  return sorted(delivered)


def _committed(bootstrap, topic, group, partitions):
  from confluent_kafka import Consumer, TopicPartition
  c = Consumer({'bootstrap.servers': bootstrap, 'group.id': group})
  try:
    return {
        tp.partition: tp.offset
        for tp in c.committed(
            [TopicPartition(topic, p) for p in range(partitions)], timeout=10)
    }
  finally:
    c.close()


def _record_rows(r):
  """A RawRecord as one row: partition, offset, payload, watermark, time."""
  return [[r.partition, r.position, r.payload.decode('utf-8', 'replace'),
           r.source_watermark_ms, r.transport_time_ms]]


def _batch_rows(batch):
  """A RawBatch (emit_batches=True) as the rows _record_rows makes."""
  return [[batch.partition, o, p.decode('utf-8', 'replace'), w, t]
          for o, p, w, t in zip(batch.offsets, batch.payloads,
                                batch.watermarks_ms, batch.transport_ms)]


def _run_collect(bootstrap, topic, group, out_path, **read_kwargs):
  """Reads the topic in a streaming pipeline, appending a row per record
  (with its element timestamp) to out_path."""
  rows = _batch_rows if read_kwargs.get('emit_batches') else _record_rows
  p = beam.Pipeline(options=streaming_options())
  (p
   | ReadFromKafkaNative(bootstrap, topic, group, **read_kwargs)
   | beam.FlatMap(rows)
   | beam.ParDo(AppendJson(out_path)))
  return p.run()


def _read_all(bootstrap, topic, group, out_path, count, timeout_s=45,
              **read_kwargs):
  """Streams the topic until `count` rows are out, 2 s more (anything read
  twice would show up then), cancels; returns the rows."""
  result = _run_collect(bootstrap, topic, group, out_path, **read_kwargs)
  try:
    assert wait_until(lambda: len(read_lines(out_path)) >= count, timeout_s,
                      result), 'read %d of %d' % (len(read_lines(out_path)),
                                                  count)
    time.sleep(2)
  finally:
    result.cancel()
  return read_lines(out_path)


@pytest.mark.prism
def test_streaming_reads_every_partition_exactly_once(
    kafka_broker, kafka_topic, tmp_path):
  records = [(i % 3, {'order_id': 'o%d' % i, 'event_time': T0 + i * 1000})
             for i in range(30)]
  records.append((1, b'{"order_id": "bad", "event_time": "yesterday"}'))
  records.append((2, b'not json at all'))
  expected = _produce(kafka_broker.bootstrap, kafka_topic, records)
  rows = _read_all(kafka_broker.bootstrap, kafka_topic, 'g-' + kafka_topic,
                   str(tmp_path / 'out.jsonl'), len(expected),
                   idle_timeout_s=2)
  got = sorted((r['value'][0], r['value'][1]) for r in rows)
  assert got == expected  # every (partition, offset) once, nothing else
  for r in rows:
    partition, offset, payload, wm_ms, kafka_ms = r['value']
    assert kafka_ms is not None
    if payload.startswith('{"order_id": "o'):
      # Timestamped at the payload's event time.
      assert r['ts_ms'] == json.loads(payload)['event_time']
    else:
      # Unparseable time: still emitted, at the watermark (or Kafka time).
      assert r['ts_ms'] in (wm_ms, kafka_ms)


@pytest.mark.prism
def test_batches_carry_every_record_once_stamped_no_later_than_any(
    kafka_broker, kafka_topic, tmp_path):
  records = [(i % 3, {'order_id': 'o%d' % i, 'event_time': T0 + i * 1000})
             for i in range(60)]
  records.append((1, b'not json at all'))
  expected = _produce(kafka_broker.bootstrap, kafka_topic, records)
  rows = _read_all(kafka_broker.bootstrap, kafka_topic, 'g-' + kafka_topic,
                   str(tmp_path / 'out.jsonl'), len(expected),
                   idle_timeout_s=2, emit_batches=True)
  assert sorted((r['value'][0], r['value'][1]) for r in rows) == expected
  by_partition = {}
  for r in rows:
    partition, offset, payload, wm_ms, kafka_ms = r['value']
    assert kafka_ms is not None
    if payload.startswith('{"order_id": "o'):
      # A batch is stamped at its earliest record, never after one.
      assert r['ts_ms'] <= json.loads(payload)['event_time']
    by_partition.setdefault(partition, []).append((offset, wm_ms))
  for seq in by_partition.values():
    # Each record's source watermark: never backwards along the partition.
    marks = [w for _, w in sorted(seq) if w is not None]
    assert marks == sorted(marks)


@pytest.mark.prism
def test_idle_partitions_do_not_hold_back_the_watermark(
    kafka_broker, kafka_topic, tmp_path):
  # Only partition 0 of 3 gets data: five events in [T0, T0+10s) and one at
  # T0+60s that moves partition 0's watermark past the first window; the
  # window must close (ON_TIME, complete) although partitions 1 and 2 stay
  # empty. Every partition reports the lowest watermark of the source
  # (WatermarkHolds), so the empty partitions hold the window open until
  # the idle rule moves them; the rule itself is pinned down by
  # test_idle_rule_moves_partition_watermark_with_the_clock below.
  records = [(0, {'order_id': 'o%d' % i, 'event_time': T0 + i * 1000})
             for i in range(5)]
  records.append((0, {'order_id': 'late-one', 'event_time': T0 + 60000}))
  _produce(kafka_broker.bootstrap, kafka_topic, records)
  first = _first_window_panes(kafka_broker.bootstrap, kafka_topic,
                              str(tmp_path / 'windows.jsonl'), 10, 45,
                              idle_timeout_s=2)
  assert first[0]['value'] == ['all', 5]
  assert first[0]['timing'] == beam.utils.windowed_value.PaneInfoTiming.ON_TIME


def _first_window_panes(bootstrap, topic, out, window_s, timeout_s,
                        **source_args):
  """Counts a topic's records per fixed window on Prism; returns the panes
  of the window starting at T0, once it has closed (and 2 s more)."""
  p = beam.Pipeline(options=streaming_options())
  (p
   | ReadFromKafkaNative(bootstrap, topic, 'g-' + topic, **source_args)
   | beam.WindowInto(window.FixedWindows(window_s))
   | beam.Map(lambda r: ('all', 1))
   | beam.CombinePerKey(sum)
   | beam.ParDo(AppendJson(out)))
  result = p.run()
  try:
    assert wait_until(
        lambda: any(r['window'][0] == T0 for r in read_lines(out)),
        timeout_s, result), 'window at T0 never closed: %s' % read_lines(out)
    time.sleep(2)
  finally:
    result.cancel()
  return [r for r in read_lines(out) if r['window'][0] == T0]


@pytest.mark.prism
def test_a_partition_far_ahead_does_not_make_a_lagging_one_late(
    kafka_broker, kafka_topic_factory, tmp_path):
  """The stage watermark must be the minimum over the partitions.

  Partition 0 holds a few events two days ahead and is read in one bundle;
  partition 1 holds 1,200 events of the first hour, read 100 per bundle.
  With no allowed lateness, a stage watermark that followed partition 0
  (Prism 2.77 takes it from the bundle that finished last) would close the
  first hour while partition 1 is still being read, and the runner would
  drop the rest of it. The source holds every partition's reported
  watermark at the lowest one read in the worker, so the hour closes once,
  complete.
  """
  topic = kafka_topic_factory(partitions=2)
  ahead = [(0, {'order_id': 'a%d' % i, 'event_time': T0 + 2 * 86400000 + i})
           for i in range(20)]
  behind = [(1, {'order_id': 'b%d' % i, 'event_time': T0 + i * 1000})
            for i in range(1200)]
  # The last record of partition 1 moves its watermark past the first hour.
  behind.append((1, {'order_id': 'b-end', 'event_time': T0 + 3 * 86400000}))
  _produce(kafka_broker.bootstrap, topic, ahead + behind)
  first = _first_window_panes(kafka_broker.bootstrap, topic,
                              str(tmp_path / 'windows.jsonl'), 3600, 60,
                              idle_timeout_s=600, max_records_per_read=100)
  assert [pane['value'] for pane in first] == [['all', 1200]]


def test_bounded_mode_stops_at_end_offsets_seen_at_start(
    kafka_broker, kafka_topic, tmp_path):
  bootstrap = kafka_broker.bootstrap
  before = _produce(
      bootstrap, kafka_topic,
      [(i % 3, {'order_id': 'o%d' % i, 'event_time': T0 + i})
       for i in range(20)])
  group = 'g-' + kafka_topic

  marker = str(tmp_path / 'produced-more')

  def produce_more_once(record):
    # Runs inside the pipeline after the first record was read, i.e. after
    # the end offsets were taken: these records must NOT be read. (A file
    # marker, as the function is unpickled once per bundle/worker.)
    try:
      os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
    except FileExistsError:
      return record
    if True:  # pylint: disable=using-constant-test
      _produce(bootstrap, kafka_topic,
               [(i % 3, {'order_id': 'after%d' % i, 'event_time': T0})
                for i in range(9)])
    return record

  started = time.monotonic()
  p = beam.Pipeline(options=PipelineOptions(['--runner=FnApiRunner']))
  got = (p
         | ReadFromKafkaNative(bootstrap, kafka_topic, group, bounded=True)
         | beam.Map(produce_more_once)
         | beam.Map(lambda r: (r.partition, r.position)))
  assert_that(got, equal_to(before))
  result = p.run()
  result.wait_until_finish()
  assert str(result.state) == 'DONE'
  assert time.monotonic() - started < 60
  # The bundle finalizer committed exactly what was read ...
  ends = {}
  for partition, offset in before:
    ends[partition] = max(ends.get(partition, -1), offset + 1)
  assert _committed(bootstrap, kafka_topic, group, 3) == ends

  # ... so a second bounded run of the group reads only the 9 later records.
  p2 = beam.Pipeline(options=PipelineOptions(['--runner=FnApiRunner']))
  got2 = (p2
          | ReadFromKafkaNative(bootstrap, kafka_topic, group, bounded=True)
          | beam.Map(lambda r: json.loads(r.payload)['order_id']))
  assert_that(got2, equal_to(['after%d' % i for i in range(9)]))
  p2.run().wait_until_finish()


@pytest.mark.prism
def test_restart_resumes_from_committed_offsets(
    kafka_broker, kafka_topic, tmp_path):
  bootstrap = kafka_broker.bootstrap
  group = 'g-' + kafka_topic
  first = _produce(bootstrap, kafka_topic,
                   [(i % 3, {'order_id': 'a%d' % i, 'event_time': T0 + i})
                    for i in range(15)])
  out1 = str(tmp_path / 'run1.jsonl')
  result = _run_collect(bootstrap, kafka_topic, group, out1)
  try:
    assert wait_until(lambda: len(read_lines(out1)) >= 15, 40, result)
    # Offsets are committed by the bundle finalizer shortly after.
    assert wait_until(
        lambda: _committed(bootstrap, kafka_topic, group, 3) == {
            0: 5, 1: 5, 2: 5}, 20, result), _committed(
                bootstrap, kafka_topic, group, 3)
  finally:
    result.cancel()
  assert sorted((r['value'][0], r['value'][1]) for r in read_lines(out1)) == first

  second = _produce(bootstrap, kafka_topic,
                    [(i % 3, {'order_id': 'b%d' % i, 'event_time': T0 + i})
                     for i in range(6)])
  # A re-read of committed records would show up in the rows.
  rows = _read_all(bootstrap, kafka_topic, group,
                   str(tmp_path / 'run2.jsonl'), 6, timeout_s=40)
  got = sorted((r['value'][0], r['value'][1]) for r in rows)
  assert got == second
  assert all(json.loads(r['value'][2])['order_id'].startswith('b')
             for r in rows)


def test_sink_writes_keyed_json_rows(kafka_broker, kafka_topic_factory):
  from confluent_kafka import Consumer
  bootstrap = kafka_broker.bootstrap
  topic = kafka_topic_factory(partitions=1)
  for suffix in ('.top_products', '.dead_letters'):
    kafka_broker.create_topic(topic + suffix, 1)
  result = CategoryResult(0, 3600000, '', 'books', 2, 3, Decimal('10.005'), 2,
                          Decimal('5.0025'), 'ON_TIME', 0, True)
  top = TopProduct(0, 3600000, '', 1, 'P1', 'Book', 'books', 2, 3,
                   Decimal('10.004'), 'ON_TIME', 0, True)
  dead = DeadLetter('bad_time', 'event_time', '{}', 'orders', 2, 17)
  p = beam.Pipeline(options=PipelineOptions(['--runner=FnApiRunner']))
  _ = {
      'results': p | 'R' >> beam.Create([result]),
      'top_products': p | 'T' >> beam.Create([top]),
      'dead_letters': p | 'D' >> beam.Create([dead]),
  } | WriteToKafka(bootstrap, topic)
  p.run().wait_until_finish()

  c = Consumer({'bootstrap.servers': bootstrap, 'group.id': 'check-' + topic,
                'auto.offset.reset': 'earliest'})
  c.subscribe([topic, topic + '.top_products', topic + '.dead_letters'])
  got = {}
  deadline = time.monotonic() + 30
  while len(got) < 3 and time.monotonic() < deadline:
    m = c.poll(0.5)
    if m is not None and m.error() is None:
      got[m.topic()] = (m.key().decode(), json.loads(m.value()))
  c.close()
  assert got[topic][0] == '0|3600000||books'
  assert got[topic][1]['revenue_usd'] == '10.01'  # HALF_UP to cents
  assert got[topic][1]['avg_order_value_usd'] == '5.00'
  assert got[topic][1]['pane_timing'] == 'ON_TIME'
  assert got[topic + '.top_products'] == (
      '0|3600000||1', dict(got[topic + '.top_products'][1],
                           revenue_usd='10.00'))
  assert got[topic + '.dead_letters'][0] == 'orders|2|17'
  assert got[topic + '.dead_letters'][1]['reason'] == 'bad_time'


def test_replay_tool_produces_every_line(kafka_broker, tmp_path):
  from confluent_kafka import Consumer, TopicPartition
  from tools.replay_to_kafka import main
  src = tmp_path / 'orders.jsonl'
  lines = [json.dumps({'order_id': 'o%d' % i, 'event_time': T0 + (i * 7919) %
                       30000}) for i in range(50)]
  lines.append('{"order_id": "dirty", "event_time": "not a time"}')
  lines.append('not json')
  src.write_text('\n'.join(lines) + '\n\n')
  topic = 'replay-%d' % int(time.time() * 1000)
  assert main(['--input', str(src), '--topic', topic, '--bootstrap-servers',
               kafka_broker.bootstrap, '--shuffle-seconds', '5', '--seed',
               '7', '--partitions', '2']) == 0
  c = Consumer({'bootstrap.servers': kafka_broker.bootstrap,
                'group.id': 'check-' + topic, 'auto.offset.reset': 'earliest'})
  c.assign([TopicPartition(topic, 0, 0), TopicPartition(topic, 1, 0)])
  got, per_partition = [], {}
  deadline = time.monotonic() + 30
  while len(got) < len(lines) and time.monotonic() < deadline:
    m = c.poll(0.5)
    if m is not None and m.error() is None:
      got.append(m.value().decode())
      try:
        t = json.loads(m.value())['event_time']
      except ValueError:
        continue
      if isinstance(t, int):
        per_partition.setdefault(m.partition(), []).append(t)
  c.close()
  assert sorted(got) == sorted(lines)  # every line, dirty ones included
  # Bounded disorder: in the order a reader sees, no event is 5 s or more
  # older than an event before it.
  for times in per_partition.values():
    newest = times[0]
    for t in times:
      assert newest - t < 5000
      newest = max(newest, t)


class _DirectRead:
  """Drives the reading DoFn directly on one partition (real broker, Beam's
  own tracker and estimator wrappers): each read() is one process call,
  resumed where the last one self-checkpointed."""

  def __init__(self, bootstrap: str, topic: str, idle_timeout_s: float = 1.0,
               poll_timeout_s: float = 0.2, max_read_s: float = 1.0):
    from apache_beam.utils.timestamp import MIN_TIMESTAMP
    from transforms.kafka_client import KafkaConnection
    from transforms.sources.kafka import (
        PartitionReading, PartitionRestrictionProvider, PartitionSpec,
        ReadPartitionUnboundedFn)
    from transforms.sources.unbounded import WatermarkRule
    self.settings = PartitionReading(
        KafkaConnection(bootstrap), 'g-' + topic, bounded=False,
        event_time='payload', event_time_field='event_time',
        watermark=WatermarkRule(idle_timeout_s=idle_timeout_s, idle_lag_s=5.0,
                                max_out_of_orderness_s=0),
        poll_timeout_s=poll_timeout_s, max_read_s=max_read_s,
        max_records_per_read=100, commit_offsets=False)
    self.fn = ReadPartitionUnboundedFn(self.settings)
    self.fn.setup()
    self.provider = PartitionRestrictionProvider()
    self.spec = PartitionSpec(topic, 0, 0, None)
    self.restriction = self.provider.initial_restriction(self.spec)
    self.state = (MIN_TIMESTAMP, None)

  def read(self):
    """(records emitted, the partition's watermark after the read)."""
    from apache_beam.runners.sdf_utils import (
        RestrictionTrackerView, ThreadsafeRestrictionTracker,
        ThreadsafeWatermarkEstimator)
    from transforms.sources.kafka import PartitionWatermarkEstimator

    class _Finalizer:
      def register(self, callback):
        pass

    tracker = ThreadsafeRestrictionTracker(
        self.provider.create_tracker(self.restriction))
    wm = ThreadsafeWatermarkEstimator(PartitionWatermarkEstimator(self.state))
    out = list(self.fn._read(self.spec, RestrictionTrackerView(tracker), wm,
                             _Finalizer()))
    deferred = tracker.deferred_status()
    assert deferred is not None  # unbounded: always self-checkpoints
    self.restriction = deferred[0]  # the residual: where the next read resumes
    self.state = wm.get_estimator_state()
    return out, self.state[0]


def test_idle_rule_moves_partition_watermark_with_the_clock(
    kafka_broker, kafka_topic_factory):
  """Pins the idle rule down: an empty partition holds the watermark at MIN
  until idle_timeout_s, then follows now - idle_lag_s, never backwards; a
  record read afterwards is emitted with that watermark."""
  from apache_beam.utils.timestamp import MIN_TIMESTAMP
  topic = kafka_topic_factory(partitions=1)
  reader = _DirectRead(kafka_broker.bootstrap, topic)
  try:
    out, wm1 = reader.read()  # empty partition: idle clock starts
    assert out == [] and wm1 == MIN_TIMESTAMP
    time.sleep(1.2)
    before = time.time()
    out, wm2 = reader.read()  # idle for > 1 s: wm = now - 5 s
    assert out == []
    assert before - 5.5 <= wm2.micros / 1e6 <= time.time() - 5 + 0.01
    _produce(kafka_broker.bootstrap, topic,
             [(0, {'order_id': 'old', 'event_time': T0})])
    out, wm3 = reader.read()
    assert len(out) == 1
    rec = out[0].value
    assert out[0].timestamp.micros // 1000 == T0  # late: behind the watermark
    assert rec.source_watermark_ms == wm2.micros // 1000
    assert wm3 >= wm2  # never backwards
  finally:
    reader.fn.teardown()


def test_a_caught_up_read_hands_its_records_on_at_once(
    kafka_broker, kafka_topic_factory):
  """A read that has taken every record the broker holds ends there: the
  runner moves a bundle's output on only when the bundle ends, so polling
  once more would hold the records back a whole poll timeout (20 s here)."""
  topic = kafka_topic_factory(partitions=1)
  _produce(kafka_broker.bootstrap, topic,
           [(0, {'order_id': f'o{i}', 'event_time': T0}) for i in range(3)])
  reader = _DirectRead(kafka_broker.bootstrap, topic, poll_timeout_s=20.0,
                       max_read_s=60.0)
  try:
    started = time.monotonic()
    out, _ = reader.read()
    took = time.monotonic() - started
    assert len(out) == 3
    assert took < 20.0  # not a poll timeout more
  finally:
    reader.fn.teardown()


def test_a_read_handed_to_a_new_dofn_instance_starts_where_the_last_stopped(
    kafka_broker, kafka_topic_factory):
  """The SDK keeps a bundle's DoFns aside until the bundle is finalized
  (Flink: at the next checkpoint), so the next read of a partition runs in a
  fresh instance. It must read on from the consumer the last read left
  positioned, with its prefetched records, not re-assign a consumer whose
  first short poll comes back empty (the partition then waited for a
  checkpoint on Flink)."""
  topic = kafka_topic_factory(partitions=1)
  _produce(kafka_broker.bootstrap, topic,
           [(0, {'order_id': f'o{i}', 'event_time': T0}) for i in range(300)])
  reader = _DirectRead(kafka_broker.bootstrap, topic, poll_timeout_s=0.001)
  first = reader.fn
  try:
    deadline = time.monotonic() + 60
    out: list = []
    while not out and time.monotonic() < deadline:  # a new consumer connects
      out, _ = reader.read()
    assert len(out) == 100  # max_records_per_read; the rest is prefetched
    reader.fn = type(first)(reader.settings)  # the next bundle's DoFn
    reader.fn.setup()
    out, _ = reader.read()
    assert [r.value.position for r in out] == list(range(100, 200))
  finally:
    reader.fn.teardown()
    first.teardown()
