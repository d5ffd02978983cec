#!/usr/bin/env bash
# Two local Apache Kafka clusters (single-node KRaft, on loopback) standing in for the external
# source and the MSK target.
#
#   scripts/local-clusters.sh up [--target-auth scram|iam]
#                                      install what is missing, provision once, start both (idempotent)
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
#
# With `--target-auth iam` (or MIGRATE_LOCAL_TARGET_AUTH=iam) the target then stands in for an MSK
# cluster reached only over IAM (plans/local-iam.yaml): once the ACLs are granted as above (they
# are checked by `migrate plan` while `replicator` and `app` still log in with SCRAM), the target's
# replicator listener becomes an MSK IAM one (SASL_SSL, OAUTHBEARER only, each token checked by
# the project's validator, scripts/kafka/iam-validator) with one access key per identity mapped
# to User:replicator and User:app, and those two users' SCRAM credentials are deleted: neither
# can log in with SCRAM any more. The SASL_PLAINTEXT listener stays for `admin` alone (the
# script's own and a human's administration; no plan names it). Keys, secrets (mode 0600) and
# each identity's environment (<user>.iam.env, to source) are in the target's directory. Tokens
# live $MIGRATE_LOCAL_IAM_TOKEN_LIFETIME seconds (default 60, MSK's are 900) so that a demo run
# sees every client refresh its token; the broker ends each session when its token expires.
# The switch is one way: back to SCRAM only through `reset`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL_DIR="${MIGRATE_LOCAL_DIR:-$ROOT/.local/clusters}"
SOURCE_PORT="${MIGRATE_SOURCE_PORT:-19092}"
TARGET_PORT="${MIGRATE_TARGET_PORT:-29092}"
TARGET_AUTH="${MIGRATE_LOCAL_TARGET_AUTH:-scram}"
IAM_REGION=eu-west-1
IAM_TOKEN_LIFETIME="${MIGRATE_LOCAL_IAM_TOKEN_LIFETIME:-60}"
# The plans read the clusters' addresses from these (their defaults are the default ports), so
# clusters on other ports (another checkout's run beside this one) are the ones `migrate plan` asks.
export MIGRATE_LOCAL_DIR="$LOCAL_DIR"
export MIGRATE_SOURCE_BOOTSTRAP="${MIGRATE_SOURCE_BOOTSTRAP:-127.0.0.1:$SOURCE_PORT}"
export MIGRATE_SOURCE_REPLICATOR_BOOTSTRAP="${MIGRATE_SOURCE_REPLICATOR_BOOTSTRAP:-127.0.0.1:$((SOURCE_PORT + 4))}"
export MIGRATE_TARGET_BOOTSTRAP="${MIGRATE_TARGET_BOOTSTRAP:-127.0.0.1:$TARGET_PORT}"
export MIGRATE_TARGET_REPLICATOR_BOOTSTRAP="${MIGRATE_TARGET_REPLICATOR_BOOTSTRAP:-127.0.0.1:$((TARGET_PORT + 4))}"
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
  # A CA of this cluster's own and the replicator listener's certificate for 127.0.0.1/localhost.
  "$ROOT/scripts/kafka/certificates.sh" "$dir" "migrate local $name CA"
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
  if [ -f "$dir/.iam" ]; then
    log "$name: Apache Kafka $version up: MSK IAM only on 127.0.0.1:$((port + 4)) (SASL_SSL, OAUTHBEARER), SCRAM for admin only on 127.0.0.1:$port, cluster $cluster_id"
  else
    log "$name: Apache Kafka $version up: apps on 127.0.0.1:$port (SASL_PLAINTEXT), replicator on 127.0.0.1:$((port + 4)) (SASL_SSL), SCRAM-SHA-512, cluster $cluster_id"
  fi
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

