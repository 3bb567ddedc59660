"""`python -m pipeline --segments 5 --product_pairs --anomalies --report`:
the report's mined sections show the mined tables' figures (read here
independently, with DuckDB on the Parquet files), from the files as from the
store, and a report without those tables has none of the sections."""
from __future__ import annotations

import os
import re

import pytest

from tests.fixtures.browser import crop, full_page_screenshot, ink
from tests.reporting.html_tables import amount, html_tables
from tests.reporting.report_run import report_run

duckdb = pytest.importorskip('duckdb')

SECTIONS = ('Customer segments', 'Bought together', 'Anomalies')
MINED_IDS = ('segment-summary', 'product-pairs', 'anomalies')
# The page rounds ratios to 2-4 places, money to cents.
CLOSE = 0.005


@pytest.fixture(scope='module')
def run(tmp_path_factory):
  return report_run(tmp_path_factory.mktemp('mined_report'), '--segments',
                    '5', '--product_pairs', '--anomalies')


def query(sql: str, tables: str) -> list:
  con = duckdb.connect()
  con.execute("SET TimeZone = 'UTC'")
  for table in ('customer_segments', 'segment_summary', 'product_pairs',
                'anomalies'):
    sql = sql.replace(table.upper(), repr(os.path.join(tables,
                                                       f'{table}.parquet')))
  return con.execute(sql).fetchall()


def close(shown: str, value: float) -> bool:
  return abs(float(amount(shown)) - float(value)) <= CLOSE


def h2(text: str) -> list:
  return re.findall(r'<h2>([^<]*)</h2>', text)


def test_segment_summary_equals_the_table(run):
  rows = html_tables(run['html']).by_id['segment-summary']
  assert rows[0] == ['segment', 'label', 'customers', 'mean recency (days)',
                     'mean frequency', 'mean money']
  expected = query('SELECT segment, label, customers, mean_recency_days, '
                   'mean_frequency, mean_monetary_usd FROM SEGMENT_SUMMARY '
                   'ORDER BY segment', run['tables'])
  assert len(expected) == 5 and len(rows[1:]) == 5
  for shown, (segment, label, customers, recency, frequency, money) in zip(
      rows[1:], expected):
    assert shown[:3] == [str(segment), label, str(customers)]
    assert close(shown[3], recency) and close(shown[4], frequency)
    assert amount(shown[5]) == money
  # Every customer of the run is in one segment.
  assert sum(int(r[2]) for r in rows[1:]) == query(
      'SELECT count(*) FROM CUSTOMER_SEGMENTS', run['tables'])[0][0]


def test_segment_chart_has_a_bubble_per_segment(run):
  chart = re.search(r'<figure class="chart" id="chart-segments">(.*?)'
                    r'</figure>', run['html'], re.S)
  assert chart, 'no segment chart'
  bubbles = re.findall(r'<g id="PathCollection_\d+"', chart.group(1))
  assert len(bubbles) == query('SELECT count(*) FROM SEGMENT_SUMMARY',
                               run['tables'])[0][0]


def test_top_pairs_by_lift_equal_the_table(run):
  rows = html_tables(run['html']).by_id['product-pairs']
  # The widest window; each pair once, in its direction of higher
  # confidence (then the smaller product id); by lift, baskets, ids.
  expected = query(
      'WITH w AS (SELECT window_start, window_end FROM PRODUCT_PAIRS '
      'ORDER BY window_end - window_start DESC, window_start DESC LIMIT 1), '
      'p AS (SELECT p.*, row_number() OVER (PARTITION BY least(product_id, '
      'partner_id), greatest(product_id, partner_id) ORDER BY confidence '
      'DESC, product_id) AS n FROM PRODUCT_PAIRS p JOIN w USING '
      '(window_start, window_end)) '
      'SELECT product_id, partner_id, baskets, support, confidence, lift '
      'FROM p WHERE n = 1 ORDER BY lift DESC, baskets DESC, product_id, '
      'partner_id LIMIT 10', run['tables'])
  assert expected and len(rows[1:]) == len(expected)
  for shown, (product, partner, baskets, support, confidence, lift) in zip(
      rows[1:], expected):
    assert shown[:3] == [product, partner, str(baskets)]
    assert close(shown[3], support) and close(shown[4], confidence)
    assert close(shown[5], lift)


