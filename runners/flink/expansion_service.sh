#!/usr/bin/env bash
# Beam's Java IO expansion service (KafkaIO for Python's ReadFromKafka /
# WriteToKafka) without Docker: the expanded Java transforms get an EMBEDDED
# environment, i.e. they run inside the Flink JVMs (the job server's
# MiniCluster, or the TaskManager), whose classpath has KafkaIO (setup.sh
# puts it in the job server jar).
#
#   runners/flink/expansion_service.sh setup    # build/cached jar, prints its path
#   runners/flink/expansion_service.sh start    # on localhost:$BEAM_EXPANSION_PORT (8097)
#   runners/flink/expansion_service.sh status|stop
#
# Python side:
#   ReadFromKafka(..., expansion_service="localhost:8097")
#
# The jar is assembled (maven-shade) from beam-sdks-java-expansion-service +
# beam-sdks-java-io-kafka + kafka-clients, at the same Beam Java version as the
# Flink job server (a published beam-sdks-java-io-expansion-service jar is
# used instead when the registry has one), so Java-serialized transforms match
# the runner's classes.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${SALES_CACHE:-$HOME/.cache/sales-pipeline}/flink"
PORT="${BEAM_EXPANSION_PORT:-8097}"
ENV_TYPE="${BEAM_EXPANSION_ENV:-EMBEDDED}"
KAFKA_CLIENTS_VERSION="${KAFKA_CLIENTS_VERSION:-3.9.1}"
RUN="$CACHE/expansion-$PORT"
log() { echo "[expansion-service] $*" >&2; }
# shellcheck source=../../services/lib/proc.sh
source "$HERE/../../services/lib/proc.sh"

[[ -f "$CACHE/versions.env" ]] || { log "run runners/flink/setup.sh first"; exit 2; }
# shellcheck disable=SC1091
source "$CACHE/versions.env"
# Default: the job server's Beam Java version (EMBEDDED needs them equal).
BEAM="${BEAM_EXPANSION_JAVA_VERSION:-${JOB_SERVER_BEAM_JAVA_VERSION:?}}"
JAR="$CACHE/beam-sdks-java-io-expansion-service-$BEAM.jar"

cmd_setup() {
  if [[ -f "$JAR" && -z "${FORCE:-}" ]]; then echo "$JAR"; return; fi
  local dir="$CACHE/build/io-expansion-service-$BEAM"
  mkdir -p "$dir"
  if mvn -B -q -s "$CACHE/build/settings.xml" dependency:copy \
       -Dartifact="org.apache.beam:beam-sdks-java-io-expansion-service:$BEAM" \
       -DoutputDirectory="$CACHE" >"$dir/copy.log" 2>&1; then
    echo "$JAR"; return
  fi
  log "beam-sdks-java-io-expansion-service:$BEAM not on the registry; assembling it ..."
  cat > "$dir/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.sales-pipeline</groupId>
  <artifactId>beam-sdks-java-io-expansion-service</artifactId>
  <version>$BEAM</version>
  <dependencies>
    <dependency><groupId>org.apache.beam</groupId><artifactId>beam-sdks-java-expansion-service</artifactId><version>$BEAM</version></dependency>
    <dependency>
      <groupId>org.apache.beam</groupId><artifactId>beam-sdks-java-io-kafka</artifactId><version>$BEAM</version>
      <exclusions><exclusion><groupId>io.confluent</groupId><artifactId>*</artifactId></exclusion></exclusions>
    </dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-clients</artifactId><version>$KAFKA_CLIENTS_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-jdk14</artifactId><version>1.7.30</version></dependency>
  </dependencies>
  <build><plugins><plugin>
    <groupId>org.apache.maven.plugins</groupId><artifactId>maven-shade-plugin</artifactId><version>3.5.1</version>
    <executions><execution><phase>package</phase><goals><goal>shade</goal></goals>
      <configuration>
        <createDependencyReducedPom>false</createDependencyReducedPom>
        <filters><filter><artifact>*:*</artifact><excludes>
          <exclude>META-INF/*.SF</exclude><exclude>META-INF/*.DSA</exclude><exclude>META-INF/*.RSA</exclude><exclude>module-info.class</exclude>
        </excludes></filter></filters>
        <transformers>
          <transformer implementation="org.apache.maven.plugins.shade.resource.ServicesResourceTransformer"/>
          <transformer implementation="org.apache.maven.plugins.shade.resource.ManifestResourceTransformer">
            <mainClass>org.apache.beam.sdk.expansion.service.ExpansionService</mainClass>
            <manifestEntries><Multi-Release>true</Multi-Release></manifestEntries>
          </transformer>
        </transformers>
      </configuration></execution></executions>
  </plugin></plugins></build>
</project>
EOF
  (cd "$dir" && mvn -B -q -s "$CACHE/build/settings.xml" package) >"$dir/build.log" 2>&1 || {
    tail -30 "$dir/build.log" >&2; log "build failed ($dir/build.log)"; exit 1; }
  cp "$dir/target/beam-sdks-java-io-expansion-service-$BEAM.jar" "$JAR.tmp" && mv "$JAR.tmp" "$JAR"
  echo "$JAR"
}

# Beam's ExpansionService.main binds every interface: compile a 20-line
# launcher (java/LoopbackExpansionService.java) that binds 127.0.0.1.
LAUNCHER_DIR="$CACHE/build/expansion-launcher-$BEAM"
build_launcher() {
  local src="$HERE/java/LoopbackExpansionService.java"
  if [[ ! -f "$LAUNCHER_DIR/LoopbackExpansionService.class" || "$src" -nt "$LAUNCHER_DIR/LoopbackExpansionService.class" ]]; then
    mkdir -p "$LAUNCHER_DIR"
    javac -nowarn -cp "$JAR" -d "$LAUNCHER_DIR" "$src"
  fi
}

alive() { proc_alive "$RUN/pid"; }
listening() { port_open "$PORT"; }

cmd_start() {
  cmd_setup >/dev/null
  build_launcher
  mkdir -p "$RUN"
  if alive; then log "already running (pid $(cat "$RUN/pid"))"; return; fi
  # ExpansionService <port> [pipeline options]; the environment options are
  # what keeps the expanded transforms off Docker.
  setsid nohup java -cp "$JAR:$LAUNCHER_DIR" LoopbackExpansionService "$PORT" \
    --defaultEnvironmentType="$ENV_TYPE" \
    ${BEAM_EXPANSION_ENV_CONFIG:+--defaultEnvironmentConfig="$BEAM_EXPANSION_ENV_CONFIG"} \
    >"$RUN/expansion.log" 2>&1 < /dev/null &
  echo $! > "$RUN/pid"
  local rc=0
  proc_wait_ready "$(cat "$RUN/pid")" 60 listening || rc=$?
  if (( rc == 1 )); then
    log "died (exit status $PROC_EXIT_STATUS):"; tail -20 "$RUN/expansion.log" >&2; exit 1
  elif (( rc == 2 )); then
    log "not listening after 60s"; cmd_stop; exit 1
  fi
  log "listening on localhost:$PORT (pid $(cat "$RUN/pid"), env $ENV_TYPE, log $RUN/expansion.log)"
}

cmd_stop() {
  [[ -f "$RUN/pid" ]] || return 0
  proc_stop "$RUN/pid" 10 expansion-service
}

cmd_status() {
  if alive && listening; then echo "expansion-service: running on localhost:$PORT (pid $(cat "$RUN/pid"))"
  else echo "expansion-service: stopped"; return 1; fi
}

case "${1:-}" in
  setup) cmd_setup ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 setup|start|stop|status" >&2; exit 2 ;;
esac
