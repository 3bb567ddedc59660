#!/usr/bin/env bash
# Puts every external component in place, from the package registries only:
# Prism (Go module proxy), Kafka and Flink jars (Maven Central), PostgreSQL,
# Redis and Chromium (Debian), Spark (its jars from the pyspark sdist on PyPI,
# Beam's runner from Maven Central) and HDFS (Hadoop's jars, Maven Central).
# Each step is idempotent and cached. The tests start and stop the servers
# they need themselves (PostgreSQL stays up).
set -euo pipefail
cd "$(dirname "$0")/.."
runners/prism/setup.sh >/dev/null
services/postgres/postgres.sh start >/dev/null
services/kafka/broker.sh setup >/dev/null
services/pubsub/setup.sh >/dev/null
services/redis/redis.sh install >/dev/null
runners/flink/setup.sh >/dev/null
services/browser/setup.sh >/dev/null
runners/spark/setup.sh >/dev/null
services/hdfs/hdfs.sh setup >/dev/null