def test_flagged_anomalies_equal_the_table(run):
  rows = html_tables(run['html']).by_id['anomalies']
  expected = query(
      "SELECT strftime(window_start, '%Y-%m-%dT%H:%M:%SZ'), "
      "strftime(window_end, '%Y-%m-%dT%H:%M:%SZ'), category, metric, value, "
      'score, detector FROM ANOMALIES WHERE is_anomaly '
      'ORDER BY window_start DESC, category, metric', run['tables'])
  assert expected and len(rows[1:]) == len(expected)
  for shown, (start, end, category, metric, value, score, detector) in zip(
      rows[1:], expected):
    assert shown[:4] == [start, end, category, metric]
    assert shown[4].startswith('$') == (metric == 'revenue_usd')
    assert close(shown[4], value) and close(shown[5], score)
    assert shown[7] == detector
  scored = query('SELECT count(*) FROM ANOMALIES', run['tables'])[0][0]
  assert f'{len(expected)} of {scored} scored windows flagged' in run['html']


def test_the_store_holds_the_same_mined_rows(run):
  # The page is a function of the rows read (reporting/page.py): the same
  # rows from the store give the same sections.
  from reporting.store import read_store
  from reporting.tables import REPORTED_MINED, read_files
  from transforms.sinks.mined import MINED_TABLES
  from_store = read_store(run['store'], mined=True).mined
  from_files = read_files(run['tables']).mined
  assert sorted(from_store) == sorted(from_files) == sorted(REPORTED_MINED)

  def rows(kind, table):
    names = MINED_TABLES[kind].names
    return sorted(tuple(r[n] for n in names) for r in table[kind])
  for kind in REPORTED_MINED:
    assert rows(kind, from_store) == rows(kind, from_files), kind
  assert read_store(run['store']).mined == {}  # the dashboard's reading


def test_no_mined_table_no_section(run):
  # Files an earlier run left under --output are not this run's: a run
  # without the flags reads none (pipelines/report.py: mined_kinds), and
  # the page has a section only for a table read (test_report.py: a run
  # without the flags).
  from pipelines.report import mined_kinds
  from reporting.tables import read_files
  from transforms.mining.config import MiningConfig
  from transforms.sinks.mined import PRODUCT_PAIRS
  assert mined_kinds(MiningConfig()) == []
  assert mined_kinds(MiningConfig(product_pairs=True)) == [PRODUCT_PAIRS]
  assert read_files(run['tables'], mined=[]).mined == {}
  assert list(read_files(run['tables'], mined=[PRODUCT_PAIRS]).mined) == [
      PRODUCT_PAIRS]
  assert [s for s in h2(run['html']) if s in SECTIONS] == list(SECTIONS)


@pytest.mark.browser
def test_mined_sections_render_in_chromium(run, browser, tmp_path):  # noqa: F811
  from selenium.webdriver.common.by import By
  browser.get('file://' + run['report'])
  chart = browser.find_element(By.ID, 'chart-segments')
  shot = tmp_path / 'mined.png'
  full_page_screenshot(browser, shot)
  assert chart.size['width'] > 200 and chart.size['height'] > 100
  assert ink(crop(shot, chart)) > 2000
  for table in MINED_IDS:
    element = browser.find_element(By.ID, table)
    assert element.is_displayed() and element.size['height'] > 20, table


@pytest.mark.postgres
def test_postgres_store_without_some_mined_tables(postgres_database):  # noqa: F811
  # A mined table is created by the first run that writes it; reading past
  # a missing one must not spoil the PostgreSQL transaction for the next.
  import psycopg
  from reporting.store import read_store
  from transforms.sinks.database.mined import create_sql
  from transforms.sinks.mined import ANOMALIES
  from transforms.sinks.postgres_sink import PostgresDialect, PostgresStore
  store = PostgresStore(postgres_database)
  store.open()
  try:
    store.ensure_schema()
  finally:
    store.close()
  with psycopg.connect(postgres_database) as con:
    con.execute(create_sql(PostgresDialect(), ANOMALIES))
  tables = read_store(postgres_database, mined=True)
  assert tables.mined == {ANOMALIES: []}
  assert tables.results == []
