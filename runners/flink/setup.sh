#!/usr/bin/env bash
# Fetch everything the Flink runner path needs into the cache dir, from the
# package registries only (Maven Central through `mvn`, PyPI through `pip`).
#
#   runners/flink/setup.sh            # idempotent; prints where things are
#   FORCE=1 runners/flink/setup.sh    # rebuild the job server jar / dist
#
# Results (under ${SALES_CACHE:-$HOME/.cache/sales-pipeline}/flink):
#   job-server.jar   -> Beam's Flink job server (symlink to the versioned jar)
#   flink-<ver>/     -> a Flink distribution (lib/, opt/, plugins/, bin/) for a
#                       standalone session cluster, started by cluster.sh
#   versions.env     -> what was installed (sourced by cluster.sh)
#
# Why the job server may be *built* here rather than downloaded:
#   Beam publishes `beam-runners-flink-<flink>-job-server` as one shaded jar.
#   When that artifact is not available from the registry (the Maven Central
#   we can reach does not serve it for any Beam version), we assemble the same
#   shaded jar from Beam's published library artifacts
#   (`beam-runners-flink-<flink>` + its dependencies) with maven-shade-plugin,
#   main class org.apache.beam.runners.flink.FlinkJobServerDriver.
set -euo pipefail

FLINK_MINOR="${FLINK_MINOR:-1.19}"                 # Beam's Flink runner line
FLINK_VERSION="${FLINK_VERSION:-1.19.3}"           # Flink distribution
BEAM_VERSION="${BEAM_VERSION:-2.77.0}"             # what we would like
# Beam Java version used when the job-server artifact for BEAM_VERSION is not
# on the registry and we have to assemble it from library artifacts.
BEAM_JAVA_FALLBACK="${BEAM_JAVA_FALLBACK:-2.62.0}"

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/jobserver.sh
source "$HERE/../lib/jobserver.sh"
jobserver_init flink                               # CACHE, BUILD, PY, MVN, log

# ---------------------------------------------------------------- job server
ADD_OPENS="java.base/java.lang java.base/java.lang.reflect java.base/java.io java.base/java.net java.base/java.nio java.base/sun.nio.ch java.base/java.text java.base/java.time java.base/java.util java.base/java.util.concurrent java.base/java.util.concurrent.atomic java.base/java.util.concurrent.locks"
ADD_EXPORTS="java.base/sun.net.util java.rmi/sun.rmi.registry java.security.jgss/sun.security.krb5"

