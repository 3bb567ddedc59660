#!/usr/bin/env bash
# A standalone Spark cluster on loopback: one master and one worker (Spark's
# own classes, from the jars runners/spark/setup.sh took out of the pyspark
# sdist), a history server that shows finished applications from their event
# logs, and a Beam Python SDK worker pool for --environment_type=EXTERNAL (the
# project's venv; there is no Docker here).
#
#   runners/spark/cluster.sh start     # idempotent; waits until healthy
#   runners/spark/cluster.sh status    # exit 0 when all four are up
#   runners/spark/cluster.sh stop      # SIGTERM, then SIGKILL after a grace time
#
# Environment:
#   SPARK_MASTER_PORT        master RPC port                 (default 7177)
#   SPARK_MASTER_WEBUI_PORT  master web UI (/json/)          (default 8180)
#   SPARK_WORKER_PORT        worker RPC port                 (default 7178)
#   SPARK_WORKER_WEBUI_PORT  worker web UI                   (default 8181)
#   SPARK_HISTORY_UI_PORT    history server (/api/v1/)       (default 18180)
#   BEAM_WORKER_POOL_PORT    Python worker pool port         (default 50100; 0 = no pool)
#   SPARK_WORKER_CORES / SPARK_WORKER_MEMORY                 (2 / 2g)
#   SPARK_CLUSTER_DIR        logs, pids, work dirs, event logs
#                            (default $SALES_CACHE/spark/cluster-$SPARK_MASTER_PORT)
#   SPARK_START_TIMEOUT      seconds to wait for health      (default 120)
#
# Every process binds 127.0.0.1 (SPARK_LOCAL_IP). Logs: $DIR/log/*.out.
# Event logs (what the history server reads): $DIR/events; drivers write
# there when given spark_options.cluster_args(event_log_dir=...).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${SALES_CACHE:-$HOME/.cache/sales-pipeline}/spark"
MASTER_PORT="${SPARK_MASTER_PORT:-7177}"
MASTER_UI="${SPARK_MASTER_WEBUI_PORT:-8180}"
WORKER_PORT="${SPARK_WORKER_PORT:-7178}"
WORKER_UI="${SPARK_WORKER_WEBUI_PORT:-8181}"
HISTORY_UI="${SPARK_HISTORY_UI_PORT:-18180}"
POOL_PORT="${BEAM_WORKER_POOL_PORT:-50100}"
CORES="${SPARK_WORKER_CORES:-2}"
MEMORY="${SPARK_WORKER_MEMORY:-2g}"
DIR="${SPARK_CLUSTER_DIR:-$CACHE/cluster-$MASTER_PORT}"
TIMEOUT="${SPARK_START_TIMEOUT:-120}"
PY="${PYTHON:-}"
if [[ -z "$PY" ]]; then
  if [[ -x "$REPO_ROOT/.venv/bin/python" ]]; then PY="$REPO_ROOT/.venv/bin/python"; else PY=python3; fi
fi
LOG="$DIR/log"; RUN="$DIR/run"; EVENTS="$DIR/events"; WORK="$DIR/work"
export SPARK_LOCAL_IP=127.0.0.1
# PROCESS environments: the executors run runners/flink/sdk_boot.sh, which
# starts the SDK harness with this interpreter (the project's venv).
export BEAM_SDK_PYTHON="${BEAM_SDK_PYTHON:-$PY}"
# ... importing this checkout's modules (pipelines, transforms), the ones
# the submitted pipeline was built from, before any other install of them.
export PYTHONPATH="$REPO_ROOT${PYTHONPATH:+:$PYTHONPATH}"

CLUSTER_NAME=spark
# shellcheck source=../lib/cluster.sh
source "$HERE/../lib/cluster.sh"               # log, pid_alive, spawn, the pool

load_dist() {
  [[ -f "$CACHE/versions.env" ]] || { log "Spark is not set up: run runners/spark/setup.sh first"; exit 2; }
  # shellcheck disable=SC1091
  source "$CACHE/versions.env"
  [[ -d "$SPARK_HOME/jars" ]] || { log "no Spark jars at $SPARK_HOME: run runners/spark/setup.sh"; exit 2; }
  # The worker builds each executor's command line from SPARK_HOME (jars/,
  # found through the RELEASE file setup.sh writes); Spark's launcher asks
  # for the Scala version of a distribution it cannot otherwise tell.
  export SPARK_HOME SPARK_SCALA_VERSION=2.12
}

