"""Least privilege and TLS on the local PostgreSQL (docs/postgres.md, Roles
and TLS; issue #14, items 6 and 7).

Against the project's cluster (services/postgres/postgres.sh): the schema
step (``python -m pipelines.init_db``) run by the owner; the pipeline's
writer role writes through the sink and can do nothing more; the
dashboard's reader role can only read; no role but the owner can create a
database; passwords come from generated 0600 files and the script never
prints them; a client that verifies the server (``sslmode=verify-full``)
with the project's CA gets TLS, one with another CA is refused.
"""
from __future__ import annotations

import os
import pathlib
import stat
import subprocess
import urllib.parse
import uuid

import psycopg
import pytest
from psycopg import errors, sql

from tests.fixtures.postgres import ROOT, SCRIPT
from tests.fixtures.sink_rows import dead, result, top, write_rows
from transforms.sinks.database import SinkError
from transforms.sinks.postgres_roles import init_schema
from transforms.sinks.postgres_sink import PostgresStore, WriteToPostgres

pytestmark = [pytest.mark.postgres, pytest.mark.integration]

TABLES = ('sales_by_category', 'top_products', 'dead_letters', 'pipeline_runs')


def as_role(url: str, user: str, **query) -> str:
  """The same server and database as ``url``, as ``user``."""
  parts = urllib.parse.urlsplit(url)
  netloc = f'{user}@{parts.hostname}:{parts.port or 5432}'
  return urllib.parse.urlunsplit(parts._replace(
      netloc=netloc, query=urllib.parse.urlencode(query)))


def connect(url: str, role) -> psycopg.Connection:
  return psycopg.connect(as_role(url, role.user), password=role.password,
                         autocommit=True, connect_timeout=10)


@pytest.fixture(scope='module')
def schema(postgres_database, postgres_roles):
  """The module's database after the schema step, and the roles (the step
  in-process; its command line: test_init_db_command_line)."""
  roles = postgres_roles
  with pytest.MonkeyPatch.context() as mp:
    mp.setenv('PGPASSWORD', roles.owner.password)
    init_schema(as_role(postgres_database, roles.owner.user),
                writer=roles.writer.user, reader=roles.reader.user)
  return postgres_database, postgres_roles


def test_the_writer_writes_through_the_sink_and_the_reader_reads(
    schema, monkeypatch):
  url, roles = schema
  monkeypatch.setenv('PGPASSWORD', roles.writer.password)
  writer_url = as_role(url, roles.writer.user)
  # Twice: the second run replaces the window's top-N list (DELETE) and
  # upserts (UPDATE) rows the first one wrote.
  for pane, revenue in enumerate(('10.00', '12.50')):
    write_rows(WriteToPostgres(writer_url),
               [result(revenue=revenue, pane_index=pane)],
               [top(1, 'p1', revenue, pane_index=pane)], [dead(1)])
  with connect(url, roles.reader) as conn:
    counts = {t: conn.execute(
        sql.SQL('SELECT count(*) FROM {}').format(sql.Identifier(t))
    ).fetchone()[0] for t in TABLES}
    revenue = conn.execute(
        'SELECT revenue_usd FROM top_products').fetchone()[0]
  assert counts == {'sales_by_category': 1, 'top_products': 1,
                    'dead_letters': 1, 'pipeline_runs': 2}
  assert str(revenue) == '12.50'


# Everything a role beyond its grants might try; each must be refused.
BEYOND_WRITER = [
    'CREATE TABLE intruder (a int)',
    'CREATE TEMP TABLE intruder (a int)',
    'CREATE SCHEMA intruder',
    'CREATE VIEW intruder AS SELECT 1',
    'CREATE FUNCTION intruder() RETURNS int LANGUAGE sql AS $$SELECT 1$$',
    'ALTER TABLE sales_by_category ADD COLUMN intruder int',
    'DROP TABLE dead_letters',
    'TRUNCATE top_products',
    'DELETE FROM sales_by_category',
    'DELETE FROM pipeline_runs',
    'CREATE INDEX intruder ON dead_letters (reason)',
    'CREATE DATABASE intruder',
    'CREATE ROLE intruder',
]
BEYOND_READER = BEYOND_WRITER + [
    "INSERT INTO pipeline_runs (run_id, started_at, updated_at, status) "
    "VALUES ('x', now(), now(), 'x')",
    "UPDATE pipeline_runs SET status = 'x'",
    'DELETE FROM top_products',
]


@pytest.mark.parametrize('kind,statements', [
    ('writer', BEYOND_WRITER), ('reader', BEYOND_READER)])
def test_a_role_cannot_do_more_than_its_job(schema, kind, statements):
  url, roles = schema
  role = getattr(roles, kind)
  allowed = []
  with connect(url, role) as conn:
    for statement in statements:
      try:
        conn.execute(statement)
        allowed.append(statement)
      except errors.InsufficientPrivilege:
        pass
    # A GRANT without the grant option is a no-op with a warning.
    conn.execute('GRANT SELECT ON sales_by_category TO PUBLIC')
  assert allowed == []
  with connect(url, roles.owner) as conn:
    attrs = conn.execute(
        'SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, '
        'rolbypassrls FROM pg_roles WHERE rolname = %s', (role.user,)
    ).fetchone()
    owner_attrs = conn.execute(
        'SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles '
        'WHERE rolname = %s', (roles.owner.user,)).fetchone()
    public_grants = conn.execute(
        "SELECT count(*) FROM information_schema.role_table_grants "
        "WHERE grantee = 'PUBLIC' AND table_schema = 'public'").fetchone()[0]
  assert public_grants == 0
  assert attrs == (False, False, False, False, False)
  assert owner_attrs == (False, True, False)  # tests make databases with it


