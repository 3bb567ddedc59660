"""Customer segments: RFM per customer, clustered with k-means, labelled.

Per customer (a bounded run only): recency (days from the customer's last
order to the run's last order), frequency (orders) and monetary value
(USD). The three features are scaled (recency as is, frequency and money as
log1p, each standardized) and clustered with scikit-learn's KMeans (seeded,
n_init=4, customers in id order: the same input gives the same segments).
Segments are numbered 1..K by mean monetary value, highest first, and
labelled by their centroid against the medians of all customers
(``label_for``; docs/mining.md):

  recent  = mean recency <= median recency
  frequent = mean frequency > median frequency
  valuable = mean monetary > median monetary

  recent and frequent and valuable -> champions
  recent and frequent              -> loyal
  recent                           -> new
  frequent or valuable             -> at risk
  otherwise                        -> lost
"""
from __future__ import annotations

import decimal
import statistics
from typing import Dict, Iterable, List, Sequence, Tuple

import apache_beam as beam

from transforms.mining.purchases import Purchase, split_element
from transforms.sinks.mined import CUSTOMER_SEGMENTS, SEGMENT_SUMMARY

DAY_MS = 86_400_000
SEED = 0
N_INIT = 4  # k-means restarts (the best is kept)

# (frequency, monetary USD, last event ms)
Rfm = Tuple[int, decimal.Decimal, int]


def purchase_rfm(purchase: Purchase) -> Rfm:
  """One order's part of its customer's RFM."""
  return (1, purchase.revenue_usd, purchase.event_time_ms)


def merge_rfm(parts: Iterable[Rfm]) -> Rfm:
  """Orders add up, money adds up, the last order is the latest."""
  n, usd, last = 0, decimal.Decimal(0), -1
  for a in parts:
    n, usd, last = n + a[0], usd + a[1], max(last, a[2])
  return (n, usd, last)


def table_rfm(table) -> Iterable[Tuple[str, Rfm]]:
  """merge_rfm of purchase_rfm over the rows of an Arrow table, per
  customer, on columns (count, exact decimal sum, max)."""
  grouped = table.group_by('customer_id', use_threads=False).aggregate(
      [('event_ms', 'count'), ('amount', 'sum'), ('event_ms', 'max')])
  return zip(grouped['customer_id'].to_pylist(),
             zip(grouped['event_ms_count'].to_pylist(),
                 grouped['amount_sum'].to_pylist(),
                 grouped['event_ms_max'].to_pylist()))


class PartialRfmFn(beam.DoFn):
  """Priced orders of either flow -> (customer, partial Rfm)."""

  def process(self, element):
    table, others = split_element(element)
    for p in others:
      yield p.customer_id, purchase_rfm(p)
    if table is not None and table.num_rows:
      yield from table_rfm(table)


class RfmFn(beam.CombineFn):
  """Partial Rfms of one customer -> (orders, USD, last event ms)."""

  def create_accumulator(self) -> Rfm:
    return (0, decimal.Decimal(0), -1)

  def add_input(self, acc: Rfm, part: Rfm) -> Rfm:
    return merge_rfm((acc, part))

  def merge_accumulators(self, accs: Iterable[Rfm]) -> Rfm:
    return merge_rfm(accs)

  def extract_output(self, acc: Rfm) -> Rfm:
    return acc


def label_for(recency: float, frequency: float, monetary: float,
              medians: Tuple[float, float, float]) -> str:
  """The documented label of a segment's centroid (module docstring)."""
  recent = recency <= medians[0]
  frequent = frequency > medians[1]
  valuable = monetary > medians[2]
  if recent and frequent and valuable:
    return 'champions'
  if recent and frequent:
    return 'loyal'
  if recent:
    return 'new'
  if frequent or valuable:
    return 'at risk'
  return 'lost'


def cluster(features: Sequence[Sequence[float]], k: int) -> List[int]:
  """k-means cluster ids (0-based, arbitrary order) of scaled features."""
  import numpy as np
  from sklearn.cluster import KMeans
  from sklearn.preprocessing import StandardScaler
  data = np.asarray(features, dtype=float)
  data[:, 1:] = np.log1p(data[:, 1:])
  k = min(k, len({tuple(row) for row in data.tolist()}))
  if k < 2:
    return [0] * len(data)
  scaled = StandardScaler().fit_transform(data)
  model = KMeans(n_clusters=k, n_init=N_INIT, random_state=SEED)
  return [int(c) for c in model.fit_predict(scaled)]


def segment_customers(customers: Iterable[Tuple[str, Rfm]], k: int
                      ) -> Tuple[List[Dict], List[Dict]]:
  """(customer_segments rows, segment_summary rows) of all customers."""
  ordered = sorted(customers)
  if not ordered:
    return [], []
  as_of = max(rfm[2] for _, rfm in ordered)
  rows = [{'customer_id': cid, 'recency_days': (as_of - last) / DAY_MS,
           'frequency': n, 'monetary_usd': usd}
          for cid, (n, usd, last) in ordered]
  features = [(r['recency_days'], r['frequency'], float(r['monetary_usd']))
              for r in rows]
  ids = cluster(features, k)
  members: Dict[int, List[Dict]] = {}
  for row, c in zip(rows, ids):
    members.setdefault(c, []).append(row)
  medians = tuple(statistics.median(f[i] for f in features) for i in range(3))
  summary = []
  for c, group in members.items():
    n = len(group)
    summary.append({
        'cluster': c, 'customers': n,
        'mean_recency_days': sum(r['recency_days'] for r in group) / n,
        'mean_frequency': sum(r['frequency'] for r in group) / n,
        'mean_monetary_usd': sum(r['monetary_usd'] for r in group) / n})
  # Numbered by mean money, highest first (ties: by fewer days, more orders).
  summary.sort(key=lambda s: (-s['mean_monetary_usd'], s['mean_recency_days'],
                              -s['mean_frequency']))
  number = {}
  for i, s in enumerate(summary, 1):
    number[s.pop('cluster')] = i
    s['segment'] = i
    s['label'] = label_for(s['mean_recency_days'], s['mean_frequency'],
                           float(s['mean_monetary_usd']), medians)
  labels = {s['segment']: s['label'] for s in summary}
  for row, c in zip(rows, ids):
    row['segment'] = number[c]
    row['label'] = labels[number[c]]
  return rows, summary


class SegmentAllFn(beam.DoFn):

  def __init__(self, k: int) -> None:
    self._k = k

  def process(self, customers: List[Tuple[str, Rfm]]):
    rows, summary = segment_customers(customers, self._k)
    yield from rows
    for s in summary:
      yield beam.pvalue.TaggedOutput(SEGMENT_SUMMARY, s)


class CustomerSegments(beam.PTransform):
  """Priced orders of either flow (bounded) -> {'customer_segments': rows,
  'segment_summary': rows} (dicts of transforms/sinks/mined.py)."""

  def __init__(self, k: int) -> None:
    super().__init__()
    self._k = k

  def expand(self, orders: beam.PCollection) -> Dict[str, beam.PCollection]:
    out = (orders
           | 'PartialRfm' >> beam.ParDo(PartialRfmFn())
           | 'RfmPerCustomer' >> beam.CombinePerKey(RfmFn())
           | 'AllCustomers' >> beam.combiners.ToList()
           | 'KMeans' >> beam.ParDo(SegmentAllFn(self._k)).with_outputs(
               SEGMENT_SUMMARY, main=CUSTOMER_SEGMENTS))
    return {CUSTOMER_SEGMENTS: out[CUSTOMER_SEGMENTS],
            SEGMENT_SUMMARY: out[SEGMENT_SUMMARY]}
