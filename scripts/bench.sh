#!/usr/bin/env bash
# The benchmark (not a test): prints every figure and computes every ratio in one run, on two
# Apache Kafka brokers (scripts/kafka/broker.sh: the source on the older 3.x line, the target on
# the newest, SCRAM-SHA-512, no authorizer so the measurement is the data path's): a backlog of
# 1 KiB records over 12 partitions through a bare Rust loop (the limit), the engine (one direction,
# both directions), and a Python confluent-kafka loop; latency at 1,000 records/s; RSS with 1,000
# partitions; `migrate plan` with 1,000 topics and 1,000 groups.
# Usage: scripts/bench.sh [MEGABYTES]   (default 1024)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MEGABYTES="${1:-1024}"
scripts/install.sh
# shellcheck source=kafka/versions.sh
source scripts/kafka/versions.sh
VENV="${MIGRATE_TOOLS:-$HOME/.cache/migrate-tools}/bench-venv"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import confluent_kafka" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "confluent-kafka==2.12.2"
fi
cargo build --release --locked --quiet --bin migrate --bin migrate-bench

WORK="$(mktemp -d)"
DIRS=()
cleanup() { for dir in "${DIRS[@]}"; do scripts/kafka/broker.sh stop "$dir" || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
broker() { # name version: prints the apps' port
  local name=$1 version=$2 dir="$WORK/$1" port
  mkdir -p "$dir"
  port=$(free_port)
  openssl rand -hex 16 >"$dir/bench.password"
  cat >"$dir/broker.env" <<ENV
KAFKA_VERSION=$version
CLUSTER_ID=$(python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("="))')
APPS_PORT=$port
REPLICATOR_PORT=$(free_port)
CONTROLLER_PORT=$(free_port)
INTERNAL_PORT=$(free_port)
USERS="bench:SCRAM-SHA-512"
AUTHORIZER=none
ENV
  scripts/kafka/broker.sh format "$dir" >&2
  # A benchmark's broker gets Kafka's default heap (1 GiB), not the local clusters' 512 MiB.
  KAFKA_HEAP_OPTS="-Xms1g -Xmx1g" scripts/kafka/broker.sh start "$dir" >&2
  DIRS+=("$dir")
  echo "$port"
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; librdkafka 2.12.1; Apache Kafka $KAFKA_SOURCE_VERSION → $KAFKA_TARGET_VERSION"
S=$(broker source "$KAFKA_SOURCE_VERSION")
T=$(broker target "$KAFKA_TARGET_VERSION")
./target/release/migrate-bench --source "127.0.0.1:$S" --target "127.0.0.1:$T" \
  --username bench --password-files "$WORK/source/bench.password" "$WORK/target/bench.password" \
  --megabytes "$MEGABYTES" --label "Apache Kafka" --python "$VENV/bin/python"
