"""The sales pipeline: one definition, bounded or unbounded.

    source -> ParseOrders -> Deduplicate -> ConvertToUsd -> JoinCatalog
           -> ApplyWindowPolicy -> AggregateSales -> sinks
                 \\-> dead letters ---------------------------> sinks
    (after ConvertToUsd and AggregateSales) -> MineSales -> sinks
      (optional: --segments, --product_pairs, --anomalies; docs/mining.md)

The steps run on columns: each element is an Arrow table of many orders
(a chunk of a file, a batch of a stream), and every rule is the one in
transforms/, applied to columns, with the exact scalar rule deciding any row
the fast checks cannot. On columns the catalog is joined while summing the
orders of each time unit (partials that AggregateSales merges per window).
`--engine records` (a hidden debugging switch, and the tests that feed
single records) builds the same steps under the same names one record at a
time; both yield the same rows.

The source and the sinks are passed in from the outside (see
pipelines/wiring.py), so tests run this exact graph on TestStream or
Create inputs, and the runner never changes what a step means.
"""
from __future__ import annotations

import atexit
import shutil
import tempfile
from typing import Any, Dict, NamedTuple, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.options.pipeline_options import StandardOptions

from pipelines.options import SalesConfig
from transforms.aggregate import RESULTS, TOP_PRODUCTS, AggregateSales
from transforms.currency import (ConvertToUsd, FxRates, ReadFxRates,
                                 load_fx_rates)
from transforms.dedupe import DeduplicateOrders
from transforms.enrich import CatalogInput, JoinCatalog, catalog_input
from transforms.lateness import LateDataRule
from transforms.mining.steps import MineSales
from transforms.parse import DEAD_LETTERS, VALID, ParseOrders
from transforms.vectorized.aggregate import AggregatePartials
from transforms.vectorized.check import ParseOrderBatches
from transforms.vectorized.chunks import buckets_for
from transforms.vectorized.dedupe import DeduplicateBatches
from transforms.vectorized.partials import PreAggregate
from transforms.vectorized.usd import ConvertBatchesToUsd
from transforms.windowing import ApplyWindowPolicy

Outputs = Dict[str, beam.PCollection]
Sinks = Sequence[Tuple[str, beam.PTransform]]
STREAM_BUCKETS = 4  # dedupe state keys of a streaming run


class Steps(NamedTuple):
  """The implementations of the steps that differ between the columnar
  and the record-at-a-time flow; ApplyWindowPolicy is the same for both."""
  parse: beam.PTransform
  deduplicate: beam.PTransform
  convert_to_usd: beam.PTransform
  join_catalog: beam.PTransform
  aggregate: beam.PTransform


def build_sales_graph(pipeline: beam.Pipeline, config: SalesConfig,
                      source: beam.PTransform, sinks: Sinks = (),
                      **columnar: Any) -> Outputs:
  """Adds the whole flow to `pipeline` and returns its three outputs.

  source: PBegin -> what wiring.source_for(config) reads: FileChunk or
    RawBatch elements when config.columnar, RawRecord otherwise.
  sinks: (step name, transform) pairs, each applied to the outputs dict
    {'results', 'top_products', 'dead_letters'}.
  columnar: `buckets` and `spill` for columnar_steps (tests).
  """
  policy = config.window
  fx_rates, catalog = reference_data(pipeline, config)
  steps = (columnar_steps(pipeline, config, source, fx_rates, catalog,
                          **columnar)
           if config.columnar else
           record_steps(config, fx_rates, catalog))

  raw = pipeline | 'ReadOrders' >> source
  parsed = raw | 'ParseOrders' >> steps.parse
  priced = (
      parsed[VALID]
      | 'Deduplicate' >> steps.deduplicate
      | 'ConvertToUsd' >> steps.convert_to_usd)
  aggregates = (
      priced
      | 'JoinCatalog' >> steps.join_catalog
      | 'ApplyWindowPolicy' >> ApplyWindowPolicy(policy)
      | 'AggregateSales' >> steps.aggregate)
  mined = ({'orders': priced, RESULTS: aggregates[RESULTS]}
           | 'MineSales' >> MineSales(config.mining, policy)
           if config.mining.any else {})
  return with_sinks(aggregates, parsed[DEAD_LETTERS], sinks, mined)


