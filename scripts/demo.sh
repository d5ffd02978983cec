#!/usr/bin/env bash
# The main job on the local default, end to end: two fresh local Apache Kafka clusters (SCRAM,
# ACLs; installing what is missing), the three demo apps running on the source, `migrate plan`, `migrate apply`, the apps
# moved one by one with a rollback in the middle while orders keep flowing, `migrate verify`, then
# everything stopped and the notification ledger checked: every order delivered exactly once and
# in order per customer. Prints a table of the moves (with each one's downtime) and the totals.
# Exit 0 only when nothing was lost, duplicated or reordered.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

export MIGRATE_DEMO_DIR="$ROOT/.local/demo"
STATE="$MIGRATE_DEMO_DIR/state"
CLUSTERS="${MIGRATE_LOCAL_DIR:-$ROOT/.local/clusters}"
RATE="${MIGRATE_DEMO_RATE:-20}"
say() { printf '\n== %s\n' "$*" >&2; }

say "fresh local Apache Kafka clusters"
scripts/local-clusters.sh reset
scripts/local-clusters.sh up
# --all-targets, not --bins: the tests' dev-dependencies turn on features of the AWS SDK's shared
# crates, and a bins-only build resolves them differently, rebuilding the SDK (minutes) right
# after `scripts/test.sh` built it.
cargo build --quiet --locked --all-targets
rm -rf "$MIGRATE_DEMO_DIR"
mkdir -p "$MIGRATE_DEMO_DIR"
migrate() { ./target/debug/migrate -p plans/local.yaml --state-dir "$STATE" "$@"; }

engine_pid=""
cleanup() {
  for app in orders order_status notification; do
    MIGRATE_APP=$app scripts/demo-app.sh stop || true
  done
  if [ -n "$engine_pid" ] && kill -0 "$engine_pid" 2>/dev/null; then
    kill -TERM "$engine_pid"
    wait "$engine_pid" || true
  fi
}
trap cleanup EXIT

say "migrate plan: validation and preflight"
migrate plan

say "the three apps start on the source"
# Their first start is not a move, so the demo writes their source client configuration itself.
first_config="$MIGRATE_DEMO_DIR/first-start.source.properties"
(
  umask 077
  printf 'bootstrap.servers=%s\nsecurity.protocol=sasl_plaintext\nsasl.mechanism=SCRAM-SHA-512\nsasl.username=%s\nsasl.password=%s\n' \
    "$(cat "$CLUSTERS/source/bootstrap")" "$(cat "$CLUSTERS/source/app.username")" \
    "$(cat "$CLUSTERS/source/app.password")" >"$first_config"
)
for app in orders order_status notification; do
  extra=()
  [ "$app" = orders ] && extra=(--rate "$RATE")
  MIGRATE_APP=$app MIGRATE_SIDE=source MIGRATE_CLIENT_CONFIG="$first_config" scripts/demo-app.sh start "${extra[@]}"
done

say "migrate apply: the engine replicates both ways (log: $MIGRATE_DEMO_DIR/engine.log)"
# The binary itself in the background (not the shell function), so its pid is the engine's.
./target/debug/migrate -p plans/local.yaml --state-dir "$STATE" apply >"$MIGRATE_DEMO_DIR/engine.log" 2>&1 &
engine_pid=$!

say "moving the apps one by one while orders flow"
for move in "cutover order_status" "cutover notification" "rollback order_status" "cutover order_status" "cutover orders"; do
  say "migrate $move"
  # shellcheck disable=SC2086
  migrate $move --wait 3m
done

say "migrate status"
migrate status

say "migrate verify: both clusters hold the same records"
migrate verify

say "stopping the producer, letting the last orders reach the ledger"
MIGRATE_APP=orders scripts/demo-app.sh stop
produced="$(cat "$MIGRATE_DEMO_DIR/orders.next")"
for _ in $(seq 1 240); do
  delivered="$(wc -l <"$MIGRATE_DEMO_DIR/ledger.txt")"
  [ "$delivered" -ge "$produced" ] && break
  sleep 0.5
done
cleanup
trap - EXIT

say "summary"
./target/debug/migrate-demo check --ledger "$MIGRATE_DEMO_DIR/ledger.txt" \
  --produced "$MIGRATE_DEMO_DIR/orders.next" --audit "$STATE/audit.jsonl"
