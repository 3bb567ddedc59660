"""Enrichment: join each order with the product catalog (a side input).

The catalog file is CSV `product_id,category,name`. An unknown product gets
category `unknown` and an empty name; it is never dropped. In a bounded run
the catalog is a side input, read once; in streaming the join step re-reads
it every `refresh_seconds`, so a changed catalog reaches a running pipeline
without a restart.
"""
from __future__ import annotations

import csv
import dataclasses
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
  """Parses the catalog CSV; raises ConfigFileError naming the bad line(s).

  A product id listed twice (after stripping) is an error: which row wins
  would decide a category silently.
  """
  reader = csv.DictReader(io.StringIO(text))
  if reader.fieldnames is None or not {'product_id', 'category', 'name'} <= set(
      reader.fieldnames):
    raise ConfigFileError(f'{path}: expected header product_id,category,name')
  catalog: Catalog = {}
  lines: Dict[str, int] = {}
  for row in reader:
    product_id = (row['product_id'] or '').strip()
    if not product_id:
      raise ConfigFileError(f'{path}:{reader.line_num}: empty product_id')
    if product_id in catalog:
      raise ConfigFileError(
          f'{path}:{reader.line_num}: product_id {product_id!r} again (first '
          f'on line {lines[product_id]})')
    lines[product_id] = reader.line_num
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


@dataclasses.dataclass(frozen=True)
class CatalogInput:
  """Where a step finds the catalog: a side input (bounded runs, read once),
  or a path that the step's DoFn re-reads every `refresh_seconds`
  (streaming; RefreshingCatalog says why)."""
  side_input: Optional[beam.pvalue.AsSideInput] = None
  path: str = ''
  refresh_seconds: float = 0

  def __post_init__(self) -> None:
    if (self.side_input is None) == (not self.path):
      raise ValueError('a catalog is a side input or a path, not both')

  def par_do(self, fn: 'CatalogDoFn') -> beam.ParDo:
    if self.side_input is not None:
      return beam.ParDo(fn, catalog=self.side_input)
    return beam.ParDo(fn)


def catalog_input(pipeline: beam.Pipeline, path: str, refresh_seconds: float,
                  bounded: bool) -> CatalogInput:
  """The catalog of a run: a side input when bounded, else the path."""
  if bounded:
    return CatalogInput(side_input=beam.pvalue.AsSingleton(
        pipeline | 'ReadCatalog' >> CatalogSideInput(path)))
  return CatalogInput(path=path, refresh_seconds=refresh_seconds)


class CatalogDoFn(beam.DoFn):
  """Base of the DoFns that look products up (this join, and the columnar
  pre-aggregation): `catalog(side)` is the side input's catalog, or the one
  the DoFn holds and refreshes at bundle start."""

  def __init__(self, catalog: CatalogInput) -> None:
    self._path = catalog.path
    self._refresh_seconds = catalog.refresh_seconds

  def setup(self) -> None:
    self._source: Optional[RefreshingCatalog] = None
    self._held: Catalog = {}
    if self._path:
      self._source = RefreshingCatalog(self._path, self._refresh_seconds)

  def start_bundle(self) -> None:
    if self._source is not None:
      self._held = self._source.refresh()

  def catalog(self, side: Optional[Catalog]) -> Catalog:
    return self._held if side is None else side


class JoinCatalogFn(CatalogDoFn):

  def process(self, order: EnrichedOrder,
              catalog: Optional[Catalog] = None) -> Iterable[EnrichedOrder]:
    category, name = self.catalog(catalog).get(order.product_id,
                                               (UNKNOWN_CATEGORY, ''))
    yield order._replace(category=category, product_name=name)


class JoinCatalog(beam.PTransform):
  """PCollection[EnrichedOrder] -> the same with category and product name
  (an unknown product: category `unknown`, empty name)."""

  def __init__(self, catalog: CatalogInput) -> None:
    super().__init__()
    self._catalog = catalog

  def expand(self, orders: beam.PCollection) -> beam.PCollection:
    return orders | 'LookUpProduct' >> self._catalog.par_do(
        JoinCatalogFn(self._catalog))
