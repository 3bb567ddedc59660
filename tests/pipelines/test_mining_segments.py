"""--segments K: planted customer groups are recovered by the real graph.

Four groups of customers with clearly different recency, frequency and
monetary value are written as JSON Lines; the graph (columnar and record
flows) clusters them. Expected: the frequency and USD of every customer as
plain Python sums them, the adjusted Rand index (scikit-learn) of the
segments against the planted groups at least ARI_BOUND, each planted
group's documented label, and the same segments from both flows.
"""
import json
import pickle
import random
from decimal import Decimal

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from sklearn.metrics import adjusted_rand_score

from pipelines.sales import build_sales_graph
from pipelines.wiring import source_for
from tests.helpers import config, order
from transforms.mining.segments import segment_customers
from transforms.sinks.mined import CUSTOMER_SEGMENTS, SEGMENT_SUMMARY

pytestmark = pytest.mark.mining

# docs/mining.md: planted groups this far apart must be recovered at least
# this well (1.0 = identical partitions).
ARI_BOUND = 0.9
END_MS = 1_796_342_400_000  # 2026-12-03T00:00:00Z
DAY_MS = 86_400_000
# group: (customers, orders per customer, days before the end of the last
# order, unit price USD, expected label)
GROUPS = {
    'champions': (20, (20, 30), (0, 2), (90, 110)),
    'at risk': (20, (8, 12), (40, 50), (40, 60)),
    'new': (20, (1, 2), (0, 2), (10, 20)),
    'lost': (20, (1, 2), (80, 90), (10, 20)),
}


def planted_orders(seed: int = 7):
  """(orders as dicts, {customer: group})."""
  rng = random.Random(seed)
  orders, planted = [], {}
  for group, (n, freq, days, price) in GROUPS.items():
    for i in range(n):
      customer = f'{group.replace(" ", "_")}-{i:02d}'
      planted[customer] = group
      last = END_MS - int(rng.uniform(*days) * DAY_MS)
      for j in range(rng.randint(*freq)):
        t = last - j * rng.randint(1, 3) * DAY_MS
        orders.append(order(order_id=f'{customer}-{j}', customer_id=customer,
                            unit_price=f'{rng.uniform(*price):.2f}',
                            quantity=1, currency='USD', event_time=t))
  # The run's last order, at END_MS: recency is counted from it.
  orders.append(order(order_id='end', customer_id='champions-00',
                      unit_price='100.00', quantity=1, currency='USD',
                      event_time=END_MS))
  rng.shuffle(orders)
  return orders, planted


@pytest.fixture(scope='module')
def planted(tmp_path_factory):
  orders, groups = planted_orders()
  path = tmp_path_factory.mktemp('segments') / 'orders.jsonl'
  path.write_text(''.join(json.dumps(o) + '\n' for o in orders))
  return str(path), orders, groups


def keep(rows, path):
  with open(path, 'wb') as f:
    pickle.dump(rows, f)


def run_segments(path: str, engine: str):
  """The customer_segments and segment_summary rows of one bounded run."""
  kept = {k: f'{path}.{engine}.{k}.pickle'
          for k in (CUSTOMER_SEGMENTS, SEGMENT_SUMMARY)}
  cfg = config((f'--input={path}', '--segments=4', f'--engine={engine}'))
  with beam.Pipeline(options=PipelineOptions([])) as pipeline:
    outputs = build_sales_graph(pipeline, cfg, source_for(cfg))
    for kind in (CUSTOMER_SEGMENTS, SEGMENT_SUMMARY):
      _ = (outputs[kind]
           | f'All{kind}' >> beam.combiners.ToList()
           | f'Keep{kind}' >> beam.Map(keep, kept[kind]))
  got = []
  for kind in (CUSTOMER_SEGMENTS, SEGMENT_SUMMARY):
    with open(kept[kind], 'rb') as f:
      got.append(pickle.load(f))
  return got


@pytest.fixture(scope='module')
def arrow_run(planted):
  return run_segments(planted[0], 'arrow')


def test_planted_groups_are_recovered_with_documented_labels(planted,
                                                            arrow_run):
  _, orders, groups = planted
  rows, summary = arrow_run
  # Frequency and money per customer, summed independently.
  expected = {}
  for o in orders:
    n, usd = expected.get(o['customer_id'], (0, Decimal(0)))
    expected[o['customer_id']] = (n + 1, usd + Decimal(o['unit_price']))
  assert {r['customer_id']: (r['frequency'], r['monetary_usd'])
          for r in rows} == expected
  customers = sorted(groups)
  by_id = {r['customer_id']: r for r in rows}
  ari = adjusted_rand_score([groups[c] for c in customers],
                            [by_id[c]['segment'] for c in customers])
  assert ari >= ARI_BOUND
  for group in GROUPS:
    labels = {by_id[c]['label'] for c in customers if groups[c] == group}
    assert labels == {group}, (group, labels)
  assert sorted(s['customers'] for s in summary) == [20, 20, 20, 20]
  assert {s['segment'] for s in summary} == {1, 2, 3, 4}
  assert summary and min(summary, key=lambda s: s['segment'])[
      'label'] == 'champions'  # numbered by money, highest first


def test_same_input_gives_same_segments_in_both_flows(planted, arrow_run):
  records = run_segments(planted[0], 'records')
  key = lambda r: r.get('customer_id', r.get('segment'))  # noqa: E731
  for a, b in zip(arrow_run, records):
    assert sorted(a, key=key) == sorted(b, key=key)
  # The clustering itself, twice on the same customers, in another order.
  customers = [(r['customer_id'], (r['frequency'], r['monetary_usd'],
                                   END_MS - round(r['recency_days'] * DAY_MS)))
               for r in arrow_run[0]]
  first = segment_customers(customers, 4)
  second = segment_customers(list(reversed(customers)), 4)
  assert first == second
  assert sorted((r['customer_id'], r['segment']) for r in first[0]) == sorted(
      (r['customer_id'], r['segment']) for r in arrow_run[0])
