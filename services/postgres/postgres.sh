#!/usr/bin/env bash
# A local PostgreSQL for the sales pipeline: Debian's server package, one
# private cluster, listening on 127.0.0.1 only, TLS on, three roles.
#
#   services/postgres/postgres.sh install   # apt-get install postgresql if missing
#   services/postgres/postgres.sh start     # install, initdb, TLS, start, roles+db
#   services/postgres/postgres.sh status    # exit 0 when accepting connections
#   services/postgres/postgres.sh stop
#   services/postgres/postgres.sh psql [psql args...]   # as the writer role
#   services/postgres/postgres.sh url [ROLE]            # the URL (no password)
#   services/postgres/postgres.sh password-file [ROLE]  # path of ROLE's password
#   services/postgres/postgres.sh pgpass                # path of a PGPASSFILE
#   services/postgres/postgres.sh ca                    # path of the CA certificate
#   ROLE: writer (default), owner or reader.
#
# Roles (docs/postgres.md, "Roles"):
#   owner   $SALES_PG_USER_owner: owns the database and its tables, runs the
#           schema step (python -m pipelines.init_db), CREATEDB (tests make a
#           database per module through it); not a superuser
#   writer  $SALES_PG_USER (sales): what the pipeline writes with; no
#           CREATEDB, no DDL, only the table privileges init_db grants
#   reader  $SALES_PG_USER_reader: the dashboard's; SELECT only
#
# Passwords are generated (32 random characters) into 0600 files under the
# cluster's secrets/ directory and never printed; SALES_PG_PASSWORD, when
# set, is the writer's password instead (as before). `pgpass` names a
# libpq password file with all three (export PGPASSFILE=...).
#
# TLS: a local CA and a server certificate for 127.0.0.1/::1/localhost are
# made with openssl under the cluster's tls/ directory (keys 0600); clients
# verify it with sslmode=verify-full&sslrootcert=$(postgres.sh ca).
# SALES_PG_REQUIRE_TLS=1 at start refuses TCP connections without TLS
# (pg_hba hostssl); otherwise TLS is offered, not required.
#
# Environment (all optional):
#   PGPORT              port on 127.0.0.1 (default 5432)
#   SALES_CACHE         cache root (default $HOME/.cache/sales-pipeline); the
#                       cluster lives in $SALES_CACHE/postgres
#   SALES_PG_DATA       the cluster directory itself (overrides the above)
#   SALES_PG_USER       writer role (default sales); the others are named
#                       after it (<user>_owner, <user>_reader)
#   SALES_PG_DB         application database (default sales)
#   SALES_PG_PASSWORD   the writer's password (default: generated)
#   SALES_PG_REQUIRE_TLS  1: TCP connections must use TLS
#   SALES_PYTHON        a Python with psycopg, for the schema step at start
#                       (default: the repository's .venv, else none)
#
# The server refuses to run as root, so when this script runs as root the
# cluster is owned by and run as the `postgres` OS user that Debian's package
# creates. Root's $HOME is usually private (mode 700), which that user cannot
# enter; then, unless SALES_CACHE or SALES_PG_DATA is set, the cluster goes to
# /var/lib/postgresql/sales-pipeline (the postgres user's home) instead.
#
# Local connections over the Unix socket use peer authentication (OS user =
# superuser); TCP connections on 127.0.0.1 use scram-sha-256 passwords.
#
# Idempotent: every command can be run again; `start` on a running cluster
# re-checks TLS, the roles, their passwords and the database (a cluster made
# by an earlier version, where the writer owned everything, is moved to the
# owner role), and reloads the configuration.
set -euo pipefail

