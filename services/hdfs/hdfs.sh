#!/usr/bin/env bash
# A real, single-node HDFS on 127.0.0.1: one NameNode and one DataNode (two
# JVMs, the daemons' own classes from Apache Hadoop's jars on Maven Central),
# WebHDFS on (what Beam's hdfs:// filesystem speaks).
#
#   services/hdfs/hdfs.sh setup    # fetch the jars into the cache (mvn)
#   services/hdfs/hdfs.sh start    # setup if needed, format once, start, wait healthy
#   services/hdfs/hdfs.sh status   # exit 0 and print pids/ports when running
#   services/hdfs/hdfs.sh stop     # stop both JVMs (SIGTERM, then SIGKILL)
#
# Every command is idempotent. Environment:
#   SALES_CACHE             cache root (default ~/.cache/sales-pipeline)
#   HADOOP_VERSION          Hadoop version on Maven Central (default 3.4.1)
#   HDFS_NAMENODE_PORT      NameNode RPC port (default 8121; fs.defaultFS)
#   HDFS_WEBHDFS_PORT       NameNode HTTP/WebHDFS port (default 9871)
#   HDFS_DATANODE_PORT      DataNode data transfer port (default 9876)
#   HDFS_DATANODE_HTTP_PORT DataNode HTTP port, where WebHDFS redirects reads
#                           and writes (default 9875)
#   HDFS_DATANODE_IPC_PORT  DataNode IPC port (default 9877)
#   HDFS_DATA_DIR           name/data dirs, config, logs, pids
#                           (default $SALES_CACHE/hdfs/data-$HDFS_WEBHDFS_PORT)
#   HDFS_HEAP_OPTS          JVM heap per daemon (default -Xms64m -Xmx384m)
#   HDFS_START_TIMEOUT      seconds start waits for health (default 120)
#
# Security: every port binds 127.0.0.1. Authentication is Hadoop's "simple"
# (WebHDFS trusts the user.name a client sends): anyone who can reach the
# loopback ports can act as any HDFS user; permissions are on, and the
# superuser is whoever started the daemons (docs/spark.md).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SALES_CACHE="${SALES_CACHE:-$HOME/.cache/sales-pipeline}"
HADOOP_VERSION="${HADOOP_VERSION:-3.4.1}"
NN_PORT="${HDFS_NAMENODE_PORT:-8121}"
WEB_PORT="${HDFS_WEBHDFS_PORT:-9871}"
DN_PORT="${HDFS_DATANODE_PORT:-9876}"
DN_HTTP_PORT="${HDFS_DATANODE_HTTP_PORT:-9875}"
DN_IPC_PORT="${HDFS_DATANODE_IPC_PORT:-9877}"
DIR="${HDFS_DATA_DIR:-$SALES_CACHE/hdfs/data-$WEB_PORT}"
HEAP="${HDFS_HEAP_OPTS:--Xms64m -Xmx384m}"
TIMEOUT="${HDFS_START_TIMEOUT:-120}"
JAVA="${JAVA:-java}"

LIBS="$SALES_CACHE/hdfs/$HADOOP_VERSION/libs"
CONF="$DIR/conf"; LOG="$DIR/log"; RUN="$DIR/run"

log() { echo "hdfs: $*" >&2; }
# shellcheck source=../lib/proc.sh
source "$HERE/../lib/proc.sh"

setup() {
  [[ -f "$LIBS/.complete" ]] && return 0
  command -v mvn >/dev/null || { log "mvn not found (apt-get install maven)"; exit 1; }
  log "fetching Hadoop $HADOOP_VERSION jars from Maven Central into $LIBS"
  mkdir -p "$LIBS"
  local work
  work="$(mktemp -d)"
  cp "$HERE/pom.xml" "$work/pom.xml"
  (cd "$work" && mvn -q -B -Dstyle.color=never dependency:copy-dependencies \
      -Dhadoop.version="$HADOOP_VERSION" -DincludeScope=runtime \
      -DoutputDirectory="$LIBS") >&2
  rm -rf "$work"
  ls "$LIBS"/hadoop-hdfs-"$HADOOP_VERSION".jar >/dev/null
  touch "$LIBS/.complete"
  log "jars ready ($(ls "$LIBS" | wc -l) files)"
}

prop() { printf '  <property><name>%s</name><value>%s</value></property>\n' "$1" "$2"; }

write_conf() {
  mkdir -p "$CONF" "$LOG" "$RUN" "$DIR/name" "$DIR/data" "$DIR/tmp"
  chmod 700 "$DIR"
  # Hadoop's HTTP servers look up webapps/<name> on the classpath; the jars
  # on Maven Central do not carry them (the UI pages). WebHDFS and /jmx are
  # servlets added in code: empty directories are enough for them.
  mkdir -p "$CONF/webapps/hdfs" "$CONF/webapps/datanode" "$CONF/webapps/static"
  { echo '<configuration>'
    prop fs.defaultFS "hdfs://127.0.0.1:$NN_PORT"
    prop hadoop.tmp.dir "$DIR/tmp"
    echo '</configuration>'; } > "$CONF/core-site.xml"
  { echo '<configuration>'
    prop dfs.namenode.rpc-address "127.0.0.1:$NN_PORT"
    prop dfs.namenode.rpc-bind-host 127.0.0.1
    prop dfs.namenode.http-address "127.0.0.1:$WEB_PORT"
    prop dfs.namenode.http-bind-host 127.0.0.1
    prop dfs.namenode.https-address 127.0.0.1:0
    prop dfs.namenode.secondary.http-address 127.0.0.1:0
    prop dfs.namenode.name.dir "file://$DIR/name"
    prop dfs.datanode.data.dir "file://$DIR/data"
    prop dfs.datanode.address "127.0.0.1:$DN_PORT"
    prop dfs.datanode.http.address "127.0.0.1:$DN_HTTP_PORT"
    prop dfs.datanode.ipc.address "127.0.0.1:$DN_IPC_PORT"
    prop dfs.datanode.hostname 127.0.0.1
    prop dfs.namenode.datanode.registration.ip-hostname-check false
    prop dfs.replication 1
    prop dfs.webhdfs.enabled true
    prop dfs.permissions.enabled true
    # one DataNode: never wait for a second one to write a block
    prop dfs.client.block.write.replace-datanode-on-failure.enable false
    prop dfs.namenode.safemode.extension 0
    echo '</configuration>'; } > "$CONF/hdfs-site.xml"
  cat > "$CONF/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=${hadoop.log.file}
log4j.appender.file.MaxFileSize=20MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=%d{ISO8601} %-5p %c{2}: %m%n
EOF
}