start_jvm() {  # name main-class [args...]
  local name="$1" main="$2"; shift 2
  already_running "$name" && return
  spawn "$name" "$LOG/$name.out" java -Xmx256m -cp "$SPARK_HOME/conf:$SPARK_HOME/jars/*" \
    -Dspark.history.fs.logDirectory="file://$EVENTS" \
    -Dspark.history.ui.port="$HISTORY_UI" \
    -Dspark.history.fs.update.interval=2s \
    -Dspark.worker.cleanup.enabled=true \
    "$main" "$@"
  log "started $name (pid $PROC_PID)"
}

# Health: the master's /json/ lists an ALIVE worker with cores; the history
# server answers its REST API; the pool accepts connections.
master_healthy() {
  "$PY" - "$MASTER_UI" <<'EOF'
import json, sys, urllib.request
try:
    with urllib.request.urlopen("http://127.0.0.1:%s/json/" % sys.argv[1], timeout=3) as r:
        o = json.load(r)
except Exception:
    sys.exit(1)
alive = [w for w in o.get("workers", []) if w.get("state") == "ALIVE"]
print("master=%s status=%s workers=%d cores=%s" % (o.get("url"), o.get("status"), len(alive), o.get("cores")))
sys.exit(0 if o.get("status") == "ALIVE" and alive else 1)
EOF
}

history_healthy() {
  curl -sf --max-time 3 "http://127.0.0.1:$HISTORY_UI/api/v1/applications" >/dev/null
}

cmd_start() {
  load_dist
  mkdir -p "$LOG" "$RUN" "$EVENTS" "$WORK" "$SPARK_HOME/conf"
  chmod 700 "$DIR"
  if pid_alive master && pid_alive worker && master_healthy >/dev/null && history_healthy && pool_healthy; then
    log "already running"; cmd_status; return
  fi
  start_jvm master org.apache.spark.deploy.master.Master \
    --host 127.0.0.1 --port "$MASTER_PORT" --webui-port "$MASTER_UI"
  start_jvm worker org.apache.spark.deploy.worker.Worker \
    --host 127.0.0.1 --port "$WORKER_PORT" --webui-port "$WORKER_UI" \
    --cores "$CORES" --memory "$MEMORY" --work-dir "$WORK" "spark://127.0.0.1:$MASTER_PORT"
  start_jvm history org.apache.spark.deploy.history.HistoryServer
  start_pool
  local t0=$SECONDS p
  until master_healthy >/dev/null && history_healthy && pool_healthy; do
    for p in master worker history; do
      pid_alive "$p" || { log "$p died; last lines of $LOG/$p.out:"; tail -30 "$LOG/$p.out" >&2; cmd_stop; exit 1; }
    done
    if (( SECONDS - t0 > TIMEOUT )); then log "not healthy after ${TIMEOUT}s (logs in $LOG)"; cmd_stop; exit 1; fi
    sleep 1
  done
  log "healthy after $((SECONDS - t0))s: spark://127.0.0.1:$MASTER_PORT  $(master_healthy)"
  cmd_status
}

cmd_stop() {
  stop_one worker
  stop_one master
  stop_one history
  stop_one worker-pool
}

cmd_status() {
  local rc=0 h
  process_status master worker history || rc=1
  pool_status || rc=1
  if h="$(master_healthy)"; then echo "master: spark://127.0.0.1:$MASTER_PORT, UI http://127.0.0.1:$MASTER_UI ($h)"
  else echo "master: not healthy (UI port $MASTER_UI)"; rc=1; fi
  if history_healthy; then echo "history: http://127.0.0.1:$HISTORY_UI (event logs $EVENTS)"
  else echo "history: not answering on port $HISTORY_UI"; rc=1; fi
  echo "logs: $LOG"
  return $rc
}

cluster_main "$@"
