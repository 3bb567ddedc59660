"""`python -m dashboard --store URL`: serves the live page.

Loopback by default (--host 127.0.0.1, --port 8050); another --host is the
operator's explicit choice. A bad flag, URL or time zone, or a port in use,
is one line on stderr and exit code 2 (1 for the port); a store that is down
or empty is not an error here: the page says so and keeps checking.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Any, List, Optional

from reporting.days import DEFAULT_TIMEZONE, zone
from reporting.store import check_store_url
from transforms.redact import redact_text

_LOG = logging.getLogger('dashboard')

EXIT_USAGE, EXIT_FAILED = 2, 1


class _Parser(argparse.ArgumentParser):

  def error(self, message: str) -> None:  # type: ignore[override]
    raise ValueError(message)


def parser() -> argparse.ArgumentParser:
  p = _Parser(prog='python -m dashboard',
              formatter_class=argparse.ArgumentDefaultsHelpFormatter,
              description='The live sales dashboard over a store the '
              'pipeline writes (read-only). docs/dashboard.md')
  p.add_argument('--store', required=True,
                 help='sqlite:///path.db or postgresql://user@host:port/db '
                 '(password from PGPASSWORD, ~/.pgpass or PGPASSFILE)')
  p.add_argument('--host', default='127.0.0.1',
                 help='Address to listen on (loopback only by default).')
  p.add_argument('--port', type=int, default=8050, help='Port to listen on.')
  p.add_argument('--timezone', default=DEFAULT_TIMEZONE,
                 help='IANA time zone of the business day ("today").')
  p.add_argument('--windows', type=int, default=48,
                 help='How many of the newest windows the chart shows.')
  p.add_argument('--refresh_seconds', type=float, default=2.0,
                 help='How often the page asks for new figures.')
  p.add_argument('--log_level', default='WARNING', help='Python logging level.')
  return p


def _stop(*_: Any) -> None:
  raise KeyboardInterrupt


def fail(message: str, code: int) -> int:
  print(f'error: {redact_text(message)}', file=sys.stderr)
  return code


def main(argv: Optional[List[str]] = None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  try:
    args = parser().parse_args(argv)
    check_store_url(args.store)
    tz = zone(args.timezone)
    if not 0 < args.port < 65536:
      raise ValueError(f'--port must be 1..65535, not {args.port}')
    if args.windows < 1 or args.refresh_seconds <= 0:
      raise ValueError('--windows and --refresh_seconds must be positive')
  except ValueError as e:
    return fail(str(e), EXIT_USAGE)
  logging.basicConfig(
      level=getattr(logging, args.log_level.upper(), logging.WARNING),
      format='%(asctime)s %(levelname)s %(name)s: %(message)s')
  from waitress import create_server
  from dashboard.app import create_app
  try:
    app = create_app(args.store, tz, args.windows, args.refresh_seconds)
    server = create_server(app, host=args.host, port=args.port, threads=4,
                           ident='sales-dashboard')
  except (OSError, RuntimeError) as e:
    return fail(f'cannot serve on {args.host}:{args.port}: '
                f'{getattr(e, "strerror", None) or e}', EXIT_FAILED)
  print(f'dashboard on http://{args.host}:{args.port}/ (Ctrl-C stops)',
        flush=True)
  # Ctrl-C and SIGTERM stop the server, even where the shell that started
  # it in the background made SIGINT ignored.
  for sig in (signal.SIGINT, signal.SIGTERM):
    signal.signal(sig, _stop)
  try:
    server.run()
  except KeyboardInterrupt:
    pass
  finally:
    server.close()
  return 0
