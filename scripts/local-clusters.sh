#!/usr/bin/env bash
# Two local Apache Kafka clusters (single-node KRaft, on loopback) standing in for the external
# source and the MSK target.
#
#   scripts/local-clusters.sh up       install what is missing, provision once, start both (idempotent)
#   scripts/local-clusters.sh down     stop both (data and credentials are kept)
#   scripts/local-clusters.sh status   show each broker and where its credentials are
#   scripts/local-clusters.sh reset    stop both and delete their data and credentials
#
# Each cluster (scripts/kafka/broker.sh): the source on the older 3.x line, the target on the
# newest (scripts/kafka/versions.sh); a fixed KRaft cluster ID the plan names; SCRAM-SHA-512 users
# `admin`, `replicator` and `app` created at format time with random passwords written to files
# (mode 0600) under $MIGRATE_LOCAL_DIR (default .local/clusters); a SASL_PLAINTEXT listener for
# the apps ($MIGRATE_SOURCE_PORT 19092, $MIGRATE_TARGET_PORT 29092) and a SASL_SSL listener for the
# replicator (port + 4: 19096, 29096) with a CA this script makes (<cluster>/ca.pem); the
# StandardAuthorizer on, nothing allowed without an ACL, `admin` the only human super user.
# `replicator` and `app` get exactly the ACLs `migrate plan` says they need: its own grant
# commands (the `hint` of each failing ACL check) are run as printed. On the source: the topics
# `orders` and `order_status` (6 partitions each) with the demo apps' groups `order-status` and
# `notification` committed at their start (as if the apps had started once).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL_DIR="${MIGRATE_LOCAL_DIR:-$ROOT/.local/clusters}"
SOURCE_PORT="${MIGRATE_SOURCE_PORT:-19092}"
TARGET_PORT="${MIGRATE_TARGET_PORT:-29092}"
# KRaft cluster IDs are 16 bytes in URL-safe base64: "migrate-source-1" and "migrate-target-1".
SOURCE_CLUSTER_ID=bWlncmF0ZS1zb3VyY2UtMQ
TARGET_CLUSTER_ID=bWlncmF0ZS10YXJnZXQtMQ
USERS=(admin replicator app)
SEED_TOPICS=(orders order_status)
SEED_PARTITIONS=6
# shellcheck source=kafka/versions.sh
source "$ROOT/scripts/kafka/versions.sh"
export PATH="$ROOT/scripts/kafka/bin:$PATH"

log() { echo "local-clusters: $*" >&2; }