PORT="${PGPORT:-5432}"
APP_USER="${SALES_PG_USER:-sales}"
APP_DB="${SALES_PG_DB:-sales}"
OWNER_USER="${APP_USER}_owner"
READER_USER="${APP_USER}_reader"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source=../lib/tls.sh
source "$HERE/../lib/tls.sh"

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() { printf 'postgres.sh: error: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# The newest Debian server binaries, /usr/lib/postgresql/<ver>/bin.
find_bindir() {
  local d best="" bestver=0 ver
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/postgres" ] && [ -x "$d/initdb" ] || continue
    ver="$(basename "$(dirname "$d")")"
    ver="${ver%%.*}"
    if [ "$ver" -gt "$bestver" ] 2>/dev/null; then bestver="$ver"; best="$d"; fi
  done
  [ -n "$best" ] && printf '%s\n' "$best"
}

# Run a command as the OS user that owns the cluster.
as_owner() {
  if is_root; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

superuser_name() {
  if is_root; then echo postgres; else id -un; fi
}

cmd_install() {
  local bindir
  bindir="$(find_bindir || true)"
  if [ -n "$bindir" ]; then
    log "PostgreSQL server already installed: $bindir"
    return 0
  fi
  is_root || die "the PostgreSQL server is not installed; run this as root (or: sudo apt-get install -y postgresql)"
  command -v apt-get >/dev/null || die "apt-get not found: install the PostgreSQL server (>= 13) by other means"
  log "installing Debian's postgresql package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  bindir="$(find_bindir || true)"
  [ -n "$bindir" ] || die "apt-get install postgresql finished but no server binaries under /usr/lib/postgresql/*/bin"
  # The package creates and may start a default cluster ('main'). It is not
  # ours: stop it if it took our port, and leave it to start manually only.
  if command -v pg_lsclusters >/dev/null; then
    local ver name port status
    while read -r ver name port status _; do
      [ "$port" = "$PORT" ] || continue
      case "$status" in online*) log "stopping the package's default cluster $ver/$name on port $port"
        pg_ctlcluster "$ver" "$name" stop || true ;; esac
      [ -f "/etc/postgresql/$ver/$name/start.conf" ] && echo manual > "/etc/postgresql/$ver/$name/start.conf"
    done < <(pg_lsclusters --no-header 2>/dev/null || true)
  fi
  log "installed: $bindir"
}

# Where the cluster lives; sets BASE, DATA, RUN, LOGFILE.
resolve_dirs() {
  local explicit=""
  if [ -n "${SALES_PG_DATA:-}" ]; then
    BASE="$SALES_PG_DATA"; explicit=yes
  elif [ -n "${SALES_CACHE:-}" ]; then
    BASE="$SALES_CACHE/postgres"; explicit=yes
  else
    BASE="${HOME:-/tmp}/.cache/sales-pipeline/postgres"
  fi
  if is_root; then
    # The postgres user must be able to reach BASE: check the nearest
    # existing ancestor.
    local probe="$BASE"
    while [ ! -e "$probe" ]; do probe="$(dirname "$probe")"; done
    if ! runuser -u postgres -- test -x "$probe" 2>/dev/null; then
      if [ -n "$explicit" ]; then
        die "the postgres OS user cannot enter $probe (needed for $BASE); choose a SALES_CACHE / SALES_PG_DATA it can reach"
      fi
      BASE=/var/lib/postgresql/sales-pipeline
    fi
  fi
  DATA="$BASE/data"
  RUN="$BASE/run"
  LOGFILE="$BASE/postgres.log"
  TLS="$BASE/tls"
  SECRETS="$BASE/secrets"
}

running() {
  [ -f "$DATA/postmaster.pid" ] && as_owner "$BINDIR/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

# The port the running cluster actually uses (postmaster.pid, line 4).
running_port() {
  sed -n 4p "$DATA/postmaster.pid" 2>/dev/null
}

ready() {
  "$BINDIR/pg_isready" -q -h 127.0.0.1 -p "$1" -t 2
}

init_cluster() {
  [ -f "$DATA/PG_VERSION" ] && return 0
  log "creating a cluster in $DATA"
  mkdir -p "$BASE"
  if is_root; then chown postgres:postgres "$BASE"; fi
  as_owner mkdir -p "$DATA" "$RUN"
  as_owner chmod 700 "$DATA"
  as_owner "$BINDIR/initdb" -D "$DATA" -U "$(superuser_name)" \
    --auth-local=peer --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 >"$BASE/initdb.log" 2>&1 \
    || { cat "$BASE/initdb.log" >&2; die "initdb failed (log above)"; }
  # Settings that do not depend on the port; the port and the listen
  # address are passed on the command line at each start.
  as_owner tee -a "$DATA/postgresql.conf" >/dev/null <<'EOF'

# sales-pipeline local cluster
password_encryption = 'scram-sha-256'
fsync = on
log_min_messages = warning
log_connections = off
EOF
}

# Superuser psql over the Unix socket (peer authentication).
admin_psql() {
  as_owner "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$RUN" -p "$1" -d "${DBNAME:-postgres}" "${@:2}"
}

# role_name writer|owner|reader -> the role
role_name() {
  case "${1:-writer}" in
    writer) echo "$APP_USER" ;;
    owner)  echo "$OWNER_USER" ;;
    reader) echo "$READER_USER" ;;
    *) die "unknown role '$1' (writer, owner or reader)" ;;
  esac
}

