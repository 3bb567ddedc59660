#!/usr/bin/env bash
# Fetch everything the Spark runner path needs into the cache dir, from the
# package registries only (Maven Central through `mvn`, PyPI through `pip`).
#
#   runners/spark/setup.sh            # idempotent; prints where things are
#   FORCE=1 runners/spark/setup.sh    # rebuild the job server jar / dist
#
# Results (under ${SALES_CACHE:-$HOME/.cache/sales-pipeline}/spark):
#   spark-<ver>/     -> Spark's own jars/, bin/, sbin/ out of the pyspark sdist
#                       (SPARK_HOME for the job server and cluster.sh)
#   job-server.jar   -> Beam's Spark 3 job server (symlink to the versioned jar)
#   versions.env     -> what was installed (sourced by cluster.sh)
#
# Why the job server is *built* here rather than downloaded:
#   Maven Central as reached here serves `beam-runners-spark-3` (the runner's
#   library) but no `beam-runners-spark-3-job-server` jar for any Beam
#   version. We assemble it from the library with maven-shade-plugin (main
#   class org.apache.beam.runners.spark.SparkJobServerDriver). The runner
#   declares Spark itself `provided`, so the shaded jar holds Beam and its
#   dependencies only; its manifest Class-Path names every jar of
#   spark-<ver>/jars (relative paths), so `java -jar job-server.jar` - which
#   is how Beam's Python SparkRunner starts it - runs against the very Spark
#   jars the standalone cluster runs.
set -euo pipefail

SPARK_VERSION="${SPARK_VERSION:-3.5.7}"            # pyspark sdist = Spark's jars
# Beam Java of the runner library. 2.62.0 is the newest whose dependencies
# (beam-runners-java-job-service) Maven Central serves here: 2.70.0 has the
# runner (built against Spark 3.5) but not job-service 2.70.0. 2.62 is built
# against Spark 3.2.2 and runs on the Spark 3.5 jars (docs/spark.md).
BEAM_SPARK_JAVA="${BEAM_SPARK_JAVA:-2.62.0}"

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/jobserver.sh
source "$HERE/../lib/jobserver.sh"
jobserver_init spark                               # CACHE, BUILD, PY, MVN, log

# ------------------------------------------------------------ Spark's jars
# PyPI's pyspark sdist carries Spark's jars/, bin/ and sbin/ under deps/.
SPARK_HOME="$CACHE/spark-$SPARK_VERSION"
if [[ -f "$SPARK_HOME/jars/spark-core_2.12-$SPARK_VERSION.jar" && -z "${FORCE:-}" ]]; then
  log "Spark jars cached: $SPARK_HOME"
else
  sdist="$(pypi_sdist pyspark "$SPARK_VERSION" '~320 MB')"
  tmp="$SPARK_HOME.tmp"
  unpack_sdist_deps "$sdist" "pyspark-$SPARK_VERSION" "$tmp" jars bin sbin licenses
  echo "Spark $SPARK_VERSION (from the pyspark sdist on PyPI)" > "$tmp/RELEASE"
  rm -rf "$SPARK_HOME"; mv "$tmp" "$SPARK_HOME"
  log "Spark $SPARK_VERSION jars at $SPARK_HOME"
fi

# ------------------------------------------------------------- job server
# Bump when the recipe changes, so cached jars are rebuilt.
JOB_SERVER_RECIPE="1:spark-$SPARK_VERSION"
JOB_SERVER_JAR="$CACHE/beam-runners-spark-3-job-server-$BEAM_SPARK_JAVA.jar"

class_path() {  # relative to the jar's directory: spark-<ver>/jars/*.jar
  local j out=""
  for j in "$SPARK_HOME"/jars/*.jar; do out="$out spark-$SPARK_VERSION/jars/$(basename "$j")"; done
  echo "${out# }"
}

build_job_server() {
  local beam="$1" out="$2"; local dir="$BUILD/job-server-$beam"
  mkdir -p "$dir"
  cat > "$dir/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.sales-pipeline</groupId>
  <artifactId>beam-runners-spark-3-job-server</artifactId>
  <version>$beam</version>
  <properties><project.build.sourceEncoding>UTF-8</project.build.sourceEncoding></properties>
  <dependencies>
    <!-- Spark (and Hadoop's client) are 'provided' here: not shaded in. -->
    <dependency>
      <groupId>org.apache.beam</groupId>
      <artifactId>beam-runners-spark-3</artifactId>
      <version>$beam</version>
    </dependency>
  </dependencies>
  <build>
    <plugins>
$(shade_plugin org.apache.beam.runners.spark.SparkJobServerDriver "\
                    <Class-Path>$(class_path)</Class-Path>
                    <Multi-Release>true</Multi-Release>")
    </plugins>
  </build>
</project>
EOF
  log "assembling the Spark job server from Beam $beam library artifacts (maven-shade) ..."
  mvn_package "$dir" "beam-runners-spark-3-job-server-$beam.jar" "$out"
}

if [[ -f "$JOB_SERVER_JAR" && -z "${FORCE:-}" \
      && "$(cat "$JOB_SERVER_JAR.recipe" 2>/dev/null)" == "$JOB_SERVER_RECIPE" ]]; then
  log "job server jar cached: $JOB_SERVER_JAR"
else
  build_job_server "$BEAM_SPARK_JAVA" "$JOB_SERVER_JAR" || { log "no Spark job server could be built"; exit 1; }
  echo "shaded from org.apache.beam:beam-runners-spark-3:$BEAM_SPARK_JAVA" > "$JOB_SERVER_JAR.origin"
  echo "$JOB_SERVER_RECIPE" > "$JOB_SERVER_JAR.recipe"
fi
ln -sfn "$(basename "$JOB_SERVER_JAR")" "$CACHE/job-server.jar"

cat > "$CACHE/versions.env" <<EOF
SPARK_VERSION=$SPARK_VERSION
SPARK_HOME=$SPARK_HOME
JOB_SERVER_JAR=$JOB_SERVER_JAR
JOB_SERVER_BEAM_JAVA_VERSION=$BEAM_SPARK_JAVA
JOB_SERVER_ORIGIN="$(cat "$JOB_SERVER_JAR.origin")"
JOB_SERVER_RECIPE="$JOB_SERVER_RECIPE"
EOF

echo "SPARK_CACHE=$CACHE"
echo "JOB_SERVER_JAR=$CACHE/job-server.jar -> $(basename "$JOB_SERVER_JAR") (Beam Java $BEAM_SPARK_JAVA; $(cat "$JOB_SERVER_JAR.origin"))"
echo "SPARK_HOME=$SPARK_HOME (Spark $SPARK_VERSION)"