def columnar_steps(pipeline: beam.Pipeline, config: SalesConfig,
                   source: beam.PTransform,
                   fx_rates: FxRates, catalog: CatalogInput,
                   buckets: int = 0, spill: Optional[bool] = None) -> Steps:
  """The steps on Arrow tables; the source emits FileChunk or RawBatch.

  buckets: dedupe buckets (0: by input size, or STREAM_BUCKETS streaming).
  spill: pass the valid rows from ParseOrders to Deduplicate through local
  files, so that the shuffle carries only file names (default: in a bounded
  run on a runner in this process, whose shuffle is held in memory).
  """
  policy = config.window
  if not buckets:
    buckets = (buckets_for(getattr(source, 'paths', ()))
               if config.bounded else STREAM_BUCKETS)
  if spill is None:
    spill = config.bounded and _in_process(pipeline)
  return Steps(
      parse=ParseOrderBatches(
          fx_rates, buckets, None if config.bounded else policy,
          _spill_dir() if spill else '', config.event_time_from,
          config.pseudonymizer),
      deduplicate=DeduplicateBatches(config.bounded,
                                     config.dedupe_ttl_seconds),
      convert_to_usd=ConvertBatchesToUsd(fx_rates),
      join_catalog=PreAggregate(policy, catalog),
      aggregate=AggregatePartials(policy, config.top_n, config.bounded))


def record_steps(config: SalesConfig, fx_rates: FxRates,
                 catalog: CatalogInput) -> Steps:
  """The same steps one record at a time (--engine records); the source
  emits RawRecord."""
  policy = config.window
  return Steps(
      parse=ParseOrders(fx_rates, config.event_time_from,
                        None if config.bounded else LateDataRule(policy),
                        config.pseudonymizer),
      deduplicate=DeduplicateOrders(config.bounded,
                                    config.dedupe_ttl_seconds),
      convert_to_usd=ConvertToUsd(fx_rates),
      join_catalog=JoinCatalog(catalog),
      aggregate=AggregateSales(config.top_n, policy.per_customer,
                               config.bounded, policy.timezone))


def reference_data(pipeline: beam.Pipeline, config: SalesConfig
                   ) -> Tuple[FxRates, CatalogInput]:
  """The FX rates and the catalog of a run.

  The FX rates are a side input, except in a streaming run of the columnar
  steps: there they are the table as read at launch (as the preflight reads
  it), a constant of the steps. Runners that fuse with Beam's Java fuser
  (Flink) never put a step that takes a side input in one stage with the
  steps before it, so every batch read from Kafka crossed to the runner and
  back before its checks (docs/performance.md, "Fifth round"). A constant
  also stays the same through a restart from a checkpoint, where a side
  input is read again."""
  if config.columnar and not config.bounded:
    fx_rates: FxRates = load_fx_rates(config.fx_rates)
  else:
    fx_rates = beam.pvalue.AsDict(
        pipeline | 'ReadFxRates' >> ReadFxRates(config.fx_rates))
  return fx_rates, catalog_input(pipeline, config.catalog,
                                 config.catalog_refresh_seconds,
                                 config.bounded)


def with_sinks(aggregates, dead_letters: beam.PCollection,
               sinks: Sinks, mined: Optional[Outputs] = None) -> Outputs:
  """The graph's three outputs and the mined kinds of the mining steps
  taken (transforms/mining/), each sink applied to them."""
  outputs = {
      RESULTS: aggregates[RESULTS],
      TOP_PRODUCTS: aggregates[TOP_PRODUCTS],
      DEAD_LETTERS: dead_letters,
      **(mined or {}),
  }
  for name, sink in sinks:
    outputs | name >> sink  # pylint: disable=expression-not-assigned
  return outputs


_IN_PROCESS_RUNNERS = ('fnapirunner', 'directrunner', 'bundlebaseddirectrunner')


def _in_process(pipeline: beam.Pipeline) -> bool:
  runner = pipeline.options.view_as(StandardOptions).runner
  if runner is None:
    runner = type(pipeline.runner).__name__
  if not isinstance(runner, str):
    runner = type(runner).__name__
  return runner.rsplit('.', 1)[-1].lower() in _IN_PROCESS_RUNNERS


def _spill_dir() -> str:
  """A private temporary directory, removed when this process ends."""
  path = tempfile.mkdtemp(prefix='sales-arrow-spill-')
  atexit.register(shutil.rmtree, path, True)
  return path