# The generated password files (made once, 0600, never printed).
make_secrets() {
  local role
  for role in "$APP_USER" "$OWNER_USER" "$READER_USER"; do
    secret_file "$SECRETS/$role.password"
  done
}

# password_of ROLE_NAME: the password in force (the writer's may come from
# SALES_PG_PASSWORD).
password_of() {
  if [ "$1" = "$APP_USER" ] && [ -n "${SALES_PG_PASSWORD:-}" ]; then
    printf '%s' "$SALES_PG_PASSWORD"
  else
    cat "$SECRETS/$1.password"
  fi
}

# A libpq password file for the three roles on 127.0.0.1, ::1, localhost.
write_pgpass() {
  local role pw tmp
  tmp="$(umask 077; mktemp "$SECRETS/.pgpass.XXXXXX")"
  for role in "$APP_USER" "$OWNER_USER" "$READER_USER"; do
    pw="$(password_of "$role")"
    pw="${pw//\\/\\\\}"; pw="${pw//:/\\:}"
    printf '127.0.0.1:*:*:%s:%s\nlocalhost:*:*:%s:%s\n\\:\\:1:*:*:%s:%s\n' \
      "$role" "$pw" "$role" "$pw" "$role" "$pw" >>"$tmp"
  done
  chmod 600 "$tmp"
  mv -f "$tmp" "$SECRETS/pgpass"
}

# The CA and the server certificate; the key must belong to the server's
# OS user and be 0600.
make_tls() {
  tls_make "$TLS" || die "could not make the TLS certificates in $TLS"
  if is_root; then chown -R postgres:postgres "$TLS"; fi
}

# pg_hba.conf: peer on the socket, scram-sha-256 on loopback TCP; hostssl
# (TLS required) when SALES_PG_REQUIRE_TLS=1. Rewritten only when it changes.
write_hba() {
  local kind=host want
  [ "${SALES_PG_REQUIRE_TLS:-}" = 1 ] && kind=hostssl
  want="# Generated by services/postgres/postgres.sh
local   all all                peer
local   replication all        peer
$kind all all 127.0.0.1/32 scram-sha-256
$kind all all ::1/128      scram-sha-256"
  if [ "$(as_owner cat "$DATA/pg_hba.conf")" != "$want" ]; then
    printf '%s\n' "$want" | as_owner tee "$DATA/pg_hba.conf" >/dev/null
  fi
}

# TLS settings (pg_hba.conf too), then a reload: works on a running cluster.
configure_tls() {
  local port="$1"
  admin_psql "$port" >/dev/null <<EOF
ALTER SYSTEM SET ssl = on;
ALTER SYSTEM SET ssl_cert_file = '$TLS/server.crt';
ALTER SYSTEM SET ssl_key_file = '$TLS/server.key';
ALTER SYSTEM SET ssl_min_protocol_version = 'TLSv1.2';
SELECT pg_reload_conf();
EOF
}

