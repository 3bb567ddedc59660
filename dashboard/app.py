"""The Flask app: the page, its static files and the JSON it polls.

    GET /               the page (static/index.html)
    GET /api/snapshot   the figures of the store's newest panes (snapshot.py)
    GET /static/...     the page's JS and CSS; plotly.min.js from the
                        installed plotly package

Responses forbid framing and anything not from this server (CSP), so the
page works, and stays the same, with no network.
"""
from __future__ import annotations

import logging
import os
import zoneinfo

from flask import Flask, jsonify, send_from_directory

from dashboard.snapshot import snapshot

__all__ = ['create_app', 'plotly_js_dir']

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'static')
_LOG = logging.getLogger('dashboard')
_HEADERS = {
    'Content-Security-Policy': "default-src 'self'; style-src 'self' "
                               "'unsafe-inline'; img-src 'self' data:",
    'X-Frame-Options': 'DENY',
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
}


def plotly_js_dir() -> str:
  """The directory of the plotly.min.js that the plotly wheel ships."""
  import plotly
  path = os.path.join(os.path.dirname(plotly.__file__), 'package_data')
  if not os.path.isfile(os.path.join(path, 'plotly.min.js')):
    raise RuntimeError('plotly.min.js is missing from the plotly package; '
                       'reinstall it (pip install plotly)')
  return path


def create_app(store_url: str, tz: zoneinfo.ZoneInfo, max_windows: int,
               refresh_seconds: float) -> Flask:
  app = Flask(__name__, static_folder=None)
  plotly_dir = plotly_js_dir()

  @app.after_request
  def _secure(response):
    response.headers.update(_HEADERS)
    return response

  @app.get('/')
  def index():
    return send_from_directory(STATIC, 'index.html', max_age=0)

  @app.get('/static/plotly.min.js')
  def plotly_js():
    return send_from_directory(plotly_dir, 'plotly.min.js', max_age=3600)

  @app.get('/static/<path:name>')
  def static_file(name: str):
    return send_from_directory(STATIC, name, max_age=0)

  @app.get('/api/snapshot')
  def api_snapshot():
    try:
      body = snapshot(store_url, tz, max_windows)
    except Exception as e:  # pylint: disable=broad-except
      # Never a stack trace on the page: one line, details in the log.
      _LOG.exception('snapshot failed')
      body = {'status': 'error', 'message': f'cannot read the store: '
              f'{type(e).__name__}'}
    body['refresh_seconds'] = refresh_seconds
    response = jsonify(body)
    response.headers['Cache-Control'] = 'no-store'
    return response

  return app
