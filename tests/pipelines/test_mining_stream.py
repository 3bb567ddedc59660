"""--anomalies and --product_pairs streaming (TestStream) = batch.

Twenty hourly windows of a steady trade (10, 11, 12, 10, ... orders), with
a planted drop (2 orders, checkout broken) and a planted spike (60 orders,
a bot). Every order is a session of two products bought a few seconds
apart. The stream (record flow, watermark per window, one early pane on the
way) must flag exactly the drop and the spike windows, and its settled rows
must equal a bounded run's (columnar flow) on the same orders; so must its
final product_pairs of the closed sessions.
"""
import json
import pickle

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import FixedWindows, TimestampedValue

from pipelines.sales import build_sales_graph
from pipelines.wiring import source_for
from tests.helpers import config, order, raw
from transforms.mining.anomalies import WARM_UP_WINDOWS, SeriesScorer
from transforms.sinks.mined import ANOMALIES, PRODUCT_PAIRS

pytestmark = pytest.mark.mining

HOUR_S = 3600
WINDOWS = 20
DROP, SPIKE = 12, 17  # planted windows
PANE = ('pane_timing', 'pane_index', 'is_final')


def orders_in(hour: int) -> int:
  return {DROP: 2, SPIKE: 60}.get(hour, 10 + hour % 3)


def planted_orders():
  """[(event time s, order dict)] in time order: per order a customer
  buying P0001 then, 20 s later, P0002 (one session, one basket)."""
  out = []
  for hour in range(WINDOWS):
    for k in range(orders_in(hour)):
      t = hour * HOUR_S + 10 + k * 50
      customer = f'c{hour}-{k}'
      for product, dt in (('P0001', 0), ('P0002', 20)):
        out.append((t + dt, order(order_id=f'{customer}-{product}',
                                  customer_id=customer, product_id=product,
                                  event_time=(t + dt) * 1000)))
  return out


def settled(rows):
  """The rows of settled panes, without their pane columns."""
  return [{k: v for k, v in r.items() if k not in PANE} for r in rows
          if r['pane_timing'] != 'EARLY']


def keep(rows, path):
  with open(path, 'wb') as f:
    pickle.dump(rows, f)


MINING = ('--anomalies', '--product_pairs', '--min_pair_support=0.0001')


@pytest.fixture(scope='module')
def batch(tmp_path_factory):
  """The bounded run's anomalies and product_pairs rows."""
  folder = tmp_path_factory.mktemp('stream')
  path = folder / 'orders.jsonl'
  path.write_text(''.join(json.dumps(o) + '\n' for _, o in planted_orders()))
  cfg = config((f'--input={path}',) + MINING)
  kept = {k: str(folder / f'{k}.pickle') for k in (ANOMALIES, PRODUCT_PAIRS)}
  with beam.Pipeline(options=PipelineOptions([])) as pipeline:
    outputs = build_sales_graph(pipeline, cfg, source_for(cfg))
    for kind, file in kept.items():
      _ = (outputs[kind] | f'All{kind}' >> beam.combiners.ToList()
           | f'Keep{kind}' >> beam.Map(keep, file))
  got = {}
  for kind, file in kept.items():
    with open(file, 'rb') as f:
      got[kind] = pickle.load(f)
  return got


def test_batch_flags_exactly_the_planted_windows(batch):
  rows = batch[ANOMALIES]
  assert {(r['category'], r['metric']) for r in rows} == {
      (c, m) for c in ('office', 'electronics', '__all__')
      for m in ('revenue_usd', 'orders')}
  flagged = {r['window_start'] // 1000 // HOUR_S for r in rows
             if r['is_anomaly']}
  assert flagged == {DROP, SPIKE}
  for r in rows:  # every series flags both planted windows
    if r['window_start'] // 1000 // HOUR_S in (DROP, SPIKE):
      assert r['is_anomaly'] and r['score'] >= r['threshold'], r
  pairs = {(r['product_id'], r['partner_id']): r for r in batch[PRODUCT_PAIRS]}
  baskets = sum(orders_in(h) for h in range(WINDOWS))
  assert set(pairs) == {('P0001', 'P0002'), ('P0002', 'P0001')}
  assert pairs[('P0001', 'P0002')]['baskets'] == baskets
  assert pairs[('P0001', 'P0002')]['confidence'] == 1.0


def test_stream_equals_batch_for_settled_anomalies_and_closed_sessions(batch):
  stream = TestStream().advance_watermark_to(0)
  events = planted_orders()
  position = 0
  for hour in range(WINDOWS):
    window_events = [(t, o) for t, o in events if t // HOUR_S == hour]
    records = []
    for t, o in window_events:
      position += 1
      records.append(TimestampedValue(
          raw(o, position=position, watermark_ms=hour * HOUR_S * 1000), t))
    stream = stream.add_elements(records)
    if hour == 5:
      stream = stream.advance_processing_time(61)  # an EARLY pane
    stream = stream.advance_watermark_to((hour + 1) * HOUR_S)
  stream = stream.advance_watermark_to_infinity()
  cfg = config(('--streaming', '--catalog_refresh_seconds=0',
                '--engine=records') + MINING, streaming=True)
  pipeline = beam.Pipeline(options=PipelineOptions(['--streaming']))
  outputs = build_sales_graph(pipeline, cfg, stream)
  for kind in (ANOMALIES, PRODUCT_PAIRS):
    rows = (outputs[kind]
            | f'OneWindow{kind}' >> beam.WindowInto(FixedWindows(30 * 86400))
            | f'Settled{kind}' >> beam.FlatMap(lambda r: settled([r])))
    assert_that(rows, equal_to(settled(batch[kind])), label=f'Check{kind}')
  pipeline.run().wait_until_finish()


def test_early_panes_are_not_learned_and_late_ones_rescore():
  scorer = SeriesScorer('zscore')
  base = {'window_start': 0, 'window_end': 1, 'category': 'x',
          'metric': 'orders', 'pane_index': 0, 'is_final': False}
  for i, value in enumerate([10, 11, 12] * (WARM_UP_WINDOWS // 3 + 2)):
    row = dict(base, window_start=i, value=value, pane_timing='ON_TIME')
    assert scorer.observe(row)['is_anomaly'] is False
  assert scorer.observe(dict(base, value=1000, pane_timing='EARLY')) is None
  late = scorer.observe(dict(base, value=1000, pane_timing='LATE'))
  assert late['rescored'] and late['is_anomaly']
  # Neither the early nor the late 1000 was learned: 11 is normal still.
  assert scorer.observe(dict(base, value=11, pane_timing='ON_TIME'))[
      'score'] < 3