sql_literal() { local v="${1//\'/\'\'}"; printf "'%s'" "$v"; }

bootstrap_role_and_db() {
  local port="$1"
  [[ "$APP_USER" =~ ^[a-z_][a-z0-9_]*$ ]] || die "SALES_PG_USER must be a plain lower-case identifier"
  [[ "$APP_DB" =~ ^[a-z_][a-z0-9_]*$ ]] || die "SALES_PG_DB must be a plain lower-case identifier"
  # Passwords go on stdin, never on a command line (visible in ps).
  admin_psql "$port" >/dev/null <<EOF
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$OWNER_USER') THEN
    CREATE ROLE $OWNER_USER;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$APP_USER') THEN
    CREATE ROLE $APP_USER;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$READER_USER') THEN
    CREATE ROLE $READER_USER;
  END IF;
END \$\$;
ALTER ROLE $OWNER_USER WITH LOGIN CREATEDB NOCREATEROLE NOSUPERUSER NOREPLICATION NOBYPASSRLS PASSWORD $(sql_literal "$(password_of "$OWNER_USER")");
ALTER ROLE $APP_USER WITH LOGIN NOCREATEDB NOCREATEROLE NOSUPERUSER NOREPLICATION NOBYPASSRLS PASSWORD $(sql_literal "$(password_of "$APP_USER")");
ALTER ROLE $READER_USER WITH LOGIN NOCREATEDB NOCREATEROLE NOSUPERUSER NOREPLICATION NOBYPASSRLS PASSWORD $(sql_literal "$(password_of "$READER_USER")");
SELECT 'CREATE DATABASE $APP_DB OWNER $OWNER_USER'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$APP_DB')\gexec
ALTER DATABASE $APP_DB OWNER TO $OWNER_USER;
EOF
  # A cluster of an earlier version: the writer owned the tables (and the
  # databases the tests made). The owner takes them over.
  DBNAME="$APP_DB" admin_psql "$port" >/dev/null <<EOF
REASSIGN OWNED BY $APP_USER, $READER_USER TO $OWNER_USER;
EOF
}

# The schema step (tables and grants) on the application database, as the
# owner, when a Python with psycopg is at hand.
init_schema() {
  local port="$1" py="${SALES_PYTHON:-$ROOT/.venv/bin/python}"
  # Run at every start: it is idempotent and adds what a newer version's
  # schema has (tables, columns) that the database lacks.
  if ! [ -x "$py" ] || ! "$py" -c 'import psycopg' 2>/dev/null; then
    log "no Python with psycopg ($py): create the tables as the owner with python -m pipelines.init_db (docs/postgres.md)"
    return 0
  fi
  (cd "$ROOT" && PGPASSWORD="$(password_of "$OWNER_USER")" "$py" -m pipelines.init_db \
      --sink "postgresql://$OWNER_USER@127.0.0.1:$port/$APP_DB" \
      --writer_role "$APP_USER" --reader_role "$READER_USER" >&2) \
    || die "the schema step failed (above)"
}

cmd_start() {
  cmd_install
  BINDIR="$(find_bindir)"
  resolve_dirs
  init_cluster
  make_tls
  make_secrets
  write_pgpass
  write_hba
  local port="$PORT"
  if running; then
    port="$(running_port)"
    [ "$port" = "$PORT" ] || log "already running on port $port (not PGPORT=$PORT); using $port"
  else
    if ready "$PORT"; then
      die "another server already answers on 127.0.0.1:$PORT (a Debian cluster? see pg_lsclusters); stop it or set PGPORT"
    fi
    as_owner mkdir -p "$RUN"
    log "starting on 127.0.0.1:$PORT (log: $LOGFILE)"
    if is_root; then touch "$LOGFILE"; chown postgres:postgres "$LOGFILE"; fi
    # 9>&-: the server must not inherit (and hold forever) the start lock.
    as_owner "$BINDIR/pg_ctl" -D "$DATA" -l "$LOGFILE" -w -t 60 start \
      -o "-c port=$PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories='$RUN'" >/dev/null 9>&- \
      || { tail -n 20 "$LOGFILE" >&2 || true; die "the server did not start (log above: $LOGFILE)"; }
  fi
  local i
  for i in $(seq 1 30); do
    ready "$port" && break
    sleep 1
  done
  ready "$port" || die "the server is not accepting connections on 127.0.0.1:$port (log: $LOGFILE)"
  configure_tls "$port"
  bootstrap_role_and_db "$port"
  init_schema "$port"
  log "ready: postgresql://$APP_USER@127.0.0.1:$port/$APP_DB (TLS CA: $TLS/ca.crt; passwords: $SECRETS/, PGPASSFILE=$SECRETS/pgpass)"
}

