#!/usr/bin/env bash
# The benchmark (not a test): starts two Apache Kafka brokers of its own (scripts/kafka/broker.sh:
# the source on the older 3.x line, the target on the newest, each with a PLAINTEXT listener whose
# principal is a super user of the StandardAuthorizer, which then reads no ACL: the figures are the
# data path's; and a SASL_SSL one with SCRAM-SHA-512 for a user held to PREFIXED ACLs, which the
# `secure` phase measures beside it: TLS and ACL costs), fetches MirrorMaker 2 into the tools
# cache, and runs src/bin/migrate-bench.rs: each phase prints its figures and merges them into a
# JSON file (path printed; BENCH_RESULTS overrides it).
#
# Usage: scripts/bench.sh [--only PHASE,...] [MEGABYTES] [PARTITIONS]   (defaults: all, 1024, 12)
#   phases: kafka-perf (Kafka's producer and consumer perf tests on the source, context for the
#   limit), engine (the limit and the engine, one direction and both), secure (the limit and the
#   engine over PLAINTEXT and over SASL_SSL + SCRAM as an ACL-checked user, round by round: TLS and
#   ACL costs), mm2, mm2-eos (MirrorMaker 2,
#   the second with exactly.once.source.support=enabled), redpanda (Redpanda Connect's migrator:
#   recorded as not measured, with why), latency (p50/p99/p999 at 1,000 and 10,000 records/s for
#   the engine, and MirrorMaker 2 when an mm2 phase is selected, beside the broker alone, once a
#   warm-up at the same rate found the fresh brokers settled), crash
#   (3 SIGKILLs of each replicator mid-copy, duplicates counted by content), python
#   (a confluent-kafka loop), scale (RSS at 1,000 partitions, `migrate plan` at 1,000 topics),
#   moved-group (a group committed on the source mid-stream, translated by the engine and by
#   MirrorMaker 2, resumed on the target: records skipped and seen twice), cutover (the demo,
#   scripts/demo.sh, BENCH_CUTOVER_RUNS times: each move's steps and downtime, p50/p99; on the
#   demo's own SCRAM/ACL clusters, group.initial.rebalance.delay.ms at Kafka's default 3 s).
# Environment: BENCH_CUTOVER_RUNS (2: ten moves), BENCH_ROUNDS (3), BENCH_LATENCY_SECONDS (15), BENCH_LATENCY_RATES (1000,10000),
#   BENCH_RESULTS (./bench-results.json), BENCH_PROFILE (release; `debug` reuses the tests' build:
#   CI's smoke, whose figures mean nothing). A full run takes well over an hour on 2 cores: run it in
#   the background on a quiet machine (nohup scripts/bench.sh >bench.log 2>&1 &).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# moved-group before scale: a broker still deleting scale's 5,000 partitions once failed the
# engine's preflight there (exit 3) in CI's smoke.
ONLY="kafka-perf,engine,secure,mm2,mm2-eos,redpanda,latency,crash,python,moved-group,scale,cutover"
if [ "${1:-}" = "--only" ]; then
  ONLY="${2:?usage: scripts/bench.sh [--only PHASE,...] [MEGABYTES] [PARTITIONS]}"
  shift 2
fi
MEGABYTES="${1:-1024}"
PARTITIONS="${2:-12}"
RESULTS="${BENCH_RESULTS:-$ROOT/bench-results.json}"
MIGRATE_TOOLS="${MIGRATE_TOOLS:-$HOME/.cache/migrate-tools}"
scripts/install.sh
# shellcheck source=kafka/versions.sh
source scripts/kafka/versions.sh

# MirrorMaker 2 at the target's Kafka version: connect-mirror and the Connect runtime fetched by
# Maven from scripts/bench/pom.xml (-C: refuse a jar whose checksum differs), once.
MM2_HOME="$MIGRATE_TOOLS/mm2-$KAFKA_TARGET_VERSION"
if [ ! -f "$MM2_HOME/.complete" ]; then
  echo "bench: fetching MirrorMaker 2 $KAFKA_TARGET_VERSION with Maven into $MM2_HOME" >&2
  rm -rf "$MM2_HOME"
  mkdir -p "$MM2_HOME/libs"
  mvn -q -B -C -Dstyle.color=never -f scripts/bench/pom.xml -Dkafka.version="$KAFKA_TARGET_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$MM2_HOME/libs" >&2
  touch "$MM2_HOME/.complete"