# KafkaIO in the runner's classpath: Java cross-language transforms expanded
# with --defaultEnvironmentType=EMBEDDED run inside the Flink JVMs.
KAFKA_CLIENTS_VERSION="${KAFKA_CLIENTS_VERSION:-3.9.1}"
kafka_deps() {
  cat <<EOF
    <dependency>
      <groupId>org.apache.beam</groupId>
      <artifactId>beam-sdks-java-io-kafka</artifactId>
      <version>$1</version>
      <exclusions>
        <!-- Confluent schema-registry support lives outside Maven Central. -->
        <exclusion><groupId>io.confluent</groupId><artifactId>*</artifactId></exclusion>
      </exclusions>
    </dependency>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka-clients</artifactId>
      <version>$KAFKA_CLIENTS_VERSION</version>
    </dependency>
    <!-- The in-process (EMBEDDED) Java SDK harness needs jamm's MemoryMeter. -->
    <dependency>
      <groupId>com.github.jbellis</groupId>
      <artifactId>jamm</artifactId>
      <version>0.4.0</version>
    </dependency>
EOF
}
# Source patches to Beam's Flink runner (runners/flink/patches/*.patch, each a
# `-p1` diff against the runner's published -sources jar). The patched
# classes are compiled into the job server jar and the original classes are
# left out of it. side-input-view-coder.patch is what makes checkpointing work
# for a stage with a side input (README, Deploy to Flink).
PATCH_DIR="$HERE/patches"
PATCHES=()
for p in "$PATCH_DIR"/*.patch; do [[ -f "$p" ]] && PATCHES+=("$p"); done
patches_digest() {
  if ((${#PATCHES[@]})); then cat "${PATCHES[@]}" | sha256sum | cut -c1-12; else echo none; fi
}
# Bump when the job server recipe changes, so cached jars are rebuilt.
JOB_SERVER_RECIPE="4:kafka-clients-$KAFKA_CLIENTS_VERSION:jamm-0.4.0:patches-$(patches_digest)"

# Files a patch touches (paths under the source root, from its +++ lines).
patched_files() { sed -n 's#^+++ b/\([^[:space:]]*\).*#\1#p' "$@" | sort -u; }

# Extracts the files the patches touch from the runner's sources jar into
# $1/src/main/java and applies the patches there; prints the shade <filter>
# that drops the original classes (and their nested classes) from the runner.
prepare_patches() {
  local dir="$1" beam="$2" src="$1/src/main/java" srcjar f
  rm -rf "$dir/src" "$dir/sources"; mkdir -p "$src"
  ((${#PATCHES[@]})) || return 0
  "${MVN[@]}" dependency:copy \
      -Dartifact="org.apache.beam:beam-runners-flink-$FLINK_MINOR:$beam:jar:sources" \
      -DoutputDirectory="$dir/sources" >"$dir/sources.log" 2>&1 || {
    log "cannot fetch the runner's sources jar for Beam $beam (log: $dir/sources.log)"; return 1; }
  srcjar="$dir/sources/beam-runners-flink-$FLINK_MINOR-$beam-sources.jar"
  mapfile -t files < <(patched_files "${PATCHES[@]}")
  # The JDK's jar tool and git: no unzip or patch needed on the machine.
  (cd "$src" && jar xf "$srcjar" "${files[@]}" && for f in "${files[@]}"; do
     [[ -f "$f" ]] || exit 1; done) || { log "sources jar lacks ${files[*]}"; return 1; }
  for p in "${PATCHES[@]}"; do
    (cd "$src" && GIT_CEILING_DIRECTORIES="$(dirname "$src")" git apply -p1 "$p") >&2 || {
      log "patch $(basename "$p") does not apply to Beam $beam"; return 1; }
    log "applied $(basename "$p") to Beam $beam"
  done
  echo "                <filter>"
  echo "                  <artifact>org.apache.beam:beam-runners-flink-$FLINK_MINOR</artifact>"
  echo "                  <excludes>"
  for f in "${files[@]}"; do
    f="${f%.java}"
    echo "                    <exclude>$f.class</exclude>"
    echo "                    <exclude>$f\$*.class</exclude>"
  done
  echo "                  </excludes>"
  echo "                </filter>"
}

build_job_server() {
  local beam="$1" out="$2" dir="$BUILD/job-server-$FLINK_MINOR-$beam"
  local EXTRA_DEPS; EXTRA_DEPS="$(kafka_deps "$beam")"
  mkdir -p "$dir"
  local PATCH_FILTERS; PATCH_FILTERS="$(prepare_patches "$dir" "$beam")" || return 1
  cat > "$dir/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.sales-pipeline</groupId>
  <artifactId>beam-runners-flink-$FLINK_MINOR-job-server</artifactId>
  <version>$beam</version>
  <properties><project.build.sourceEncoding>UTF-8</project.build.sourceEncoding></properties>
  <dependencies>
    <dependency>
      <groupId>org.apache.beam</groupId>
      <artifactId>beam-runners-flink-$FLINK_MINOR</artifactId>
      <version>$beam</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-jdk14</artifactId>
      <version>1.7.30</version>
    </dependency>
$EXTRA_DEPS
    <!-- @AutoService on the patched classes; compile only (the runner jar
         already carries the META-INF/services entries) -->
    <dependency>
      <groupId>com.google.auto.service</groupId>
      <artifactId>auto-service-annotations</artifactId>
      <version>1.1.1</version>
      <scope>provided</scope>
    </dependency>
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <!-- compiles the patched runner classes (prepare_patches), at the
             bytecode level of Beam's own (Java 8) -->
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-compiler-plugin</artifactId>
        <version>3.13.0</version>
        <configuration><release>8</release><proc>none</proc></configuration>
      </plugin>
$(shade_plugin org.apache.beam.runners.flink.FlinkJobServerDriver "\
                    <Add-Opens>$ADD_OPENS</Add-Opens>
                    <Add-Exports>$ADD_EXPORTS</Add-Exports>
                    <Multi-Release>true</Multi-Release>" "$PATCH_FILTERS" "\
                <transformer implementation=\"org.apache.maven.plugins.shade.resource.AppendingTransformer\">
                  <resource>reference.conf</resource>
                </transformer>")
    </plugins>
  </build>
</project>
EOF
  log "assembling Flink $FLINK_MINOR job server from Beam $beam library artifacts (maven-shade) ..."
  mvn_package "$dir" "beam-runners-flink-$FLINK_MINOR-job-server-$beam.jar" "$out"
}

JOB_SERVER_JAR=""
JOB_SERVER_BEAM=""
JOB_SERVER_ORIGIN=""
for cand in "$CACHE"/beam-runners-flink-"$FLINK_MINOR"-job-server-*.jar; do
  [[ -f "$cand" && -z "${FORCE:-}" ]] || continue
  if [[ "$(cat "$cand.origin" 2>/dev/null)" == shaded* && "$(cat "$cand.recipe" 2>/dev/null)" != "$JOB_SERVER_RECIPE" ]]; then
    log "job server recipe changed; rebuilding $cand"; continue
  fi
  JOB_SERVER_JAR="$cand"
done
if [[ -n "$JOB_SERVER_JAR" ]]; then
  JOB_SERVER_BEAM="$(basename "$JOB_SERVER_JAR" .jar)"; JOB_SERVER_BEAM="${JOB_SERVER_BEAM##*-}"
  JOB_SERVER_ORIGIN="$(cat "$JOB_SERVER_JAR.origin" 2>/dev/null || echo cached)"
  log "job server jar cached: $JOB_SERVER_JAR"
else
  # 1) the real published shaded jar, if the registry has it
  art="org.apache.beam:beam-runners-flink-$FLINK_MINOR-job-server:$BEAM_VERSION"
  log "trying $art from Maven Central ..."
  if "${MVN[@]}" dependency:copy -Dartifact="$art" -DoutputDirectory="$CACHE" \
        >"$BUILD/copy-$BEAM_VERSION.log" 2>&1; then
    JOB_SERVER_JAR="$CACHE/beam-runners-flink-$FLINK_MINOR-job-server-$BEAM_VERSION.jar"
    JOB_SERVER_BEAM="$BEAM_VERSION"; JOB_SERVER_ORIGIN="maven:$art"
  else
    log "not on the registry: $art"
    # 2) assemble it from library artifacts (first BEAM_VERSION, then fallback)
    for beam in "$BEAM_VERSION" "$BEAM_JAVA_FALLBACK"; do
      out="$CACHE/beam-runners-flink-$FLINK_MINOR-job-server-$beam.jar"
      if ( build_job_server "$beam" "$out" ); then
        JOB_SERVER_JAR="$out"; JOB_SERVER_BEAM="$beam"
        JOB_SERVER_ORIGIN="shaded from org.apache.beam:beam-runners-flink-$FLINK_MINOR:$beam"
        break
      fi
      log "cannot assemble from Beam $beam"
    done
  fi
  [[ -n "$JOB_SERVER_JAR" ]] || { log "no Flink job server could be obtained"; exit 1; }
  echo "$JOB_SERVER_ORIGIN" > "$JOB_SERVER_JAR.origin"
  echo "$JOB_SERVER_RECIPE" > "$JOB_SERVER_JAR.recipe"
fi
ln -sfn "$(basename "$JOB_SERVER_JAR")" "$CACHE/job-server.jar"

# ---------------------------------------------------------- Flink distribution
# PyPI's apache-flink-libraries sdist carries Flink's own lib/, opt/, plugins/
# and bin/bash-java-utils.jar (no shell scripts, no conf: cluster.sh writes
# the config and launches the entrypoints itself).
FLINK_HOME="$CACHE/flink-$FLINK_VERSION"
if [[ -f "$FLINK_HOME/lib/flink-dist-$FLINK_VERSION.jar" && -z "${FORCE:-}" ]]; then
  log "Flink distribution cached: $FLINK_HOME"
else
  sdist="$(pypi_sdist apache-flink-libraries "$FLINK_VERSION")"
  tmp="$FLINK_HOME.tmp"
  unpack_sdist_deps "$sdist" "apache-flink-libraries-$FLINK_VERSION" "$tmp" lib opt plugins bin licenses
  # The table/scala jars are not needed by a Beam job and cost JVM start time.
  mkdir -p "$tmp/opt"
  for j in "$tmp"/lib/flink-table-* "$tmp"/lib/flink-scala_*; do
    [[ -e "$j" ]] && mv "$j" "$tmp/opt/"
  done
  rm -rf "$FLINK_HOME"; mv "$tmp" "$FLINK_HOME"
  log "Flink $FLINK_VERSION distribution at $FLINK_HOME"
fi

cat > "$CACHE/versions.env" <<EOF
FLINK_MINOR=$FLINK_MINOR
FLINK_VERSION=$FLINK_VERSION
FLINK_HOME=$FLINK_HOME
JOB_SERVER_JAR=$JOB_SERVER_JAR
JOB_SERVER_BEAM_JAVA_VERSION=$JOB_SERVER_BEAM
JOB_SERVER_ORIGIN="$JOB_SERVER_ORIGIN"
JOB_SERVER_RECIPE="$(cat "$JOB_SERVER_JAR.recipe" 2>/dev/null)"
JOB_SERVER_PATCHES="$(for p in "${PATCHES[@]}"; do basename "$p"; done | tr '\n' ' ' | sed 's/ $//')"
EOF

echo "FLINK_CACHE=$CACHE"
echo "JOB_SERVER_JAR=$CACHE/job-server.jar -> $(basename "$JOB_SERVER_JAR") (Beam Java $JOB_SERVER_BEAM; $JOB_SERVER_ORIGIN)"
echo "FLINK_HOME=$FLINK_HOME (Flink $FLINK_VERSION)"