cmd_stop() {
  BINDIR="$(find_bindir || true)"
  [ -n "$BINDIR" ] || { log "not installed"; return 0; }
  resolve_dirs
  if running; then
    as_owner "$BINDIR/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null
    log "stopped"
  else
    log "not running"
  fi
}

cmd_status() {
  BINDIR="$(find_bindir || true)"
  [ -n "$BINDIR" ] || { echo "not installed"; return 3; }
  resolve_dirs
  if ! running; then echo "stopped (cluster: $DATA)"; return 3; fi
  local port; port="$(running_port)"
  if ready "$port"; then
    echo "running: postgresql://$APP_USER@127.0.0.1:$port/$APP_DB (cluster: $DATA)"
  else
    echo "started but not accepting connections yet on 127.0.0.1:$port (log: $LOGFILE)"
    return 1
  fi
}

current_port() {
  BINDIR="$(find_bindir || true)"
  [ -n "$BINDIR" ] || die "not installed"
  resolve_dirs
  if running; then running_port; else echo "$PORT"; fi
}

cmd_url() {
  local role; role="$(role_name "${1:-writer}")"
  echo "postgresql://$role@127.0.0.1:$(current_port)/$APP_DB"
}

cmd_password_file() {
  local role; role="$(role_name "${1:-writer}")"
  resolve_dirs
  [ -s "$SECRETS/$role.password" ] || die "no password file for $role yet: run start first"
  echo "$SECRETS/$role.password"
}

cmd_pgpass() {
  resolve_dirs
  [ -s "$SECRETS/pgpass" ] || die "no password file yet: run start first"
  echo "$SECRETS/pgpass"
}

cmd_ca() {
  resolve_dirs
  [ -s "$TLS/ca.crt" ] || die "no CA certificate yet: run start first"
  echo "$TLS/ca.crt"
}

cmd_psql() {
  local port; port="$(current_port)"
  BINDIR="$(find_bindir)"
  PGPASSWORD="$(password_of "$APP_USER")" exec "$BINDIR/psql" -X \
    "postgresql://$APP_USER@127.0.0.1:$port/$APP_DB?sslmode=verify-full&sslrootcert=$TLS/ca.crt" "$@"
}

# One start at a time: two at once (pytest-xdist workers whose session
# fixtures both find the server down) raced for the cluster's own lock file,
# and the loser failed. The lock sits where the cluster does by default.
with_start_lock() {
  local dir="${SALES_CACHE:-${HOME:-/tmp}/.cache/sales-pipeline}"
  mkdir -p "$dir"
  exec 9>>"$dir/postgres-start.lock"
  flock 9
  "$@"
}

case "${1:-}" in
  install) cmd_install ;;
  start)   with_start_lock cmd_start ;;
  stop)    cmd_stop ;;
  status)  cmd_status ;;
  url)     cmd_url "${2:-writer}" ;;
  password-file) cmd_password_file "${2:-writer}" ;;
  pgpass)  cmd_pgpass ;;
  ca)      cmd_ca ;;
  psql)    shift; cmd_psql "$@" ;;
  *) echo "usage: $0 install|start|stop|status|url [ROLE]|password-file [ROLE]|pgpass|ca|psql [psql args]" >&2; exit 2 ;;
esac
