"""Enrichment: join each order with the product catalog (a side input).

The catalog file is CSV `product_id,category,name`. An unknown product gets
category `unknown` and an empty name; it is never dropped. In a bounded run
the catalog is read once; in streaming it is re-read every
`refresh_seconds` (a periodic impulse in the global window), so a changed
catalog reaches a running pipeline without a restart.
"""
from __future__ import annotations

import csv
import io
import time
from typing import Dict, Tuple

import apache_beam as beam
from apache_beam.transforms import trigger, window
from apache_beam.transforms.periodicsequence import PeriodicImpulse

from transforms.currency import ConfigFileError, read_text
from transforms.records import UNKNOWN_CATEGORY, EnrichedOrder

Catalog = Dict[str, Tuple[str, str]]  # product_id -> (category, name)


def parse_catalog(text: str, path: str = '<catalog>') -> Catalog:
  reader = csv.DictReader(io.StringIO(text))
  if reader.fieldnames is None or not {'product_id', 'category', 'name'} <= set(
      reader.fieldnames):
    raise ConfigFileError(f'{path}: expected header product_id,category,name')
  catalog: Catalog = {}
  for row in reader:
    product_id = (row['product_id'] or '').strip()
    if not product_id:
      raise ConfigFileError(f'{path}:{reader.line_num}: empty product_id')
    catalog[product_id] = ((row['category'] or '').strip() or UNKNOWN_CATEGORY,
                           (row['name'] or '').strip())
  return catalog


def load_catalog(path: str) -> Catalog:
  return parse_catalog(read_text(path), path)


class CatalogSideInput(beam.PTransform):
  """PBegin -> a single-element PCollection holding the catalog dict.

  Use it as `beam.pvalue.AsSingleton(...)`. With refresh_seconds > 0 the
  element is re-emitted (re-read from the file) on a processing-time
  schedule, and the side input always serves the latest read.
  """

  def __init__(self, path: str, refresh_seconds: float = 0) -> None:
    super().__init__()
    self._path = path
    self._refresh_seconds = refresh_seconds

  def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
    path = self._path
    if self._refresh_seconds <= 0:
      return (pbegin
              | 'CatalogPath' >> beam.Create([path])
              | 'LoadCatalog' >> beam.Map(load_catalog))
    return (
        pbegin
        | 'CatalogRefreshTicks' >> PeriodicImpulse(
            start_timestamp=time.time(),
            fire_interval=self._refresh_seconds,
            apply_windowing=False)
        | 'ReloadCatalog' >> beam.Map(lambda _: load_catalog(path))
        | 'LatestCatalog' >> beam.WindowInto(
            window.GlobalWindows(),
            trigger=trigger.Repeatedly(trigger.AfterCount(1)),
            accumulation_mode=trigger.AccumulationMode.DISCARDING))


class JoinCatalog(beam.PTransform):
  """PCollection[EnrichedOrder] -> the same with category and product name."""

  def __init__(self, catalog: beam.pvalue.AsSideInput) -> None:
    super().__init__()
    self._catalog = catalog

  def expand(self, orders: beam.PCollection) -> beam.PCollection:
    return orders | 'LookUpProduct' >> beam.Map(_join, catalog=self._catalog)


def _join(order: EnrichedOrder, catalog: Catalog) -> EnrichedOrder:
  category, name = catalog.get(order.product_id, (UNKNOWN_CATEGORY, ''))
  return order._replace(category=category, product_name=name)
