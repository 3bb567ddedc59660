#!/usr/bin/env bash
# A local PostgreSQL for the sales pipeline: Debian's server package, one
# private cluster, listening on 127.0.0.1 only.
#
#   services/postgres/postgres.sh install   # apt-get install postgresql if missing
#   services/postgres/postgres.sh start     # install, initdb, start, create role+db
#   services/postgres/postgres.sh status    # exit 0 when accepting connections
#   services/postgres/postgres.sh stop
#   services/postgres/postgres.sh psql [psql args...]   # as the app role
#   services/postgres/postgres.sh url       # print the connection URL (no password)
#
# Environment (all optional):
#   PGPORT              port on 127.0.0.1 (default 5432)
#   SALES_CACHE         cache root (default $HOME/.cache/sales-pipeline); the
#                       cluster lives in $SALES_CACHE/postgres
#   SALES_PG_DATA       the cluster directory itself (overrides the above)
#   SALES_PG_USER       application role (default sales)
#   SALES_PG_DB         application database (default sales)
#   SALES_PG_PASSWORD   the role's password (default sales-local-only: this
#                       cluster only listens on loopback and is for local
#                       development and tests; set your own otherwise)
#
# The server refuses to run as root, so when this script runs as root the
# cluster is owned by and run as the `postgres` OS user that Debian's package
# creates. Root's $HOME is usually private (mode 700), which that user cannot
# enter; then, unless SALES_CACHE or SALES_PG_DATA is set, the cluster goes to
# /var/lib/postgresql/sales-pipeline (the postgres user's home) instead.
#
# The application role gets CREATEDB so the integration tests can make a
# fresh database per test module. Local connections over the Unix socket use
# peer authentication (OS user = superuser); TCP connections on 127.0.0.1 use
# scram-sha-256 passwords.
#
# Idempotent: every command can be run again; `start` on a running cluster
# only re-checks the role, its password and the database.
set -euo pipefail

PORT="${PGPORT:-5432}"
APP_USER="${SALES_PG_USER:-sales}"
APP_DB="${SALES_PG_DB:-sales}"
APP_PASSWORD="${SALES_PG_PASSWORD:-sales-local-only}"

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
  as_owner "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$RUN" -p "$1" -d postgres "${@:2}"
}

bootstrap_role_and_db() {
  local port="$1" pw_sql
  # Double any single quote so the password is a valid SQL literal; it is
  # sent on stdin, never on a command line (visible in ps).
  pw_sql="${APP_PASSWORD//\'/\'\'}"
  [[ "$APP_USER" =~ ^[a-z_][a-z0-9_]*$ ]] || die "SALES_PG_USER must be a plain lower-case identifier"
  [[ "$APP_DB" =~ ^[a-z_][a-z0-9_]*$ ]] || die "SALES_PG_DB must be a plain lower-case identifier"
  admin_psql "$port" >/dev/null <<EOF
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$APP_USER') THEN
    CREATE ROLE $APP_USER LOGIN CREATEDB;
  END IF;
END \$\$;
ALTER ROLE $APP_USER WITH LOGIN CREATEDB PASSWORD '$pw_sql';
SELECT 'CREATE DATABASE $APP_DB OWNER $APP_USER'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$APP_DB')\gexec
EOF
}

cmd_start() {
  cmd_install
  BINDIR="$(find_bindir)"
  resolve_dirs
  init_cluster
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
    as_owner "$BINDIR/pg_ctl" -D "$DATA" -l "$LOGFILE" -w -t 60 start \
      -o "-c port=$PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories='$RUN'" >/dev/null \
      || { tail -n 20 "$LOGFILE" >&2 || true; die "the server did not start (log above: $LOGFILE)"; }
  fi
  local i
  for i in $(seq 1 30); do
    ready "$port" && break
    sleep 1
  done
  ready "$port" || die "the server is not accepting connections on 127.0.0.1:$port (log: $LOGFILE)"
  bootstrap_role_and_db "$port"
  log "ready: postgresql://$APP_USER@127.0.0.1:$port/$APP_DB (password: \$SALES_PG_PASSWORD, default for this local cluster: sales-local-only)"
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
  echo "postgresql://$APP_USER@127.0.0.1:$(current_port)/$APP_DB"
}

cmd_psql() {
  local port; port="$(current_port)"
  BINDIR="$(find_bindir)"
  PGPASSWORD="$APP_PASSWORD" exec "$BINDIR/psql" -X \
    "postgresql://$APP_USER@127.0.0.1:$port/$APP_DB" "$@"
}

case "${1:-}" in
  install) cmd_install ;;
  start)   cmd_start ;;
  stop)    cmd_stop ;;
  status)  cmd_status ;;
  url)     cmd_url ;;
  psql)    shift; cmd_psql "$@" ;;
  *) echo "usage: $0 install|start|stop|status|url|psql [psql args]" >&2; exit 2 ;;
esac
