"""MineSales: the optional mining steps, from the orders both flows share.

    priced orders (after ConvertToUsd) -> CustomerSegments
                                       -> ToPurchases -> ProductPairs
    sales_by_category rows (AggregateSales)           -> AnomalyAlerts

Each step runs only when its flag is on (MiningConfig); the outputs dict
holds only the kinds of the steps taken, so a sink writes nothing new when
every flag is off.
"""
from __future__ import annotations

from typing import Dict

import apache_beam as beam

from transforms.aggregate import RESULTS
from transforms.mining.anomalies import AnomalyAlerts
from transforms.mining.config import MiningConfig
from transforms.mining.pairs import ProductPairs
from transforms.mining.purchases import ToPurchases
from transforms.mining.segments import CustomerSegments
from transforms.sinks.mined import ANOMALIES, PRODUCT_PAIRS
from transforms.windowing import WindowPolicy

Outputs = Dict[str, beam.PCollection]


class MineSales(beam.PTransform):
  """{'orders': priced orders of either flow, 'results': CategoryResult
  rows} -> the mined kinds' PCollections (transforms/sinks/mined.py)."""

  def __init__(self, config: MiningConfig, policy: WindowPolicy) -> None:
    super().__init__()
    self._config = config
    self._policy = policy

  def expand(self, inputs: Outputs) -> Outputs:
    config = self._config
    out: Outputs = {}
    if config.segments:
      out.update(inputs['orders']
                 | 'CustomerSegments' >> CustomerSegments(config.segments))
    if config.product_pairs:
      policy = self._policy
      out[PRODUCT_PAIRS] = (
          inputs['orders']
          | 'ToPurchases' >> ToPurchases(stamped=not policy.bounded)
          | 'ProductPairs' >> ProductPairs(
              policy.gap_seconds, config.min_pair_support,
              config.pair_partners, policy.bounded,
              policy.early_firing_seconds))
    if config.anomalies:
      out[ANOMALIES] = inputs[RESULTS] | 'AnomalyAlerts' >> AnomalyAlerts(
          config.anomaly_detector, self._policy.bounded)
    return out
