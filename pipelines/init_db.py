"""`python -m pipelines.init_db`: the schema step, run by the owner role.

Creates the sink's tables in a PostgreSQL database (if missing) and grants
the pipeline's writer role and the dashboard's reader role exactly what they
need (transforms/sinks/postgres_roles.py). The pipeline itself never changes
the schema when its role may not (docs/postgres.md, "Roles")::

    PGPASSWORD="$(cat "$(services/postgres/postgres.sh password-file owner)")" \\
      python -m pipelines.init_db \\
        --sink postgresql://sales_owner@127.0.0.1:5432/sales \\
        --writer_role sales --reader_role sales_reader

The password comes from PGPASSWORD or ~/.pgpass (PGPASSFILE), never the URL.
Errors are one line on stderr and exit 2 (bad flag, URL or role) or 1 (the
server refused the step).
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import List, Optional

from transforms.redact import redact_text
from transforms.sinks.database import SinkError

_LOG = logging.getLogger('pipelines.init_db')


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      prog='python -m pipelines.init_db',
      description='Create the PostgreSQL sink tables and grant the writer '
                  'and reader roles their privileges (run as the owner).')
  parser.add_argument(
      '--sink', required=True,
      help='postgresql://OWNER@host:port/database (no password: PGPASSWORD '
           'or ~/.pgpass; libpq settings such as ?sslmode=verify-full as '
           'query parameters)')
  parser.add_argument(
      '--writer_role', default=None,
      help='the role the pipeline writes with: SELECT, INSERT, UPDATE on the '
           'tables and DELETE on top_products, nothing else')
  parser.add_argument(
      '--reader_role', default=None,
      help='the role the dashboard reads with: SELECT on the tables only')
  return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
  args = parse_args(argv)
  logging.basicConfig(level=logging.WARNING, format='%(message)s')
  from transforms.sinks.postgres_roles import init_schema
  try:
    init_schema(args.sink, writer=args.writer_role, reader=args.reader_role)
  except ValueError as e:
    print(f'error: {redact_text(str(e))}', file=sys.stderr)
    return 2
  except SinkError as e:
    print(f'error: {redact_text(str(e))}', file=sys.stderr)
    return 1
  roles = ', '.join(f'{kind} {role}' for kind, role in (
      ('writer', args.writer_role), ('reader', args.reader_role)) if role)
  print(f'schema ready{" (" + roles + ")" if roles else ""}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
