"""The sales pipeline: one definition, bounded or unbounded.

    source -> parse -> dedupe -> USD -> catalog -> window -> aggregate -> sinks

The source and the sinks are passed in from the outside (see
pipelines/wiring.py), so tests run this exact graph on TestStream or
Create inputs, and the runner never changes what a step means.
"""
from __future__ import annotations

from typing import Dict, Sequence, Tuple

import apache_beam as beam

from pipelines.options import SalesConfig
from transforms.aggregate import RESULTS, TOP_PRODUCTS, AggregateSales
from transforms.currency import ConvertToUsd, ReadFxRates
from transforms.dedupe import DeduplicateOrders
from transforms.enrich import CatalogSideInput, JoinCatalog
from transforms.lateness import LateDataRule
from transforms.parse import DEAD_LETTERS, VALID, ParseOrders
from transforms.windowing import ApplyWindowPolicy

Outputs = Dict[str, beam.PCollection]


def build_sales_graph(pipeline: beam.Pipeline, config: SalesConfig,
                      source: beam.PTransform,
                      sinks: Sequence[Tuple[str, beam.PTransform]] = ()
                      ) -> Outputs:
  """Adds the whole flow to `pipeline` and returns its three outputs.

  source: PBegin -> PCollection[RawRecord].
  sinks: (step name, transform) pairs, each applied to the outputs dict
    {'results', 'top_products', 'dead_letters'}.
  """
  policy = config.window
  fx_rates = beam.pvalue.AsDict(
      pipeline | 'ReadFxRates' >> ReadFxRates(config.fx_rates))
  if config.bounded:
    join_catalog = JoinCatalog(beam.pvalue.AsSingleton(
        pipeline | 'ReadCatalog' >> CatalogSideInput(config.catalog)))
  else:
    join_catalog = JoinCatalog(path=config.catalog,
                               refresh_seconds=config.catalog_refresh_seconds)

  raw = pipeline | 'ReadOrders' >> source
  parsed = raw | 'ParseOrders' >> ParseOrders(
      fx_rates, config.event_time_from,
      None if config.bounded else LateDataRule(policy))
  aggregates = (
      parsed[VALID]
      | 'Deduplicate' >> DeduplicateOrders(config.bounded,
                                           config.dedupe_ttl_seconds)
      | 'ConvertToUsd' >> ConvertToUsd(fx_rates)
      | 'JoinCatalog' >> join_catalog
      | 'ApplyWindowPolicy' >> ApplyWindowPolicy(policy)
      | 'AggregateSales' >> AggregateSales(config.top_n, policy.per_customer,
                                        config.bounded))

  return with_sinks(aggregates, parsed[DEAD_LETTERS], sinks)


def with_sinks(aggregates, dead_letters: beam.PCollection,
               sinks: Sequence[Tuple[str, beam.PTransform]]) -> Outputs:
  """The graph's three outputs, each sink applied to them (the record and
  the vectorized graphs alike)."""
  outputs = {
      RESULTS: aggregates[RESULTS],
      TOP_PRODUCTS: aggregates[TOP_PRODUCTS],
      DEAD_LETTERS: dead_letters,
  }
  for name, sink in sinks:
    outputs | name >> sink  # pylint: disable=expression-not-assigned
  return outputs
