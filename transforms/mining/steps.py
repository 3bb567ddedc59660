"""MineSales: the optional mining steps, from the orders both flows share.

    priced orders (after ConvertToUsd) -> ToPurchases -> CustomerSegments
                                                      -> ProductPairs
    sales_by_category rows (AggregateSales)           -> AnomalyAlerts

Each step runs only when its flag is on (MiningConfig); the outputs dict
holds only the kinds of the steps taken, so a sink writes nothing new when
every flag is off.
"""
from __future__ import annotations

from typing import Dict

import apache_beam as beam

from transforms.mining.config import MiningConfig
from transforms.mining.purchases import ToPurchases
from transforms.mining.segments import CustomerSegments

Outputs = Dict[str, beam.PCollection]


class MineSales(beam.PTransform):
  """{'orders': priced orders of either flow, 'results': CategoryResult
  rows} -> the mined kinds' PCollections (transforms/sinks/mined.py)."""

  def __init__(self, config: MiningConfig) -> None:
    super().__init__()
    self._config = config

  def expand(self, inputs: Outputs) -> Outputs:
    config = self._config
    out: Outputs = {}
    if config.segments or config.product_pairs:
      purchases = inputs['orders'] | 'ToPurchases' >> ToPurchases()
      if config.segments:
        out.update(purchases
                   | 'CustomerSegments' >> CustomerSegments(config.segments))
    return out
