"""The dashboard follows a live stream: one streaming run from Kafka writes
to PostgreSQL and to SQLite at once, the sample is replayed, and the page
over each store (headless Chromium) comes to show the total revenue of that
store's newest panes, read here with plain SQL. The SQLite page is opened
before the first order is sent and never reloaded: it updates itself."""
from __future__ import annotations

import datetime
import decimal
import sqlite3

import psycopg
import pytest

from pipelines.options import DEFAULT_CATALOG, DEFAULT_FX_RATES
from tests.dashboard.server import dashboard
from tests.fixtures.browser import crop, ink
from tests.integration.streaming import (kafka_stream_args,
                                         streaming_pipeline, wait_for)
from tests.reference import compute_expected
from tools.replay_to_kafka import replay

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.prism,
              pytest.mark.browser, pytest.mark.integration]

TOTALS = ("SELECT window_start, revenue_usd, pane_timing FROM "
          "sales_by_category WHERE category = '__all__' AND customer_id = ''")


def postgres_totals(url):
  try:
    with psycopg.connect(url, connect_timeout=10) as conn:
      rows = conn.execute(TOTALS).fetchall()
  except psycopg.errors.UndefinedTable:
    return []
  return [(start.astimezone(datetime.timezone.utc).date().isoformat(),
           decimal.Decimal(rev), timing) for start, rev, timing in rows]


def sqlite_totals(path):
  try:
    with sqlite3.connect(f'file:{path}?mode=ro', uri=True) as conn:
      rows = conn.execute(TOTALS).fetchall()
  except sqlite3.OperationalError:
    return []
  return [(start[:10], decimal.Decimal(rev), timing)
          for start, rev, timing in rows]


def expected_total(sample) -> decimal.Decimal:
  expected = compute_expected([sample], DEFAULT_CATALOG, DEFAULT_FX_RATES)
  return sum((r['revenue_usd'] for r in expected.results
              if r['category'] == '__all__'), decimal.Decimal(0))


def usd(value) -> str:
  return f'${value:,.2f}'


def page_text(driver, element_id):
  from selenium.webdriver.common.by import By
  return driver.find_element(By.ID, element_id).text


def test_dashboard_shows_the_newest_panes_of_both_stores(
    tmp_path, browser, postgres_database, kafka_broker,
    kafka_topic_factory, live_sample):
  db = tmp_path / 'live.db'
  stores = {'postgres': (postgres_database,
                         lambda: postgres_totals(postgres_database)),
            'sqlite': (f'sqlite:///{db}', lambda: sqlite_totals(db))}
  topic = kafka_topic_factory(partitions=3)
  with streaming_pipeline(
      *kafka_stream_args(kafka_broker.bootstrap, topic, 'dashboard'),
      '--kafka_idle_timeout_seconds', '3', '--sink', stores['postgres'][0],
      '--sink', stores['sqlite'][0]) as proc, \
      dashboard(stores['postgres'][0]) as pg_page, \
      dashboard(stores['sqlite'][0]) as sqlite_page:
    # The SQLite page is opened before any order is sent and never
    # reloaded: it must go from "no data" to the final figures by itself.
    browser.get(sqlite_page)
    assert wait_for(lambda: not browser.find_element(
        'id', 'status').get_attribute('hidden'), 60, proc)
    before = browser.find_element('id', 'status').text
    browser.execute_script('window.openedOnce = true')
    replay(live_sample, topic, kafka_broker.bootstrap, rate=0.0,
           shuffle_seconds=3600, seed=5, partitions=3)
    # Early panes fire every second: each store holds every order of the
    # sample (an independent computation's total) long before the
    # watermark settles the windows.
    expected = expected_total(live_sample)
    assert wait_for(lambda: all(
        sum((r for _, r, _ in read()), decimal.Decimal(0)) == expected
        for _, read in stores.values()), 240, proc), (
            expected, {name: sum((r for _, r, _ in read()), decimal.Decimal(0))
                       for name, (_, read) in stores.items()})
    for name, page in (('sqlite', sqlite_page), ('postgres', pg_page)):
      read = stores[name][1]
      if name == 'postgres':
        browser.get(page)

      def same_total():
        rows = read()
        return rows and page_text(browser, 'total-revenue') == usd(
            sum(r for _, r, _ in rows))
      assert wait_for(same_total, 120, proc), (
          name, page_text(browser, 'total-revenue'), read())
      if name == 'sqlite':  # updated in place: the same document, no reload
        assert browser.execute_script('return window.openedOnce === true')
        assert before.startswith(('No data yet', 'Store unavailable')), before
      today = page_text(browser, 'today').strip('()').split(',')[0]
      shown_today = page_text(browser, 'today-revenue')
      assert shown_today == usd(sum(
          (r for d, r, _ in read() if d == today), decimal.Decimal('0.00')))
      # The figures are set as text first, then the chart is drawn.
      assert wait_for(lambda: browser.execute_script(
          "return document.querySelectorAll('#chart g.point').length") > 40,
                      60, proc)
      shot = tmp_path / f'dashboard-{name}.png'
      browser.save_screenshot(str(shot))  # the chart is at the top
      from selenium.webdriver.common.by import By
      assert ink(crop(shot, browser.find_element(By.ID, 'chart'))) > 5000
      states = page_text(browser, 'windows')
      assert 'settled' in states or 'open (EARLY)' in states
      assert len(browser.find_elements(
          By.CSS_SELECTOR, '#top-products tbody tr')) == 5
  # What the dashboard reads through cannot write, in either store.
  from reporting.store import read_only
  with read_only(stores['postgres'][0]) as conn:
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
      conn.execute('DELETE FROM dead_letters')
  with read_only(stores['sqlite'][0]) as conn:
    with pytest.raises(sqlite3.OperationalError, match='readonly'):
      conn.execute('DELETE FROM dead_letters')
