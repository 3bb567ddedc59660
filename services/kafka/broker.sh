#!/usr/bin/env bash
# A real, single-node Apache Kafka broker (KRaft: broker + controller in one
# JVM) on 127.0.0.1, built from Kafka's jars on Maven Central.
#
#   services/kafka/broker.sh setup    # fetch the jars into the cache (mvn)
#   services/kafka/broker.sh start    # setup if needed, format, start, wait healthy
#   services/kafka/broker.sh status   # exit 0 and print pid/port when running
#   services/kafka/broker.sh stop     # stop the JVM (SIGTERM, then SIGKILL)
#
# Every command is idempotent. Environment:
#   SALES_CACHE            cache root (default ~/.cache/sales-pipeline)
#   KAFKA_VERSION          Kafka version on Maven Central (default 4.1.0)
#   KAFKA_PORT             client listener port (default 9092)
#   KAFKA_CONTROLLER_PORT  KRaft controller port (default KAFKA_PORT + 1)
#   KAFKA_DATA_DIR         data dir: config, log segments, pid, broker log
#                          (default $SALES_CACHE/kafka/data-$KAFKA_PORT)
#   KAFKA_HEAP_OPTS        JVM heap (default -Xms256m -Xmx768m)
#   KAFKA_START_TIMEOUT    seconds start waits for health (default 90)
#   JAVA                   java binary (default: java on PATH, Java 17+)
#   KAFKA_SASL_PORT        when set, a second client listener on this port:
#                          SASL_SSL, SCRAM-SHA-512 over TLS (docs/security.md)
#   KAFKA_SASL_USER        its SCRAM user (default sales)
#
# With KAFKA_SASL_PORT, start makes (once per data dir) a local CA and a
# server certificate for 127.0.0.1/::1/localhost ($KAFKA_DATA_DIR/tls,
# services/lib/tls.sh; keys 0600) and the user's random password
# ($KAFKA_DATA_DIR/secrets/<user>.password, 0600, never printed), and
# registers the user's SCRAM credential from a 0600 file (never a command
# line). Clients: security.protocol=SASL_SSL, sasl.mechanisms=SCRAM-SHA-512,
# sasl.username=<user>, sasl.password=file:<that file>,
# ssl.ca.location=$KAFKA_DATA_DIR/tls/ca.crt. The PLAINTEXT listener stays
# (loopback only) for the tests and tools that use it.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SALES_CACHE="${SALES_CACHE:-$HOME/.cache/sales-pipeline}"
KAFKA_VERSION="${KAFKA_VERSION:-4.1.0}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
KAFKA_DATA_DIR="${KAFKA_DATA_DIR:-$SALES_CACHE/kafka/data-$KAFKA_PORT}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
JAVA="${JAVA:-java}"
KAFKA_SASL_PORT="${KAFKA_SASL_PORT:-}"
KAFKA_SASL_USER="${KAFKA_SASL_USER:-sales}"

LIBS="$SALES_CACHE/kafka/$KAFKA_VERSION/libs"
PIDFILE="$KAFKA_DATA_DIR/broker.pid"
LOGFILE="$KAFKA_DATA_DIR/broker.log"
CONFIG="$KAFKA_DATA_DIR/server.properties"
LOG4J="$KAFKA_DATA_DIR/log4j2.properties"
TLS_DIR="$KAFKA_DATA_DIR/tls"
SECRETS="$KAFKA_DATA_DIR/secrets"

log() { echo "kafka-broker: $*" >&2; }
# shellcheck source=../lib/proc.sh
source "$HERE/../lib/proc.sh"
# shellcheck source=../lib/tls.sh
source "$HERE/../lib/tls.sh"

setup() {
  if [[ -f "$LIBS/.complete" ]]; then
    return 0
  fi
  command -v mvn >/dev/null || { log "mvn not found (apt-get install maven)"; exit 1; }
  log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $LIBS"
  mkdir -p "$LIBS"
  # The pom only lists dependencies; build output goes to a throwaway dir so
  # nothing lands in the repository.
  local work
  work="$(mktemp -d)"
  cp "$HERE/pom.xml" "$work/pom.xml"
  (cd "$work" && mvn -q -B -Dstyle.color=never dependency:copy-dependencies \
      -Dkafka.version="$KAFKA_VERSION" -DincludeScope=runtime \
      -DoutputDirectory="$LIBS")
  rm -rf "$work"
  ls "$LIBS"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null
  touch "$LIBS/.complete"
  log "jars ready ($(ls "$LIBS" | wc -l) files)"
}

# The broker JVM's command line names its main class (pid reuse guard).
pid_alive() { proc_alive "$PIDFILE" kafka.Kafka; }

healthy() {
  pid_alive && port_open "$KAFKA_PORT" && grep -q "Kafka Server started" "$LOGFILE" 2>/dev/null \
    && { [[ -z "$KAFKA_SASL_PORT" ]] || port_open "$KAFKA_SASL_PORT"; }
}

# The SASL_SSL listener's certificate (PEM: key and chain in one 0600 file)
# and the SCRAM user's password.
make_sasl_material() {
  tls_make "$TLS_DIR"
  if [[ ! -s "$TLS_DIR/server.pem" ]]; then
    (umask 077; cat "$TLS_DIR/server.key" "$TLS_DIR/server.crt" "$TLS_DIR/ca.crt" >"$TLS_DIR/server.pem")
  fi
  secret_file "$SECRETS/$KAFKA_SASL_USER.password"
}

