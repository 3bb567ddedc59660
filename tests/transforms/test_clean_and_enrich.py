"""Batch dedupe, USD conversion, catalog join and the aggregates, each on
its own with TestPipeline and figures worked out by hand."""
from decimal import Decimal

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import window

from transforms.aggregate import RESULTS, TOP_PRODUCTS, AggregateSales
from transforms.currency import (ConfigFileError, ConvertToUsd,
                                 parse_fx_rates)
from transforms.dedupe import DeduplicateOrders
from transforms.enrich import CatalogInput, JoinCatalog, parse_catalog
from transforms.records import EnrichedOrder, Order


def make_order(order_id, position, source='f', quantity=1, price='1',
               currency='USD', product='p1', customer='c1', t_ms=0):
  return Order(order_id, customer, product, quantity, Decimal(price),
               currency, t_ms, None, source, None, position)


def test_batch_dedupe_keeps_the_first_read_copy():
  orders = [make_order('a', 9, quantity=3), make_order('a', 2, quantity=1),
            make_order('a', 5, source='e', quantity=7),
            make_order('b', 1)]
  with TestPipeline(runner='FnApiRunner') as p:
    kept = (p | beam.Create(orders) | DeduplicateOrders(bounded=True)
            | beam.Map(lambda o: (o.order_id, o.source, o.position)))
    # ('e', 5) sorts before ('f', 2): first in read order of the sources
    assert_that(kept, equal_to([('a', 'e', 5), ('b', 'f', 1)]))


def test_usd_conversion_is_exact_and_catalog_join_marks_unknown():
  rates = {'USD': Decimal(1), 'JPY': Decimal('0.006712')}
  catalog = {'p1': ('books', 'A Book')}
  orders = [make_order('a', 1, quantity=3, price='1999', currency='JPY'),
            make_order('b', 2, quantity=2, price='0.10', product='zz')]
  with TestPipeline(runner='FnApiRunner') as p:
    fx = beam.pvalue.AsDict(p | 'Fx' >> beam.Create(sorted(rates.items())))
    cat = beam.pvalue.AsSingleton(p | 'Cat' >> beam.Create([catalog]))
    out = (p | beam.Create(orders) | ConvertToUsd(fx)
           | JoinCatalog(CatalogInput(side_input=cat))
           | beam.Map(lambda o: (o.order_id, o.revenue_usd, o.category,
                                 o.product_name)))
    # 3 * 1999 = 5997; 5997 * 0.006712 = 40.251864 exactly
    assert_that(out, equal_to([('a', Decimal('40.251864'), 'books', 'A Book'),
                               ('b', Decimal('0.20'), 'unknown', '')]))


def test_reference_files_are_validated():
  assert parse_fx_rates('currency,usd_per_unit\neur,1.5\n') == {
      'EUR': Decimal('1.5')}
  with pytest.raises(ConfigFileError, match='rate must be > 0'):
    parse_fx_rates('currency,usd_per_unit\nEUR,0\n')
  with pytest.raises(ConfigFileError, match='bad rate'):
    parse_fx_rates('currency,usd_per_unit\nEUR,x\n')
  assert parse_catalog('product_id,category,name\np,,n\n') == {
      'p': ('unknown', 'n')}


def enriched(order_id, customer, product, category, quantity, revenue, t_s):
  return window.TimestampedValue(
      EnrichedOrder(order_id, customer, product, quantity, Decimal(revenue),
                    int(t_s * 1000), category, product.upper(), None), t_s)


def test_aggregates_per_window_and_category_with_total_and_top_n():
  orders = [
      enriched('1', 'c1', 'p1', 'books', 2, '10.005', 10),
      enriched('2', 'c2', 'p1', 'books', 1, '5', 20),
      enriched('3', 'c1', 'p2', 'toys', 4, '30', 30),
      enriched('4', 'c3', 'p3', 'toys', 1, '30', 40),
      enriched('5', 'c3', 'p3', 'toys', 1, '1', 3700),  # next window
  ]
  with TestPipeline(runner='FnApiRunner') as p:
    agg = (p | beam.Create(orders)
           | beam.WindowInto(window.FixedWindows(3600))
           | AggregateSales(top_n=2))
    results = agg[RESULTS] | 'R' >> beam.Map(
        lambda r: (r.window_start_ms, r.category, r.orders, r.units,
                   r.revenue_usd, r.distinct_customers,
                   r.avg_order_value_usd))
    top = agg[TOP_PRODUCTS] | 'T' >> beam.Map(
        lambda t: (t.window_start_ms, t.rank, t.product_id, t.revenue_usd))
    assert_that(results, equal_to([
        (0, 'books', 2, 3, Decimal('15.005'), 2, Decimal('7.5025')),
        (0, 'toys', 2, 5, Decimal('60'), 2, Decimal('30')),
        (0, '__all__', 4, 8, Decimal('75.005'), 3, Decimal('18.75125')),
        (3600000, 'toys', 1, 1, Decimal('1'), 1, Decimal('1')),
        (3600000, '__all__', 1, 1, Decimal('1'), 1, Decimal('1')),
    ]), label='Results')
    # p2 and p3 tie at 30: product_id breaks the tie
    assert_that(top, equal_to([
        (0, 1, 'p2', Decimal('30')), (0, 2, 'p3', Decimal('30')),
        (3600000, 1, 'p3', Decimal('1')),
    ]), label='Top')


def test_streaming_catalog_join_rereads_a_changed_file(tmp_path):
  from transforms.enrich import JoinCatalogFn
  path = tmp_path / 'catalog.csv'
  path.write_text('product_id,category,name\np1,books,Old\n')
  fn = JoinCatalogFn(CatalogInput(path=str(path), refresh_seconds=0.01))
  fn.setup()
  order = EnrichedOrder('a', 'c', 'p1', 1, Decimal(1), 0, '', '', None)
  fn.start_bundle()
  assert next(fn.process(order)).product_name == 'Old'
  path.write_text('product_id,category,name\np1,toys,New\n')
  import time
  time.sleep(0.02)
  fn.start_bundle()
  assert next(fn.process(order))[6:8] == ('toys', 'New')
  path.write_text('broken')  # a bad re-read keeps the last good catalog
  time.sleep(0.02)
  fn.start_bundle()
  assert next(fn.process(order))[6:8] == ('toys', 'New')


def test_an_empty_pane_emits_no_rows():
  from transforms.aggregate import SalesSummary, EmitRowsFn
  from apache_beam.transforms.window import IntervalWindow
  from apache_beam.utils.windowed_value import PaneInfo, PaneInfoTiming
  pane = PaneInfo(True, True, PaneInfoTiming.ON_TIME, 0, 0)
  rows = list(EmitRowsFn(5).process(('', SalesSummary()),
                                     IntervalWindow(0, 3600), pane))
  assert rows == []
