#!/usr/bin/env bash
# The benchmark (not a test): prints every figure and computes every ratio in one run.
#   1. two memory:// Nisshi brokers (no auth, the fastest this machine offers): a 1 GiB backlog of
#      1 KiB records over 12 partitions through a bare Rust loop (the limit), the engine (one
#      direction, both directions), and a Python confluent-kafka loop; latency at 1,000 records/s;
#      RSS with 1,000 partitions; `migrate plan` with 1,000 topics and 1,000 groups.
#   2. the same throughput figures on two SCRAM sqlite:// brokers, for comparison (smaller backlog).
# Usage: scripts/bench.sh [MEGABYTES] [SQLITE_MEGABYTES]   (defaults 1024 and 64)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MEGABYTES="${1:-1024}"
SQLITE_MEGABYTES="${2:-64}"
NISSHI="$(scripts/install.sh | tail -n 1)"
VENV="${MIGRATE_TOOLS:-$HOME/.cache/migrate-tools}/bench-venv"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import confluent_kafka" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "confluent-kafka==2.12.2"
fi
cargo build --release --locked --quiet --bin migrate --bin migrate-bench

WORK="$(mktemp -d)"
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
broker() { # name port storage [--authentication]
  local name=$1 port=$2 storage=$3; shift 3
  "$NISSHI" broker --cluster-id "bench-$name" --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine "$storage" "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  wait_port "$port"
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; librdkafka 2.12.1; nisshi 0.8.1"
S=$(free_port); T=$(free_port)
broker mem-source "$S" "memory://bench-source/"
broker mem-target "$T" "memory://bench-target/"
./target/release/migrate-bench --source "127.0.0.1:$S" --target "127.0.0.1:$T" --megabytes "$MEGABYTES" \
  --label memory --python "$VENV/bin/python"
for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
PIDS=()

# SCRAM over sqlite: provision a user, restart with authentication.
for name in sql-source sql-target; do
  port=$(free_port)
  broker "$name" "$port" "sqlite:///$WORK/$name.db"
  openssl rand -hex 16 >"$WORK/$name.password"
  "$NISSHI" user create --broker "tcp://127.0.0.1:$port" --mechanism scram512 bench "$(cat "$WORK/$name.password")" >/dev/null
  kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'
  broker "$name" "$port" "sqlite:///$WORK/$name.db" --authentication
  declare "PORT_${name//-/_}=$port"
done
./target/release/migrate-bench --source "127.0.0.1:$PORT_sql_source" --target "127.0.0.1:$PORT_sql_target" \
  --username bench --password-files "$WORK/sql-source.password" "$WORK/sql-target.password" \
  --megabytes "$SQLITE_MEGABYTES" --label "SCRAM sqlite" --throughput-only
