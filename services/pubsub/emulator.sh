#!/usr/bin/env bash
# The local Pub/Sub emulator (see main.go) on 127.0.0.1.
#
#   services/pubsub/emulator.sh start    # build if needed, start, wait until it answers
#   services/pubsub/emulator.sh status   # exit 0 and print pid/address when running
#   services/pubsub/emulator.sh stop     # SIGTERM, then SIGKILL after 10 s
#   services/pubsub/emulator.sh env      # print `export PUBSUB_EMULATOR_HOST=...`
#
# Every command is idempotent. Environment:
#   SALES_CACHE         cache root (default ~/.cache/sales-pipeline)
#   PUBSUB_PORT         port (default 8085)
#   PUBSUB_RUN_DIR      pid and log files (default $SALES_CACHE/pubsub/run-$PUBSUB_PORT)
#   PUBSUB_START_TIMEOUT  seconds start waits for the port (default 30)
#
# Clients (google-cloud-pubsub, Beam's Pub/Sub IO, the pipeline) use it when
# PUBSUB_EMULATOR_HOST=127.0.0.1:$PUBSUB_PORT is set in their environment.
# State is in memory only: stop loses every topic, subscription and message.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SALES_CACHE="${SALES_CACHE:-$HOME/.cache/sales-pipeline}"
PUBSUB_PORT="${PUBSUB_PORT:-8085}"
RUN_DIR="${PUBSUB_RUN_DIR:-$SALES_CACHE/pubsub/run-$PUBSUB_PORT}"
START_TIMEOUT="${PUBSUB_START_TIMEOUT:-30}"
PIDFILE="$RUN_DIR/emulator.pid"
LOGFILE="$RUN_DIR/emulator.log"
ADDR="127.0.0.1:$PUBSUB_PORT"

log() { echo "pubsub-emulator: $*" >&2; }

# shellcheck source=../lib/proc.sh
source "$HERE/../lib/proc.sh"
# The binary's name is on its command line (pid reuse guard).
pid_alive() { proc_alive "$PIDFILE" pubsub-emulator; }
listening() { port_open "$PUBSUB_PORT"; }

start() {
  if pid_alive; then
    log "already running (pid $(cat "$PIDFILE")) on $ADDR"
    echo "export PUBSUB_EMULATOR_HOST=$ADDR"
    return 0
  fi
  if listening; then
    log "port $PUBSUB_PORT is in use by another process; set PUBSUB_PORT"
    exit 1
  fi
  local bin
  bin="$("$HERE/setup.sh")"
  mkdir -p "$RUN_DIR"
  : >"$LOGFILE"
  # setsid: the emulator outlives this shell and is not hit by its Ctrl-C.
  setsid "$bin" -host 127.0.0.1 -port "$PUBSUB_PORT" >>"$LOGFILE" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$PIDFILE"
  local rc=0
  proc_wait_ready "$pid" "$START_TIMEOUT" listening || rc=$?
  if (( rc == 1 )); then
    log "exited during start (exit status $PROC_EXIT_STATUS); log: $LOGFILE"
    tail -n 20 "$LOGFILE" >&2 || true
    rm -f "$PIDFILE"
    exit 1
  elif (( rc == 2 )); then
    log "did not open $ADDR within ${START_TIMEOUT}s; log: $LOGFILE"
    stop
    exit 1
  fi
  log "started (pid $(cat "$PIDFILE")) on $ADDR; log: $LOGFILE"
  echo "export PUBSUB_EMULATOR_HOST=$ADDR"
}

stop() {
  proc_stop "$PIDFILE" 10 pubsub-emulator pubsub-emulator
}

status() {
  if pid_alive && listening; then
    echo "running pid=$(cat "$PIDFILE") address=$ADDR log=$LOGFILE"
    return 0
  fi
  echo "not running (port $PUBSUB_PORT)"
  return 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) echo "export PUBSUB_EMULATOR_HOST=$ADDR" ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
