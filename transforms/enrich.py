"""Enrichment: join each order with the product catalog (a side input).

The catalog file is CSV `product_id,category,name`. An unknown product gets
category `unknown` and an empty name; it is never dropped. In a bounded run
the catalog is a side input, read once; in streaming the join step re-reads
it every `refresh_seconds`, so a changed catalog reaches a running pipeline
without a restart.
"""
from __future__ import annotations

import csv
import io
import logging
import time
from typing import Dict, Iterable, Optional, Tuple

import apache_beam as beam

from transforms.currency import ConfigFileError, read_text
from transforms.records import UNKNOWN_CATEGORY, EnrichedOrder

_LOG = logging.getLogger(__name__)

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
  """PBegin -> a one-element PCollection holding the catalog dict.

  Use it as `beam.pvalue.AsSingleton(...)` in bounded runs.
  """

  def __init__(self, path: str) -> None:
    super().__init__()
    self._path = path

  def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
    return (pbegin
            | 'CatalogPath' >> beam.Create([self._path])
            | 'LoadCatalog' >> beam.Map(load_catalog))


class RefreshingCatalog:
  """A catalog a streaming DoFn holds itself, re-read every
  `refresh_seconds` (0: never) when `refresh()` is called (at bundle start).

  A refreshing side input in the global window is the textbook pattern, but
  Prism 2.77 refuses triggered global-window side inputs
  (apache/beam#31438), so streaming steps keep the catalog instead.
  A failed re-read keeps the previous catalog and logs why.
  """

  def __init__(self, path: str, refresh_seconds: float) -> None:
    self._path = path
    self._refresh_seconds = refresh_seconds
    self.catalog: Catalog = load_catalog(path)
    self._loaded_at = time.monotonic()

  def refresh(self) -> Catalog:
    if (self._refresh_seconds > 0 and
        time.monotonic() - self._loaded_at >= self._refresh_seconds):
      try:
        self.catalog = load_catalog(self._path)
      except ConfigFileError as e:
        _LOG.warning('catalog refresh failed, keeping the previous one: %s',
                     e)
      self._loaded_at = time.monotonic()
    return self.catalog


class _RefreshingJoinFn(beam.DoFn):
  """Joins with a RefreshingCatalog held by the DoFn."""

  def __init__(self, path: str, refresh_seconds: float) -> None:
    self._path = path
    self._refresh_seconds = refresh_seconds
    self._catalog: Catalog = {}

  def setup(self) -> None:
    self._source = RefreshingCatalog(self._path, self._refresh_seconds)

  def start_bundle(self) -> None:
    self._catalog = self._source.refresh()

  def process(self, order: EnrichedOrder) -> Iterable[EnrichedOrder]:
    yield _join(order, self._catalog)


class JoinCatalog(beam.PTransform):
  """PCollection[EnrichedOrder] -> the same with category and product name.

  Bounded: `catalog` is a side input (AsSingleton of CatalogSideInput).
  Streaming: pass `path` and `refresh_seconds` instead.
  """

  def __init__(self, catalog: Optional[beam.pvalue.AsSideInput] = None,
               path: str = '', refresh_seconds: float = 0) -> None:
    super().__init__()
    if (catalog is None) == (not path):
      raise ValueError('JoinCatalog takes a side input or a path, not both')
    self._catalog = catalog
    self._path = path
    self._refresh_seconds = refresh_seconds

  def expand(self, orders: beam.PCollection) -> beam.PCollection:
    if self._catalog is not None:
      return orders | 'LookUpProduct' >> beam.Map(_join,
                                                  catalog=self._catalog)
    return orders | 'LookUpProductRefreshing' >> beam.ParDo(
        _RefreshingJoinFn(self._path, self._refresh_seconds))


def _join(order: EnrichedOrder, catalog: Catalog) -> EnrichedOrder:
  category, name = catalog.get(order.product_id, (UNKNOWN_CATEGORY, ''))
  return order._replace(category=category, product_name=name)
