"""`python -m pipeline --report`: the report's figures equal the output
tables (read here independently, with DuckDB and json), the file needs no
network, and its charts render in a real browser."""
from __future__ import annotations

import decimal
import json
import os
import re
from collections import Counter

import pytest

from tests.fixtures.browser import crop, full_page_screenshot, ink
from tests.reporting.html_tables import amount, html_tables
from tests.reporting.report_run import report_run

duckdb = pytest.importorskip('duckdb')
CENT = decimal.Decimal('0.01')


@pytest.fixture(scope='module')
def run(tmp_path_factory):
  return report_run(tmp_path_factory.mktemp('report'))


def query(sql: str, tables: str) -> list:
  con = duckdb.connect()
  con.execute("SET TimeZone = 'UTC'")
  return con.execute(sql.replace('RESULTS', repr(
      os.path.join(tables, 'sales_by_category.parquet'))).replace(
          'TOP', repr(os.path.join(tables, 'top_products.parquet')))
                     ).fetchall()


def body(rows):
  return rows[1:]


def test_revenue_per_day_and_category_equals_the_table(run):
  page = html_tables(run['html'])
  rows = page.by_id['revenue-by-day']
  header = rows[0]
  shown = {(r[0], cat): amount(v) for r in body(rows)
           for cat, v in zip(header[1:-1], r[1:-1])}
  expected = {(day, cat): rev for day, cat, rev in query(
      "SELECT strftime(window_start, '%Y-%m-%d'), category, sum(revenue_usd) "
      "FROM RESULTS WHERE category <> '__all__' GROUP BY ALL", run['tables'])}
  assert {k: v for k, v in shown.items() if v} == expected
  totals = {r[0]: amount(r[-1]) for r in body(rows)}
  assert totals == dict(query(
      "SELECT strftime(window_start, '%Y-%m-%d'), sum(revenue_usd) FROM "
      "RESULTS WHERE category = '__all__' GROUP BY ALL", run['tables']))


def test_category_share_and_day_totals_equal_the_table(run):
  page = html_tables(run['html'])
  share = {r[0]: amount(r[1]) for r in body(page.by_id['category-share'])}
  assert share == dict(query(
      "SELECT category, sum(revenue_usd) FROM RESULTS WHERE category <> "
      "'__all__' GROUP BY ALL", run['tables']))
  grand = sum(share.values())
  for r in body(page.by_id['category-share']):
    assert r[2] == f'{amount(r[1]) / grand:.1%}'
  days = {r[0]: (int(r[1]), amount(r[2]), amount(r[3]))
          for r in body(page.by_id['day-totals'])}
  expected = {}
  for day, orders, revenue in query(
      "SELECT strftime(window_start, '%Y-%m-%d'), sum(orders), "
      "sum(revenue_usd) FROM RESULTS WHERE category = '__all__' GROUP BY ALL",
      run['tables']):
    aov = (revenue / orders).quantize(CENT, rounding=decimal.ROUND_HALF_UP)
    expected[day] = (int(orders), revenue, aov)
  assert days == expected


def test_top_products_equal_the_table(run):
  shown = sorted((r[0], int(r[2]), r[3], amount(r[8]))
                 for r in html_tables(run['html']).by_class['top-products'])
  expected = sorted(
      (start, rank, product, revenue) for start, rank, product, revenue in
      query("SELECT strftime(window_start, '%Y-%m-%dT%H:%M:%SZ'), rank, "
            "product_id, revenue_usd FROM TOP", run['tables']))
  assert shown == expected


def test_data_quality_equals_the_run(run):
  page = html_tables(run['html'])
  with open(os.path.join(run['tables'], 'dead_letters.jsonl'),
            encoding='utf-8') as f:
    letters = [json.loads(line) for line in f if line.strip()]
  reasons = {r[0]: int(r[1]) for r in body(page.by_id['dead-letters-by-reason'])}
  assert reasons == dict(Counter(d['reason'] for d in letters))
  with open(os.path.join(run['tables'], 'summary.json'),
            encoding='utf-8') as f:
    summary = json.load(f)
  quality = {r[0]: int(r[1]) for r in body(page.by_id['quality'])}
  assert quality == {'records read': summary['records_read'],
                     'valid orders': summary['valid'],
                     'duplicates': summary['duplicates'],
                     'late (dead)': summary['late'],
                     'dead letters': len(letters)}
  positions = {(d['reason'], str(d['position'])) for d in letters}
  examples = body(page.by_id['dead-letter-examples'])
  assert examples and all((r[0], r[3]) in positions for r in examples)
  assert 'accounted for' in run['html']


def test_a_run_without_mining_has_no_mined_section(run):
  for section in ('Customer segments', 'Bought together', 'Anomalies'):
    assert f'<h2>{section}</h2>' not in run['html']


def test_report_is_self_contained(run):
  text = run['html']
  assert '<script' not in text
  assert not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', text)
  assert not re.search(r'url\(\s*["\']?(https?:)?//', text)
  assert '@import' not in text
  assert text.count('<svg') == 4
  for fact in ('UTC', 'fixed, 3600 s', 'orders.jsonl'):
    assert fact in text
  assert oct(os.stat(run['report']).st_mode & 0o777) == '0o640'


def test_a_report_read_from_the_store_shows_the_same_tables(run, tmp_path):
  # With --output '', --report reads the first database --sink instead.
  from reporting.page import ReportContext
  from reporting.report import write_report
  from reporting.store import read_store
  with open(os.path.join(run['tables'], 'summary.json'),
            encoding='utf-8') as f:
    counts = json.load(f)
  path = write_report(str(tmp_path / 'r.html'), read_store(run['store']),
                      ReportContext(['x'], 'UTC', 'fixed', 'now', 1.0, 'ok',
                                    counts))
  with open(path, encoding='utf-8') as f:
    from_store = html_tables(f.read())
  from_files = html_tables(run['html'])
  for table in ('revenue-by-day', 'category-share', 'day-totals',
                'dead-letters-by-reason', 'quality'):
    assert from_store.by_id[table] == from_files.by_id[table], table
  assert sorted(from_store.by_class['top-products']) == sorted(
      from_files.by_class['top-products'])


@pytest.mark.browser
def test_report_charts_render_in_chromium(run, browser, tmp_path):
  from selenium.webdriver.common.by import By
  browser.get('file://' + run['report'])
  charts = browser.find_elements(By.CSS_SELECTOR, 'figure.chart')
  assert [c.get_attribute('id') for c in charts] == [
      'chart-revenue-by-day', 'chart-category-share', 'chart-orders',
      'chart-dead-letters']
  shot = tmp_path / 'report.png'
  full_page_screenshot(browser, shot)
  for chart in charts:
    assert chart.size['width'] > 200 and chart.size['height'] > 100
    assert ink(crop(shot, chart)) > 2000, chart.get_attribute('id')