def test_the_writer_never_creates_tables_and_says_how(
    postgres_server, postgres_roles, monkeypatch):
  """A database without the tables: the writer's sink refuses in one line
  that names the schema step (before, the sink created them itself)."""
  roles = postgres_roles
  name = f't_noschema_{uuid.uuid4().hex[:8]}'
  url = postgres_server.url_for(name)
  with connect(postgres_server.url, roles.owner) as conn:
    conn.execute(sql.SQL('CREATE DATABASE {}').format(sql.Identifier(name)))
  try:
    store = PostgresStore(as_role(url, roles.writer.user),
                          backoff=PostgresStore.backoff.with_attempts(1))
    monkeypatch.setenv('PGPASSWORD', roles.writer.password)
    try:
      with pytest.raises(SinkError) as err:
        store.ensure_schema()
    finally:
      store.close()
      monkeypatch.undo()
    message = str(err.value)
    assert '\n' not in message
    assert 'permission denied for schema public' in message
    assert 'python -m pipelines.init_db' in message
    assert roles.writer.password not in message
  finally:
    with connect(postgres_server.url, roles.owner) as conn:
      conn.execute(sql.SQL('DROP DATABASE IF EXISTS {} WITH (FORCE)').format(
          sql.Identifier(name)))


def test_init_db_command_line(schema, monkeypatch, capsys):
  """The schema step as a command (its main, in-process): the owner runs it
  (again: idempotent); the writer may not; an unknown role is named (one
  line, exit 2, each)."""
  from pipelines.init_db import main
  url, roles = schema
  parts = urllib.parse.urlsplit(url)

  def run(role, reader=roles.reader.user):
    monkeypatch.setenv('PGPASSWORD', role.password)
    code = main(['--sink', as_role(url, role.user), '--writer_role',
                 roles.writer.user, '--reader_role', reader])
    return (code, *capsys.readouterr())

  assert run(roles.owner) == (
      0, f'schema ready (writer {roles.writer.user}, reader '
         f'{roles.reader.user})\n', '')
  # The writer's GRANTs would be silent no-ops: refused.
  assert run(roles.writer) == (2, '', (
      f'error: the schema step runs as the owner of the tables '
      f'({roles.owner.user}), not {roles.writer.user}\n'))
  assert run(roles.owner, reader='no_such_role') == (2, '', (
      f"error: role 'no_such_role' does not exist on {roles.owner.user}@"
      f"127.0.0.1:{parts.port}/{parts.path[1:]} (services/postgres/"
      f"postgres.sh start creates it)\n"))


def test_passwords_are_generated_private_and_never_printed(postgres_roles):
  roles = postgres_roles
  script = ['bash', str(SCRIPT)]
  passwords = {r.password for r in roles[:3]}
  assert len(passwords) == 3 and all(len(p) >= 32 for p in passwords) or (
      os.environ.get('SALES_PG_PASSWORD'))
  printed = ''
  # start on the running cluster (its schema step aside: another test's).
  env = dict(os.environ, SALES_PYTHON='/nonexistent')
  for args in (['start'], ['status'], ['url'], ['url', 'owner'],
               ['password-file', 'reader'], ['pgpass'], ['ca']):
    done = subprocess.run(script + args, capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    printed += done.stdout + done.stderr
  for password in passwords:
    assert password not in printed
  for kind in ('owner', 'writer', 'reader'):
    done = subprocess.run(script + ['password-file', kind],
                          capture_output=True, text=True, timeout=60)
    path = pathlib.Path(done.stdout.strip())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
  pgpass = subprocess.run(script + ['pgpass'], capture_output=True,
                          text=True, timeout=60).stdout.strip()
  assert stat.S_IMODE(os.stat(pgpass).st_mode) == 0o600


@pytest.mark.tls
def test_verify_full_gets_tls_with_the_project_ca(schema, monkeypatch):
  url, roles = schema
  verified = as_role(url, roles.writer.user, sslmode='verify-full',
                     sslrootcert=roles.ca)
  with psycopg.connect(verified, password=roles.writer.password) as conn:
    ssl, version = conn.execute(
        'SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()'
    ).fetchone()
  assert ssl is True and version in ('TLSv1.2', 'TLSv1.3')
  # The sink takes the same settings from its URL.
  monkeypatch.setenv('PGPASSWORD', roles.writer.password)
  write_rows(WriteToPostgres(verified), [result(revenue='1.00')], [], [])


@pytest.mark.tls
def test_verify_full_refuses_a_server_another_ca_did_not_sign(
    schema, tmp_path):
  url, roles = schema
  other = tmp_path / 'other-ca'
  subprocess.run(
      ['bash', '-c', 'source "$1"; tls_make "$2"', '_',
       str(ROOT / 'services' / 'lib' / 'tls.sh'), str(other)],
      check=True, timeout=120)
  assert stat.S_IMODE((other / 'server.key').stat().st_mode) == 0o600
  wrong = as_role(url, roles.writer.user, sslmode='verify-full',
                  sslrootcert=str(other / 'ca.crt'))
  with pytest.raises(psycopg.OperationalError, match='certificate verify '
                                                     'failed'):
    psycopg.connect(wrong, password=roles.writer.password, connect_timeout=10)
  # Host names are checked too: the certificate names 127.0.0.1, ::1 and
  # localhost, nothing else.
  by_name = as_role(url, roles.writer.user, sslmode='verify-full',
                    sslrootcert=roles.ca, hostaddr='127.0.0.1')
  by_name = by_name.replace('@127.0.0.1:', '@sales-elsewhere.invalid:')
  with pytest.raises(psycopg.OperationalError, match='does not match'):
    psycopg.connect(by_name, password=roles.writer.password,
                    connect_timeout=10)
