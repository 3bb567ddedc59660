# What the runners' standalone clusters (runners/flink/cluster.sh,
# runners/spark/cluster.sh) share: their processes' pid files in $RUN and
# output in $LOG, and the Beam Python worker pool (runners/flink/worker_pool.py,
# run by $PY) on $POOL_PORT (0 = none). Sourced once CLUSTER_NAME (flink,
# spark), RUN, LOG, POOL_PORT, PY and REPO_ROOT are set:
#
#   source "$HERE/../lib/cluster.sh"

# shellcheck source=../../services/lib/proc.sh
source "$REPO_ROOT/services/lib/proc.sh"

log() { echo "[$CLUSTER_NAME-cluster] $*" >&2; }

pid_alive() { proc_alive "$RUN/$1.pid"; }

# already_running NAME: true (and says so) if NAME's pid file names a live
# process.
already_running() {
  pid_alive "$1" || return 1
  log "$1 already running (pid $(cat "$RUN/$1.pid"))"
}

# spawn NAME OUTFILE CMD...: CMD in the background as NAME (proc_spawn).
spawn() {
  local name="$1"
  shift
  proc_spawn "$RUN/$name.pid" "$@"
}

start_pool() {
  [[ "$POOL_PORT" != "0" ]] || return 0
  already_running worker-pool && return
  spawn worker-pool "$LOG/worker-pool.log" \
    "$PY" "$REPO_ROOT/runners/flink/worker_pool.py" --service_port="$POOL_PORT"
  log "started worker-pool on 127.0.0.1:$POOL_PORT (pid $PROC_PID)"
}

pool_healthy() {
  [[ "$POOL_PORT" != "0" ]] || return 0
  pid_alive worker-pool && port_open "$POOL_PORT"
}

# pool_status: the worker pool's line of `cluster.sh status`; fails when a
# configured pool is not up.
pool_status() {
  [[ "$POOL_PORT" != "0" ]] || return 0
  if pool_healthy; then echo "worker-pool: running on localhost:$POOL_PORT (pid $(cat "$RUN/worker-pool.pid"))"
  else echo "worker-pool: stopped"; return 1; fi
}

stop_one() {
  [[ -f "$RUN/$1.pid" ]] || return 0
  proc_stop "$RUN/$1.pid" 30 "[$CLUSTER_NAME-cluster] $1"
}

# process_status NAME...: a `NAME: running (pid P)` or `NAME: stopped` line
# each; fails if any is stopped.
process_status() {
  local p rc=0
  for p in "$@"; do
    if pid_alive "$p"; then echo "$p: running (pid $(cat "$RUN/$p.pid"))"; else echo "$p: stopped"; rc=1; fi
  done
  return $rc
}

# cluster_main ACTION: the script's command line (start, stop, status,
# restart), run by its cmd_start, cmd_stop and cmd_status.
cluster_main() {
  case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    restart) cmd_stop; cmd_start ;;
    *) echo "usage: $0 start|stop|status|restart" >&2; exit 2 ;;
  esac
}
