#!/usr/bin/env bash
# Two local, SCRAM-protected Kafka-compatible clusters (Nisshi brokers on loopback) standing in for
# the external source and the MSK target.
#
#   scripts/local-clusters.sh up       install what is missing, provision once, start both (idempotent)
#   scripts/local-clusters.sh down     stop both (data and credentials are kept)
#   scripts/local-clusters.sh status   show each broker and where its credentials are
#   scripts/local-clusters.sh reset    stop both and delete their data and credentials
#
# Each cluster: its own cluster ID, sqlite storage (SCRAM needs it), SASL/SCRAM-SHA-512 required,
# users `admin`, `replicator` and `app` with random passwords written to files (mode 0600) under
# $MIGRATE_LOCAL_DIR (default .local/clusters), and on the source the topics `orders` and
# `order_status` (6 partitions each) with the demo apps' groups `order-status` and `notification`
# committed at their start (as if the apps had started once). Ports: $MIGRATE_SOURCE_PORT (19092), $MIGRATE_TARGET_PORT (29092).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL_DIR="${MIGRATE_LOCAL_DIR:-$ROOT/.local/clusters}"
SOURCE_PORT="${MIGRATE_SOURCE_PORT:-19092}"
TARGET_PORT="${MIGRATE_TARGET_PORT:-29092}"
USERS=(admin replicator app)
SEED_TOPICS=(orders order_status)
SEED_PARTITIONS=6

log() { echo "local-clusters: $*" >&2; }

nisshi_bin() {
  if [ -z "${NISSHI:-}" ]; then
    NISSHI="$("$ROOT/scripts/install.sh" | tail -n 1)"
  fi
  echo "$NISSHI"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local port=$1 deadline=$((SECONDS + 30))
  until port_open "$port"; do
    if ((SECONDS > deadline)); then log "broker on port $port did not start; see its broker.log"; return 1; fi
    sleep 0.1
  done
}

running() {
  local dir=$1
  [ -f "$dir/broker.pid" ] && kill -0 "$(cat "$dir/broker.pid")" 2>/dev/null
}

start_broker() {
  local dir=$1 port=$2 cluster_id=$3 auth=$4
  local args=(broker --cluster-id "$cluster_id"
    --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port"
    --storage-engine "sqlite:///$dir/data.db")
  [ "$auth" = yes ] && args+=(--authentication)
  nohup "$(nisshi_bin)" "${args[@]}" >>"$dir/broker.log" 2>&1 &
  echo $! >"$dir/broker.pid"
  wait_port "$port"
}

stop_broker() {
  local dir=$1
  if running "$dir"; then
    local pid
    pid="$(cat "$dir/broker.pid")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/broker.pid"
}

# Users are created through the broker before authentication is switched on (Nisshi keeps them
# per cluster ID in its storage), then the broker restarts requiring SASL/SCRAM.
provision() {
  local name=$1 dir=$2 port=$3 cluster_id=$4
  shift 4
  log "$name: provisioning cluster $cluster_id on port $port"
  mkdir -p "$dir"
  chmod 700 "$dir"
  rm -f "$dir/data.db"*
  start_broker "$dir" "$port" "$cluster_id" no
  local user
  for user in "${USERS[@]}"; do
    (umask 077; echo "$user" >"$dir/$user.username"; openssl rand -hex 16 >"$dir/$user.password")
    "$(nisshi_bin)" user create --broker "tcp://127.0.0.1:$port" --mechanism scram512 \
      "$user" "$(cat "$dir/$user.password")" >/dev/null
  done
  local topic
  for topic in "$@"; do
    "$(nisshi_bin)" topic create --broker "tcp://127.0.0.1:$port" --partitions "$SEED_PARTITIONS" "$topic" >/dev/null
  done
  stop_broker "$dir"
  echo "127.0.0.1:$port" >"$dir/bootstrap"
  echo "$cluster_id" >"$dir/cluster_id"
  touch "$dir/.provisioned"
}

# The demo apps' groups exist on the source before the apps move, as in a real migration: commit
# them at the start of their topics (needs SASL, so after the authenticated restart).
seed_groups() {
  local dir="$LOCAL_DIR/source" port=$1
  [ -f "$dir/.groups-seeded" ] && return
  # The same target set as scripts/test.sh and demo.sh, so the AWS SDK is not rebuilt with other
  # features (see demo.sh).
  (cd "$ROOT" && cargo build --quiet --locked --all-targets)
  local pair
  for pair in order-status:orders notification:order_status; do
    "$ROOT/target/debug/migrate-demo" seed-group --bootstrap "127.0.0.1:$port" --username admin \
      --password-file "$dir/admin.password" --group "${pair%%:*}" --topic "${pair#*:}"
  done
  touch "$dir/.groups-seeded"
}

up_cluster() {
  local name=$1 port=$2 cluster_id=$3
  shift 3
  local dir="$LOCAL_DIR/$name"
  if running "$dir"; then
    log "$name: already running on 127.0.0.1:$port"
    return
  fi
  if port_open "$port"; then
    log "$name: port $port is taken by another process; set MIGRATE_${name^^}_PORT"
    return 1
  fi
  [ -f "$dir/.provisioned" ] || provision "$name" "$dir" "$port" "$cluster_id" "$@"
  start_broker "$dir" "$port" "$cluster_id" yes
  log "$name: up on 127.0.0.1:$port (SASL/SCRAM-SHA-512 required, cluster $cluster_id)"
}

status_cluster() {
  local name=$1 port=$2 dir="$LOCAL_DIR/$1"
  if running "$dir"; then
    echo "$name: running (pid $(cat "$dir/broker.pid")) on 127.0.0.1:$port, cluster $(cat "$dir/cluster_id"), credentials in $dir"
  else
    echo "$name: stopped"
    return 1
  fi
}

case "${1:-}" in
  up)
    nisshi_bin >/dev/null
    up_cluster source "$SOURCE_PORT" migrate-local-source "${SEED_TOPICS[@]}"
    up_cluster target "$TARGET_PORT" migrate-local-target
    seed_groups "$SOURCE_PORT"
    ;;
  down)
    stop_broker "$LOCAL_DIR/source"
    stop_broker "$LOCAL_DIR/target"
    log "stopped"
    ;;
  status)
    rc=0
    status_cluster source "$SOURCE_PORT" || rc=1
    status_cluster target "$TARGET_PORT" || rc=1
    exit $rc
    ;;
  reset)
    stop_broker "$LOCAL_DIR/source" 2>/dev/null || true
    stop_broker "$LOCAL_DIR/target" 2>/dev/null || true
    rm -rf "$LOCAL_DIR"
    log "removed $LOCAL_DIR"
    ;;
  *)
    echo "usage: $0 up|down|status|reset" >&2
    exit 2
    ;;
esac