installed() {
  [ -n "${INSTALLED:-}" ] && return
  "$ROOT/scripts/install.sh"
  INSTALLED=yes
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

running() { [ -f "$1/broker.pid" ] && kill -0 "$(cat "$1/broker.pid")" 2>/dev/null; }

# A CA of this cluster's own and the replicator listener's certificate for 127.0.0.1/localhost.
make_certificates() {
  local dir=$1 name=$2
  (
    cd "$dir"
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=migrate local $name CA" \
      -keyout ca.key -out ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout server.key -out server.csr 2>/dev/null
    echo "subjectAltName=DNS:localhost,IP:127.0.0.1" >san.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile san.ext -out server.pem 2>/dev/null
    chmod 644 ca.pem
    rm -f server.csr san.ext ca.srl
  )
}

provision() {
  local name=$1 dir=$2 port=$3 cluster_id=$4 version=$5
  log "$name: provisioning Apache Kafka $version, cluster $cluster_id, port $port"
  rm -rf "$dir"
  mkdir -p "$dir"
  chmod 700 "$dir"
  local user users=()
  for user in "${USERS[@]}"; do
    (umask 077; echo "$user" >"$dir/$user.username"; openssl rand -hex 16 >"$dir/$user.password")
    users+=("$user:SCRAM-SHA-512")
  done
  make_certificates "$dir" "$name"
  cat >"$dir/broker.env" <<ENV
KAFKA_VERSION=$version
CLUSTER_ID=$cluster_id
APPS_PORT=$port
REPLICATOR_PORT=$((port + 4))
CONTROLLER_PORT=$((port + 1))
INTERNAL_PORT=$((port + 2))
TLS_CERT=$dir/server.pem
TLS_KEY=$dir/server.key
USERS="${users[*]}"
ENV
  # The admin's client properties for the replicator's (TLS) listener: what the grant commands
  # `migrate plan` prints read as `--command-config admin.properties`.
  (umask 077; cat >"$dir/admin.properties" <<PROPERTIES
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(cat "$dir/admin.password")";
ssl.truststore.type=PEM
ssl.truststore.location=$dir/ca.pem
PROPERTIES
  )
  echo "127.0.0.1:$port" >"$dir/bootstrap"
  echo "127.0.0.1:$((port + 4))" >"$dir/replicator_bootstrap"
  echo "$cluster_id" >"$dir/cluster_id"
  "$ROOT/scripts/kafka/broker.sh" format "$dir"
  touch "$dir/.provisioned"
}

up_cluster() {
  local name=$1 port=$2 cluster_id=$3 version=$4
  local dir="$LOCAL_DIR/$name"
  if running "$dir"; then
    log "$name: already running on 127.0.0.1:$port"
    return
  fi
  local taken
  for taken in "$port" $((port + 1)) $((port + 2)) $((port + 4)); do
    if port_open "$taken"; then
      log "$name: port $taken is taken by another process; set MIGRATE_${name^^}_PORT"
      return 1
    fi
  done
  [ -f "$dir/.provisioned" ] || provision "$name" "$dir" "$port" "$cluster_id" "$version"
  "$ROOT/scripts/kafka/broker.sh" start "$dir"
  log "$name: Apache Kafka $version up: apps on 127.0.0.1:$port (SASL_PLAINTEXT), replicator on 127.0.0.1:$((port + 4)) (SASL_SSL), SCRAM-SHA-512, cluster $cluster_id"
}

# The seed topics, the ACLs `migrate plan` asks for, and the demo apps' groups, once.
seed() {
  local source="$LOCAL_DIR/source" target="$LOCAL_DIR/target"
  [ -f "$source/.seeded" ] && return
  local topic
  for topic in "${SEED_TOPICS[@]}"; do
    (cd "$source" && kafka-topics --bootstrap-server "$(cat replicator_bootstrap)" --command-config admin.properties \
      --create --if-not-exists --topic "$topic" --partitions "$SEED_PARTITIONS" --replication-factor 1 >/dev/null)
  done
  # The same target set as scripts/test.sh and demo.sh, so the AWS SDK is not rebuilt with other
  # features (see demo.sh).
  (cd "$ROOT" && cargo build --quiet --locked --all-targets)
  grant_what_plan_asks
  # The demo apps' groups exist on the source before the apps move, as in a real migration.
  local pair
  for pair in order-status:orders notification:order_status; do
    "$ROOT/target/debug/migrate-demo" seed-group --bootstrap "$(cat "$source/bootstrap")" --username admin \
      --password-file "$source/admin.password" --group "${pair%%:*}" --topic "${pair#*:}"
  done
  touch "$source/.seeded" "$target/.seeded"
}

# Runs the grant commands of every failing ACL check of `migrate plan -o json` (plans/local.yaml)
# with `sh -c`, in the directory of the cluster the check names (where admin.properties is), and
# asks again until no check has a command left (the first answers can only name Describe on the
# cluster: without it the replicator cannot list ACLs, and Kafka hides the topics and groups it may
# not describe); then every ACL check must pass, so the commands are proven by use.
grant_what_plan_asks() {
  local plan_json commands round cluster command
  for round in 1 2 3 4 5; do
    plan_json="$("$ROOT/target/debug/migrate" -p "$ROOT/plans/local.yaml" --state-dir "$LOCAL_DIR/.plan-state" -o json plan || true)"
    commands="$(python3 -c '
import json, sys
for check in json.load(sys.stdin)["checks"]:
    if check["name"].endswith("acls") and check["status"] == "fail":
        for line in (check["hint"] or "").splitlines():
            if line.startswith("kafka-acls "):
                print(check["cluster"] + "\t" + line)
' <<<"$plan_json")"
    [ -n "$commands" ] || break
    while IFS=$'\t' read -r cluster command; do
      log "$cluster (round $round): $command"
      (cd "$LOCAL_DIR/$cluster" && sh -c "$command" >/dev/null)
    done <<<"$commands"
  done
  python3 -c '
import json, sys
bad = [c for c in json.load(sys.stdin)["checks"] if c["name"].endswith("acls") and c["status"] != "pass"]
for c in bad:
    print("local-clusters: ACL check still not passing: %s %s: %s" % (c["cluster"], c["name"], c["detail"]), file=sys.stderr)
sys.exit(1 if bad else 0)
' <<<"$plan_json"
}

status_cluster() {
  local name=$1 port=$2 dir="$LOCAL_DIR/$1"
  if running "$dir"; then
    echo "$name: running (pid $(cat "$dir/broker.pid")), Apache Kafka $(sed -n 's/^KAFKA_VERSION=//p' "$dir/broker.env"), apps on 127.0.0.1:$port, replicator on 127.0.0.1:$((port + 4)) (TLS, CA $dir/ca.pem), cluster $(cat "$dir/cluster_id"), credentials in $dir"
  else
    echo "$name: stopped"
    return 1
  fi
}

case "${1:-}" in
  up)
    installed
    up_cluster source "$SOURCE_PORT" "$SOURCE_CLUSTER_ID" "$KAFKA_SOURCE_VERSION"
    up_cluster target "$TARGET_PORT" "$TARGET_CLUSTER_ID" "$KAFKA_TARGET_VERSION"
    seed
    ;;
  down)
    [ -d "$LOCAL_DIR/source" ] && "$ROOT/scripts/kafka/broker.sh" stop "$LOCAL_DIR/source"
    [ -d "$LOCAL_DIR/target" ] && "$ROOT/scripts/kafka/broker.sh" stop "$LOCAL_DIR/target"
    log "stopped"
    ;;
  status)
    rc=0
    status_cluster source "$SOURCE_PORT" || rc=1
    status_cluster target "$TARGET_PORT" || rc=1
    exit $rc
    ;;
  reset)
    for name in source target; do
      [ -f "$LOCAL_DIR/$name/broker.env" ] && "$ROOT/scripts/kafka/broker.sh" stop "$LOCAL_DIR/$name"
    done
    rm -rf "$LOCAL_DIR"
    log "removed $LOCAL_DIR"
    ;;
  *)
    echo "usage: $0 up|down|status|reset" >&2
    exit 2
    ;;
esac