fi
# Redpanda Connect's redpanda_migrator is not built: the project's approved-package list marks
# github.com/redpanda-data/connect/v4 "not-to-use: not an open-source licence" (the migrator and
# its kafka components are under the Redpanda Community License), so no Go module here imports it.
REDPANDA_REASON="not built: github.com/redpanda-data/connect/v4 (which holds redpanda_migrator) is marked not-to-use on this project's approved-package list (not an open-source licence), so no Go module here imports it"

VENV="$MIGRATE_TOOLS/bench-venv"
if [[ ",$ONLY," == *",python,"* ]] && { [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import confluent_kafka" 2>/dev/null; }; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "confluent-kafka==2.12.2"
fi
PROFILE="${BENCH_PROFILE:-release}"
case "$PROFILE" in
  release) cargo build --release --locked --quiet --bin migrate --bin migrate-bench ;;
  # --all-targets, as scripts/test.sh builds: a bins-only debug build resolves the AWS SDK's
  # features differently and rebuilds it.
  debug) cargo build --locked --quiet --all-targets ;;
  *) echo "bench: BENCH_PROFILE is release or debug, not $PROFILE" >&2; exit 2 ;;
esac

WORK="$(mktemp -d)"
DIRS=()
# A broker's last files may still be written as it exits: the removal is tried again, and never
# fails the run (a failed `rm` in this trap once turned a passing smoke into exit 1).
cleanup() {
  for dir in "${DIRS[@]}"; do scripts/kafka/broker.sh stop "$dir" || true; done
  rm -rf "$WORK" 2>/dev/null || { sleep 2; rm -rf "$WORK" || true; }
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
broker() { # name version: prints the PLAINTEXT listener's port (the SASL_SSL one: DIR/secure_port)
  local name=$1 version=$2 dir="$WORK/$1" apps replicator controller internal bench
  mkdir -p "$dir"
  apps=$(free_port) replicator=$(free_port) controller=$(free_port) internal=$(free_port) bench=$(free_port)
  # The SASL_SSL listener's CA and certificate; the admin (grants ACLs) and bench (the secure
  # phase's replicator) SCRAM users.
  scripts/kafka/certificates.sh "$dir" "migrate bench $name CA"
  (umask 077; for user in admin bench; do openssl rand -hex 16 >"$dir/$user.password"; done)
  echo "$replicator" >"$dir/secure_port"
  # broker.sh's listeners are all SASL; a BENCH listener, PLAINTEXT, is added by redefining the
  # listener lists (EXTRA_CONFIG comes last in server.properties, and the last value wins).
  cat >"$dir/broker.env" <<ENV
KAFKA_VERSION=$version
CLUSTER_ID=$(python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("="))')
APPS_PORT=$apps
REPLICATOR_PORT=$replicator
CONTROLLER_PORT=$controller
INTERNAL_PORT=$internal
USERS="admin:SCRAM-SHA-512 bench:SCRAM-SHA-512"
SUPER_USERS="admin ANONYMOUS"
TLS_CERT=$dir/server.pem
TLS_KEY=$dir/server.key
EXTRA_CONFIG="listeners=APPS://127.0.0.1:$apps,REPLICATOR://127.0.0.1:$replicator,INTERNAL://127.0.0.1:$internal,CONTROLLER://127.0.0.1:$controller,BENCH://127.0.0.1:$bench
advertised.listeners=APPS://127.0.0.1:$apps,REPLICATOR://127.0.0.1:$replicator,INTERNAL://127.0.0.1:$internal,BENCH://127.0.0.1:$bench
listener.security.protocol.map=APPS:SASL_PLAINTEXT,REPLICATOR:SASL_SSL,INTERNAL:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT,BENCH:PLAINTEXT"
ENV
  scripts/kafka/broker.sh format "$dir" >&2
  # A benchmark's broker gets Kafka's default heap (1 GiB), not the local clusters' 512 MiB.
  KAFKA_HEAP_OPTS="-Xms1g -Xmx1g" scripts/kafka/broker.sh start "$dir" >&2
  DIRS+=("$dir")
  scripts/kafka/broker.sh wait "$dir" >&2
  # The secure phase's user: what the engine's preflight asks of a one-direction replicator, on
  # every benchmark topic (bench-…) and on its own and the harness's groups, as PREFIXED grants.
  cat >"$dir/admin.properties" <<PROPERTIES
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(cat "$dir/admin.password")";
PROPERTIES
  local acls=(--bootstrap-server "127.0.0.1:$apps" --command-config "$dir/admin.properties" --add --allow-principal User:bench)
  # (Delete: the harness removes each round's topics as this user.)
  scripts/kafka/bin/kafka-acls "${acls[@]}" --resource-pattern-type prefixed --topic bench- --operation Read \
    --operation Write --operation Create --operation Describe --operation DescribeConfigs --operation Delete >/dev/null
  for prefix in migrate- bench-; do
    scripts/kafka/bin/kafka-acls "${acls[@]}" --resource-pattern-type prefixed --group "$prefix" --operation Read --operation Describe >/dev/null
  done
  scripts/kafka/bin/kafka-acls "${acls[@]}" --cluster --operation Describe >/dev/null
  echo "$bench"
}

[ "$PROFILE" = release ] || echo "bench: a $PROFILE build: these figures only show that every phase runs"

# The cutover phase is the demo itself (the three apps, five moves, on the debug build the demo
# uses): it RESETS the local clusters of scripts/local-clusters.sh and .local/demo, as
# scripts/demo.sh does, and stops them after. Run before this script's brokers start so they take
# no memory from it.
if [[ ",$ONLY," == *",cutover,"* ]]; then
  audits=()
  for run in $(seq 1 "${BENCH_CUTOVER_RUNS:-2}"); do
    echo "-- cutover: the demo, run $run of ${BENCH_CUTOVER_RUNS:-2} (log: $WORK/demo-$run.log) --"
    if ! scripts/demo.sh >"$WORK/demo-$run.log" 2>&1; then
      tail -n 40 "$WORK/demo-$run.log"
      scripts/local-clusters.sh down >&2 || true
      echo "bench: the demo failed (run $run)" >&2
      exit 1
    fi
    cp .local/demo/state/audit.jsonl "$WORK/audit-$run.jsonl"
    audits+=("$WORK/audit-$run.jsonl")
  done
  scripts/local-clusters.sh down >&2
  python3 scripts/bench/cutover.py "$RESULTS" "${audits[@]}"
  ONLY="$(echo ",$ONLY," | sed 's/,cutover,/,/; s/^,//; s/,$//')"
  [ -n "$ONLY" ] || { echo "results: $RESULTS"; exit 0; }
fi

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, load average $(cut -d' ' -f1-3 /proc/loadavg); Apache Kafka $KAFKA_SOURCE_VERSION → $KAFKA_TARGET_VERSION; brokers PLAINTEXT as a super user of the StandardAuthorizer (TLS and ACL costs: the secure phase)"
S=$(broker source "$KAFKA_SOURCE_VERSION")
T=$(broker target "$KAFKA_TARGET_VERSION")
"./target/$PROFILE/migrate-bench" --source "127.0.0.1:$S" --target "127.0.0.1:$T" \
  --megabytes "$MEGABYTES" --partitions "$PARTITIONS" --rounds "${BENCH_ROUNDS:-3}" --label "Apache Kafka" \
  --only "$ONLY" --results "$RESULTS" --python "$VENV/bin/python" --kafka-bin "$ROOT/scripts/kafka/bin" \
  --mm2-libs "$MM2_HOME/libs" --java "${JAVA_HOME:+$JAVA_HOME/bin/}java" --redpanda-not-run "$REDPANDA_REASON" \
  --secure-bootstraps "127.0.0.1:$(cat "$WORK/source/secure_port"),127.0.0.1:$(cat "$WORK/target/secure_port")" \
  --secure-username bench --secure-password-files "$WORK/source/bench.password,$WORK/target/bench.password" \
  --secure-ca-files "$WORK/source/ca.pem,$WORK/target/ca.pem" \
  --latency-seconds "${BENCH_LATENCY_SECONDS:-15}" --latency-rates "${BENCH_LATENCY_RATES:-1000,10000}" \
  --version "kafka_source=$KAFKA_SOURCE_VERSION" --version "kafka_target=$KAFKA_TARGET_VERSION" \
  --version "mirror_maker_2=$KAFKA_TARGET_VERSION" --version "java=$(java -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')"
echo "results: $RESULTS"
