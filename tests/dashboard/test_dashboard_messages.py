"""The dashboard with nothing to show: a store that is down, missing or
empty gives a clear message on the page (never a stack trace), and bad flags
are one line."""
from __future__ import annotations

import sqlite3
import pytest

from services.kafka.broker import free_port
from dashboard.cli import main
from tests.dashboard.server import served_in_thread
from transforms.sinks.sqlite_sink import SQLiteDialect


def wait_text(driver, element_id: str, needle: str, timeout_s: float = 30):
  from selenium.webdriver.common.by import By
  from selenium.webdriver.support.ui import WebDriverWait
  WebDriverWait(driver, timeout_s).until(
      lambda d: needle in d.find_element(By.ID, element_id).text)
  return driver.find_element(By.ID, element_id).text


@pytest.mark.browser
def test_unreachable_missing_and_empty_stores_say_so(
    browser, tmp_path, monkeypatch):
  monkeypatch.setenv('PGPASSWORD', 'not-a-real-one')
  down = f'postgresql://sales@127.0.0.1:{free_port()}/sales'
  with served_in_thread(down) as url:
    browser.get(url)
    text = wait_text(browser, 'status', 'Store unavailable')
    assert 'cannot connect to PostgreSQL at sales@127.0.0.1' in text
    assert 'not-a-real-one' not in browser.page_source
    browser.save_screenshot(str(tmp_path / 'unreachable.png'))
  missing = tmp_path / 'missing.db'
  with served_in_thread(f'sqlite:///{missing}') as url:
    browser.get(url)
    assert 'no database at' in wait_text(browser, 'status', 'No data yet')
    assert not missing.exists()  # read-only: never created
  empty = tmp_path / 'empty.db'
  with sqlite3.connect(empty) as conn:
    for sql in SQLiteDialect().schema_sql():
      conn.execute(sql)
  with served_in_thread(f'sqlite:///{empty}') as url:
    browser.get(url)
    text = wait_text(browser, 'status', 'No data yet')
    assert 'has not written a pane' in text
    assert 'Traceback' not in browser.page_source


@pytest.mark.parametrize('args, message', [
    (['--store', 'mysql://x/y'], '--store must be sqlite:///path.db'),
    (['--store', 'postgresql://u:secret@h/db'], 'contains a password'),
    (['--store', 'sqlite:///x.db', '--timezone', 'Mars/Base'],
     "unknown time zone 'Mars/Base'"),
    ([], 'the following arguments are required: --store'),
])
def test_bad_flags_are_one_line(args, message, capsys):
  assert main(args) == 2
  err = capsys.readouterr().err
  assert err.count('\n') == 1 and message in err
  assert 'secret' not in err


def test_a_port_in_use_is_one_line(capsys, tmp_path):
  import socket
  with socket.socket() as busy:
    busy.bind(('127.0.0.1', 0))
    busy.listen()
    port = busy.getsockname()[1]
    assert main(['--store', f'sqlite:///{tmp_path}/x.db', '--port',
                 str(port)]) == 1
  err = capsys.readouterr().err
  assert err.count('\n') == 1 and 'cannot serve on 127.0.0.1' in err