# Registers the SCRAM-SHA-512 credential through the PLAINTEXT listener; the
# password goes in a 0600 file read by Kafka's ConfigCommand, never argv.
add_scram_user() {
  local file
  file="$(umask 077; mktemp "$SECRETS/.scram.XXXXXX")"
  printf 'SCRAM-SHA-512=iterations=8192,password=%s\n' \
    "$(cat "$SECRETS/$KAFKA_SASL_USER.password")" >"$file"
  # Its messages may echo the file's line: kept out of every log.
  if ! java_cmd kafka.admin.ConfigCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" \
      --alter --entity-type users --entity-name "$KAFKA_SASL_USER" \
      --add-config-file "$file" >/dev/null 2>&1; then
    rm -f "$file"
    log "could not add the SCRAM user $KAFKA_SASL_USER (kafka.admin.ConfigCommand failed)"
    exit 1
  fi
  rm -f "$file"
}

write_config() {
  mkdir -p "$KAFKA_DATA_DIR/log-segments"
  local listeners="PLAINTEXT://127.0.0.1:$KAFKA_PORT"
  local protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
  if [[ -n "$KAFKA_SASL_PORT" ]]; then
    listeners="$listeners,SASL_SSL://127.0.0.1:$KAFKA_SASL_PORT"
    protocols="$protocols,SASL_SSL:SASL_SSL"
  fi
  (umask 077; : >"$CONFIG")
  cat >"$CONFIG" <<EOF
# Generated by services/kafka/broker.sh; single-node KRaft on loopback.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=$listeners,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=$listeners
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protocols
log.dirs=$KAFKA_DATA_DIR/log-segments
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
delete.topic.enable=true
log.retention.hours=168
EOF
  if [[ -n "$KAFKA_SASL_PORT" ]]; then
    cat >>"$CONFIG" <<EOF
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$TLS_DIR/server.pem
listener.name.sasl_ssl.ssl.protocol=TLSv1.3
listener.name.sasl_ssl.ssl.enabled.protocols=TLSv1.3,TLSv1.2
listener.name.sasl_ssl.ssl.client.auth=none
EOF
  fi
  cat >"$LOG4J" <<EOF
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = $LOGFILE
appender.file.append = true
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.apache.name = org.apache.kafka
logger.apache.level = INFO
EOF
}

java_cmd() {
  # shellcheck disable=SC2086
  "$JAVA" $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$LOG4J" \
    -cp "$LIBS/*" "$@"
}

format_storage() {
  if [[ -f "$KAFKA_DATA_DIR/log-segments/meta.properties" ]]; then
    return 0
  fi
  local cluster_id
  cluster_id="$(java_cmd kafka.tools.StorageTool random-uuid | tail -n1)"
  log "formatting $KAFKA_DATA_DIR (cluster id $cluster_id)"
  java_cmd kafka.tools.StorageTool format -t "$cluster_id" -c "$CONFIG" \
      --ignore-formatted >>"$KAFKA_DATA_DIR/format.log" 2>&1 \
    || { cat "$KAFKA_DATA_DIR/format.log" >&2; exit 1; }
}

start() {
  if healthy; then
    log "already running (pid $(cat "$PIDFILE"), 127.0.0.1:$KAFKA_PORT)"
    return 0
  fi
  if ! pid_alive; then
    setup
    mkdir -p "$KAFKA_DATA_DIR"
    for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" $KAFKA_SASL_PORT; do
      if port_open "$p"; then
        log "port $p on 127.0.0.1 is already in use by another process"; exit 1
      fi
    done
    [[ -z "$KAFKA_SASL_PORT" ]] || make_sasl_material
    write_config
    format_storage
    : >"$LOGFILE"
    # setsid: the broker outlives this shell and is not hit by its signals.
    setsid "$JAVA" $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
      -Djava.awt.headless=true -Dlog4j2.configurationFile="$LOG4J" \
      -cp "$LIBS/*" kafka.Kafka "$CONFIG" \
      >>"$KAFKA_DATA_DIR/broker.out" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    log "starting (pid $!, log $LOGFILE)"
  fi
  local pid rc=0
  pid="$(cat "$PIDFILE")"
  proc_wait_ready "$pid" "$KAFKA_START_TIMEOUT" healthy || rc=$?
  if (( rc == 1 )); then
    log "broker exited during start (exit status $PROC_EXIT_STATUS); last lines of its output:"
    tail -n 30 "$KAFKA_DATA_DIR/broker.out" "$LOGFILE" >&2 || true
    rm -f "$PIDFILE"
    exit 1
  elif (( rc == 2 )); then
    log "not healthy after ${KAFKA_START_TIMEOUT}s; stopping it; see $LOGFILE"
    stop
    exit 1
  fi
  [[ -z "$KAFKA_SASL_PORT" ]] || add_scram_user
  log "healthy at 127.0.0.1:$KAFKA_PORT (pid $(cat "$PIDFILE"))${KAFKA_SASL_PORT:+, SASL_SSL at 127.0.0.1:$KAFKA_SASL_PORT (user $KAFKA_SASL_USER, CA $TLS_DIR/ca.crt)}"
}

stop() {
  # Up to 30 s for a clean shutdown (the broker flushes its logs).
  proc_stop "$PIDFILE" 30 kafka-broker kafka.Kafka
}

status() {
  if healthy; then
    echo "running pid=$(cat "$PIDFILE") bootstrap=127.0.0.1:$KAFKA_PORT data=$KAFKA_DATA_DIR"
  elif pid_alive; then
    echo "starting pid=$(cat "$PIDFILE") bootstrap=127.0.0.1:$KAFKA_PORT data=$KAFKA_DATA_DIR"
    return 1
  else
    echo "stopped bootstrap=127.0.0.1:$KAFKA_PORT data=$KAFKA_DATA_DIR"
    return 3
  fi
}

case "${1:-}" in
  setup) setup ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  restart) stop; start ;;
  *) echo "usage: $0 setup|start|stop|status|restart" >&2; exit 2 ;;
esac
