"""--product_pairs: planted pairs are found, and every figure is mlxtend's.

The generator plants two pairs (an order of A mostly followed by one of B
by the same customer) in messy data. The baskets are rebuilt independently:
the cleaned orders of tests/reference.py, grouped per customer into
sessions here; mlxtend's apriori and association_rules on those baskets
give the support, confidence and lift the pipeline must output.
"""
import collections
import os
import pickle

import apache_beam as beam
import pandas as pd
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from mlxtend.frequent_patterns import apriori, association_rules
from mlxtend.preprocessing import TransactionEncoder

from pipelines.sales import build_sales_graph
from pipelines.wiring import source_for
from tests.helpers import config
from tests.reference import compute_expected
from tools.generate_orders import write_orders
from transforms.mining.pairs import pair_rules
from transforms.sinks.mined import PRODUCT_PAIRS

pytestmark = pytest.mark.mining

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
CATALOG = os.path.join(ROOT, 'data', 'catalog.csv')
FX = os.path.join(ROOT, 'data', 'fx_rates.csv')
PLANTED = [('P0101', 'P0102'), ('P0040', 'P0020')]
GAP_MS = 1_800_000
DAY_MS = 86_400_000
# Planted pairs reach ~0.8 % of the baskets; chance pairs stay below this.
MIN_SUPPORT = 0.004


def baskets_by_day(path):
  """{day start ms: [basket (set of products)]} from independently cleaned
  orders: per customer, orders less than the gap apart share a session;
  a basket counts on the day its session closes (last order + gap)."""
  orders = compute_expected([path], CATALOG, FX).orders
  per_customer = collections.defaultdict(list)
  for o in orders:
    per_customer[o.customer_id].append((o.event_ms, o.product_id))
  days = collections.defaultdict(list)
  for events in per_customer.values():
    events.sort()
    basket, end = set(), None
    for t, product in events + [(None, None)]:
      if end is not None and (t is None or t >= end):
        close = end - 1
        days[close - close % DAY_MS].append(basket)
        basket, end = set(), None
      if t is not None:
        basket.add(product)
        end = max(end or 0, t + GAP_MS)
  return days


def mlxtend_rules(baskets, min_support):
  """{(antecedent, consequent): (support, confidence, lift)} of pairs."""
  encoder = TransactionEncoder()
  frame = pd.DataFrame(encoder.fit(baskets).transform(baskets),
                       columns=encoder.columns_)
  frequent = apriori(frame, min_support=min_support, use_colnames=True,
                     max_len=2)
  if not any(len(s) == 2 for s in frequent['itemsets']):
    return {}
  rules = association_rules(frequent, num_itemsets=len(baskets),
                            metric='support', min_threshold=min_support)
  return {(next(iter(r.antecedents)), next(iter(r.consequents))):
          (r.support, r.confidence, r.lift) for r in rules.itertuples()}


def approx(rules):
  return {k: tuple(round(v, 9) for v in vs) for k, vs in rules.items()}


def keep(rows, path):
  with open(path, 'wb') as f:
    pickle.dump(rows, f)


@pytest.fixture(scope='module')
def planted(tmp_path_factory):
  path = str(tmp_path_factory.mktemp('pairs') / 'orders.jsonl')
  write_orders(path, 6000, 11, days=1.0,
               planted_pairs=PLANTED)
  cfg = config((f'--input={path}', '--product_pairs',
                f'--min_pair_support={MIN_SUPPORT}', '--pair_partners=50'))
  kept = path + '.pairs.pickle'
  with beam.Pipeline(options=PipelineOptions([])) as pipeline:
    outputs = build_sales_graph(pipeline, cfg, source_for(cfg))
    _ = (outputs[PRODUCT_PAIRS] | beam.combiners.ToList()
         | beam.Map(keep, kept))
  with open(kept, 'rb') as f:
    return baskets_by_day(path), pickle.load(f)


def test_planted_pairs_are_found_with_mlxtend_figures(planted):
  days, rows = planted
  first, last = min(days), max(days)
  scopes = {(d, d + DAY_MS): b for d, b in days.items()}
  scopes[(first, last + DAY_MS)] = [b for d in days for b in days[d]]
  got = collections.defaultdict(dict)
  for r in rows:
    got[(r['window_start'], r['window_end'])][
        (r['product_id'], r['partner_id'])] = (r['support'], r['confidence'],
                                               r['lift'])
    assert r['total_baskets'] == len(scopes[(r['window_start'],
                                             r['window_end'])])
  for scope, baskets in scopes.items():
    assert approx(got.get(scope, {})) == approx(
        mlxtend_rules(baskets, MIN_SUPPORT)), scope
  # Over the whole run, the planted pairs are the pairs found, both ways.
  whole = got[(first, last + DAY_MS)]
  assert set(whole) == {p for a, b in PLANTED for p in ((a, b), (b, a))}
  for a, b in PLANTED:
    assert whole[(a, b)][1] > 0.5  # most of A's baskets hold B
    assert whole[(a, b)][2] > 10  # far more often than by chance


def test_pair_rules_equal_mlxtend_on_the_pairs_seen_twice(planted):
  baskets = [b for day in planted[0].values() for b in day]
  stats = (len(baskets),
           collections.Counter(p for b in baskets for p in b),
           collections.Counter(tuple(sorted((x, y))) for b in baskets
                               for x in b for y in b if x < y), 0, 0)
  support = 2 / len(baskets)  # every pair seen at least twice
  rows = pair_rules(stats, support * 0.999, partners=10_000)
  ours = {(r['product_id'], r['partner_id']):
          (r['support'], r['confidence'], r['lift']) for r in rows}
  assert approx(ours) == approx(mlxtend_rules(baskets, support * 0.999))


def test_each_product_keeps_its_n_partners_of_highest_lift(planted):
  """--pair_partners N: the full rule list (mlxtend-checked above) cut by
  hand to each product's N partners by lift, then baskets, then id."""
  baskets = [b for day in planted[0].values() for b in day]
  stats = (len(baskets),
           collections.Counter(p for b in baskets for p in b),
           collections.Counter(tuple(sorted((x, y))) for b in baskets
                               for x in b for y in b if x < y), 0, 0)
  everything = pair_rules(stats, 0.0, partners=10_000)
  by_product = collections.defaultdict(list)
  for row in everything:
    by_product[row['product_id']].append(row)
  assert max(len(rows) for rows in by_product.values()) > 3  # a real cut
  for n in (1, 3):
    expected = []
    for product in sorted(by_product):
      best = sorted(by_product[product], key=lambda r: (
          -r['lift'], -r['baskets'], r['partner_id']))[:n]
      expected += [(product, r['partner_id'], k)
                   for k, r in enumerate(best, 1)]
    got = [(r['product_id'], r['partner_id'], r['rank'])
           for r in pair_rules(stats, 0.0, partners=n)]
    assert got == expected