# The target as an MSK cluster reached only over IAM (see the header), once: an access key per
# identity, their SCRAM credentials deleted, the replicator listener rewritten as an MSK IAM one.
switch_target_to_iam() {
  local dir="$LOCAL_DIR/target" user key keys=() announced=$((IAM_TOKEN_LIFETIME * 4 / 5))
  [ -f "$dir/.iam" ] && return
  log "target: switching to MSK IAM only (region $IAM_REGION, tokens live $IAM_TOKEN_LIFETIME s)"
  for user in replicator app; do
    # An access key ID is 20 characters, AKIA and 16 of [A-Z0-9]; the secret 40 of base64.
    key="AKIA$(openssl rand -hex 8 | tr a-f A-F)"
    (
      umask 077
      openssl rand -base64 30 | tr -d '\n' >"$dir/$key.secret"
      # The default AWS credential chain reads these (and nothing else: no profile, no instance
      # metadata); `migrate` and the apps sign their tokens with them.
      cat >"$dir/$user.iam.env" <<ENV
export AWS_ACCESS_KEY_ID=$key
export AWS_SECRET_ACCESS_KEY='$(cat "$dir/$key.secret")'
export AWS_REGION=$IAM_REGION
export AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=/dev/null
export AWS_SHARED_CREDENTIALS_FILE=/dev/null
export MIGRATE_IAM_TOKEN_LIFETIME=$announced
export MIGRATE_DEMO_CA_FILE='$dir/ca.pem'
ENV
    )
    keys+=("$key:$user")
    (cd "$dir" && kafka-configs --bootstrap-server "$(cat replicator_bootstrap)" --command-config admin.properties \
      --alter --entity-type users --entity-name "$user" --delete-config SCRAM-SHA-512 >/dev/null)
    log "target: $user: SCRAM credential deleted; access key $key (User:$user), its environment in $dir/$user.iam.env"
  done
  # The admin's only way in is now the SASL_PLAINTEXT listener.
  (umask 077; cat >"$dir/admin.properties" <<PROPERTIES
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(cat "$dir/admin.password")";
PROPERTIES
  )
  cat >>"$dir/broker.env" <<ENV
IAM_REGION=$IAM_REGION
IAM_KEYS="${keys[*]}"
IAM_TOKEN_LIFETIME=$IAM_TOKEN_LIFETIME
ENV
  "$ROOT/scripts/kafka/broker.sh" stop "$dir"
  "$ROOT/scripts/kafka/broker.sh" configure "$dir"
  "$ROOT/scripts/kafka/broker.sh" start "$dir"
  touch "$dir/.iam"
  log "target: MSK IAM on 127.0.0.1:$((TARGET_PORT + 4)) (SASL_SSL, OAUTHBEARER only, tokens checked by the validator, log $dir/iam.log); SCRAM on 127.0.0.1:$TARGET_PORT for admin only"
}

status_cluster() {
  local name=$1 port=$2 dir="$LOCAL_DIR/$1"
  if running "$dir" && [ -f "$dir/.iam" ]; then
    echo "$name: running (pid $(cat "$dir/broker.pid")), Apache Kafka $(sed -n 's/^KAFKA_VERSION=//p' "$dir/broker.env"), MSK IAM only on 127.0.0.1:$((port + 4)) (TLS, CA $dir/ca.pem; keys: $dir/replicator.iam.env, $dir/app.iam.env), SCRAM for admin only on 127.0.0.1:$port, cluster $(cat "$dir/cluster_id")"
  elif running "$dir"; then
    echo "$name: running (pid $(cat "$dir/broker.pid")), Apache Kafka $(sed -n 's/^KAFKA_VERSION=//p' "$dir/broker.env"), apps on 127.0.0.1:$port, replicator on 127.0.0.1:$((port + 4)) (TLS, CA $dir/ca.pem), cluster $(cat "$dir/cluster_id"), credentials in $dir"
  else
    echo "$name: stopped"
    return 1
  fi
}

action="${1:-}"
[ $# -gt 0 ] && shift
while [ $# -gt 0 ]; do
  case "$1" in
    --target-auth) TARGET_AUTH="${2:-}"; shift 2 || { echo "usage: $0 up --target-auth scram|iam" >&2; exit 2; } ;;
    --target-auth=*) TARGET_AUTH="${1#*=}"; shift ;;
    *) echo "local-clusters: unknown option $1" >&2; exit 2 ;;
  esac
done
case "$TARGET_AUTH" in
  scram | iam) ;;
  *) echo "local-clusters: --target-auth (MIGRATE_LOCAL_TARGET_AUTH) is scram or iam, not '$TARGET_AUTH'" >&2; exit 2 ;;
esac

case "$action" in
  up)
    if [ "$TARGET_AUTH" = scram ] && [ -f "$LOCAL_DIR/target/.iam" ]; then
      log "the target runs MSK IAM only (it was started with --target-auth iam); run \`$0 reset\` first"
      exit 1
    fi
    installed
    up_cluster source "$SOURCE_PORT" "$SOURCE_CLUSTER_ID" "$KAFKA_SOURCE_VERSION"
    up_cluster target "$TARGET_PORT" "$TARGET_CLUSTER_ID" "$KAFKA_TARGET_VERSION"
    seed
    if [ "$TARGET_AUTH" = iam ]; then switch_target_to_iam; fi
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
    echo "usage: $0 up [--target-auth scram|iam]|down|status|reset" >&2
    exit 2
    ;;
esac