CP() { echo "$CONF:$LIBS/*"; }

java_cmd() {  # name main-class [args...] -> JCMD (the daemon's command line)
  local name="$1" main="$2"; shift 2
  # shellcheck disable=SC2206
  JCMD=("$JAVA" $HEAP -Dhadoop.log.file="$LOG/$name.log" -Dlog4j.configuration="file:$CONF/log4j.properties"
    -Dhadoop.home.dir="$DIR" -Djava.net.preferIPv4Stack=true
    --add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.util=ALL-UNNAMED
    --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED
    -cp "$(CP)" "$main" "$@")
}

format_once() {
  [[ -f "$DIR/name/current/VERSION" ]] && return 0
  log "formatting a new namespace in $DIR/name"
  java_cmd format org.apache.hadoop.hdfs.server.namenode.NameNode -format -nonInteractive
  "${JCMD[@]}" >"$LOG/format.out" 2>&1 || { tail -20 "$LOG/format.out" >&2; log "format failed"; exit 1; }
}

start_daemon() {
  local name="$1" main="$2"
  if proc_alive "$RUN/$name.pid" "$main"; then log "$name already running (pid $(cat "$RUN/$name.pid"))"; return; fi
  java_cmd "$name" "$main"
  setsid nohup "${JCMD[@]}" >"$LOG/$name.out" 2>&1 < /dev/null &
  echo $! > "$RUN/$name.pid"
  log "started $name (pid $(cat "$RUN/$name.pid"))"
}

# Healthy: WebHDFS answers, one live DataNode, the NameNode out of safe mode.
healthy() {
  local jmx
  jmx="$(curl -sf --max-time 3 "http://127.0.0.1:$WEB_PORT/jmx?qry=Hadoop:service=NameNode,name=FSNamesystemState" 2>/dev/null)" || return 1
  grep -q '"NumLiveDataNodes" : [1-9]' <<<"$jmx" || return 1
  curl -sf --max-time 3 "http://127.0.0.1:$WEB_PORT/webhdfs/v1/?op=GETFILESTATUS" >/dev/null || return 1
  curl -sf --max-time 3 "http://127.0.0.1:$WEB_PORT/jmx?qry=Hadoop:service=NameNode,name=NameNodeInfo" 2>/dev/null \
    | grep -q '"Safemode" : ""'
}

cmd_start() {
  setup
  write_conf
  format_once
  if proc_alive "$RUN/namenode.pid" NameNode && proc_alive "$RUN/datanode.pid" DataNode && healthy; then
    log "already running"; cmd_status; return
  fi
  start_daemon namenode org.apache.hadoop.hdfs.server.namenode.NameNode
  start_daemon datanode org.apache.hadoop.hdfs.server.datanode.DataNode
  local t0=$SECONDS p
  until healthy; do
    for p in namenode datanode; do
      kill -0 "$(cat "$RUN/$p.pid")" 2>/dev/null || {
        log "$p died; last lines of $LOG/$p.log:"; tail -30 "$LOG/$p.log" "$LOG/$p.out" >&2 2>/dev/null; cmd_stop; exit 1; }
    done
    if (( SECONDS - t0 > TIMEOUT )); then log "not healthy after ${TIMEOUT}s (logs in $LOG)"; cmd_stop; exit 1; fi
    sleep 0.5
  done
  log "healthy after $((SECONDS - t0))s"
  cmd_status
}

cmd_stop() {
  [[ -f "$RUN/datanode.pid" ]] && proc_stop "$RUN/datanode.pid" 30 "hdfs: datanode" DataNode
  [[ -f "$RUN/namenode.pid" ]] && proc_stop "$RUN/namenode.pid" 30 "hdfs: namenode" NameNode
  return 0
}

cmd_status() {
  local rc=0 p
  for p in namenode datanode; do
    if proc_alive "$RUN/$p.pid"; then echo "$p: running (pid $(cat "$RUN/$p.pid"))"; else echo "$p: stopped"; rc=1; fi
  done
  if healthy; then
    echo "hdfs: hdfs://127.0.0.1:$NN_PORT  webhdfs: http://127.0.0.1:$WEB_PORT (--hdfs_host 127.0.0.1 --hdfs_port $WEB_PORT)"
  else
    echo "hdfs: not healthy on port $WEB_PORT"; rc=1
  fi
  echo "logs: $LOG"
  return $rc
}

case "${1:-}" in
  setup) setup ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  restart) cmd_stop; cmd_start ;;
  *) echo "usage: $0 setup|start|stop|status|restart" >&2; exit 2 ;;
esac
