#!/usr/bin/env bash
# One single-node Apache Kafka cluster in KRaft mode (combined broker + controller), as the local
# clusters (scripts/local-clusters.sh) and the integration tests (tests/common) run it; a 2.x
# version runs on ZooKeeper instead (its own ZooKeeper on CONTROLLER_PORT, living as long as the
# broker), with the AclAuthorizer.
#
#   broker.sh format DIR   write DIR/server.properties and format DIR/data with the SCRAM users
#   broker.sh configure DIR  write DIR/server.properties again from broker.env, keeping the data
#                          (its users, ACLs, topics): how a listener's settings change later
#   broker.sh run DIR      run the broker in the foreground (its log on stdout)
#   broker.sh start DIR    run it in the background (log: DIR/broker.log, pid: DIR/broker.pid)
#   broker.sh stop DIR     SIGTERM, then SIGKILL after 20 s
#   broker.sh wait DIR     wait until both client listeners accept connections (60 s at most)
#
# DIR/broker.env (sourced) says what the cluster is:
#   KAFKA_VERSION     the Apache Kafka version (scripts/kafka/versions.sh)
#   CLUSTER_ID        the KRaft cluster ID (22 characters of URL-safe base64; 2.x: ZooKeeper picks it)
#   APPS_PORT         SASL_PLAINTEXT listener for the apps (SCRAM-SHA-512 and -256)
#   REPLICATOR_PORT   the replicator's listener: SASL_SSL when TLS_CERT is set, else SASL_PLAINTEXT
#   CONTROLLER_PORT   the KRaft controller listener (2.x: ZooKeeper's client port), INTERNAL_PORT
#                     the inter-broker one (SASL/PLAIN)
#   TLS_CERT TLS_KEY  PEM certificate chain and unencrypted PKCS#8 key of the replicator listener
#   USERS             "name:MECHANISM ..." SCRAM users created at format time; each one's password
#                     is read from DIR/<name>.password
#   SUPER_USERS       human super users besides the broker's own principals (default: admin)
#   AUTHORIZER=none   no authorizer at all (everyone may do everything), as some sources run
#   IAM_REGION        makes the replicator listener an MSK IAM one, as MSK's port 9098: SASL_SSL
#                     (TLS_CERT is required) with OAUTHBEARER only, each token checked by the
#                     project's validator (scripts/kafka/iam-validator, compiled by
#                     scripts/install.sh): SigV4 signature, region, expiry; accepted and refused
#                     tokens are logged to DIR/iam.log
#   IAM_KEYS          "ACCESS_KEY_ID:principal ..." the access keys the IAM listener accepts and
#                     the principal (User:<principal>) each one maps to; each key's secret is read
#                     from DIR/<ACCESS_KEY_ID>.secret
#   IAM_TOKEN_LIFETIME  seconds a token is good for after signing (default 900, as MSK's); the
#                     broker ends each session then (KIP-368), so clients must re-authenticate
#                     with a fresh token
#   EXTRA_CONFIG      more server.properties lines
# The StandardAuthorizer is on with allow.everyone.if.no.acl.found=false: only the super users and
# what ACLs grant may do anything. The broker's own principals (User:broker on the inter-broker
# listener, User:controller on the controller listener) are super users, as Kafka requires.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command="${1:?usage: broker.sh format|configure|run|start|stop|wait DIR}"
dir="$(cd "${2:?usage: broker.sh $command DIR}" && pwd)"
# shellcheck source=/dev/null
source "$dir/broker.env"
: "${KAFKA_VERSION:?} ${CLUSTER_ID:?} ${APPS_PORT:?} ${REPLICATOR_PORT:?} ${CONTROLLER_PORT:?} ${INTERNAL_PORT:?}"
export MIGRATE_KAFKA_VERSION="$KAFKA_VERSION"

log() { echo "broker.sh: $*" >&2; }

zookeeper_mode() { [[ "$KAFKA_VERSION" == 2.* ]]; }

# The broker's own principals authenticate with SASL/PLAIN against passwords only this directory
# knows (KRaft keeps SCRAM credentials in the metadata log, which the controller cannot use to
# authenticate itself).
internal_password() {
  [ -f "$dir/internal.password" ] || (umask 077; openssl rand -hex 16 >"$dir/internal.password")
  cat "$dir/internal.password"
}

pem_value() { awk 'NF {printf "%s\\n", $0}' "$1"; }

write_config() {
  local password replicator_protocol=SASL_PLAINTEXT
  password="$(internal_password)"
  [ -n "${TLS_CERT:-}" ] && replicator_protocol=SASL_SSL
  if [ -n "${IAM_REGION:-}" ] && [ -z "${TLS_CERT:-}" ]; then
    log "IAM_REGION needs TLS_CERT: an MSK IAM listener is SASL_SSL"
    return 1
  fi
  local plain="org.apache.kafka.common.security.plain.PlainLoginModule required"
  local scram="org.apache.kafka.common.security.scram.ScramLoginModule required;"
  local authorizer=org.apache.kafka.metadata.authorizer.StandardAuthorizer
  zookeeper_mode && authorizer=kafka.security.authorizer.AclAuthorizer
  (umask 077; {
    echo "# Written by scripts/kafka/broker.sh from broker.env; rewritten at every format."
    if zookeeper_mode; then cat <<PROPERTIES
broker.id=1
zookeeper.connect=127.0.0.1:$CONTROLLER_PORT
listeners=APPS://127.0.0.1:$APPS_PORT,REPLICATOR://127.0.0.1:$REPLICATOR_PORT,INTERNAL://127.0.0.1:$INTERNAL_PORT
listener.security.protocol.map=APPS:SASL_PLAINTEXT,REPLICATOR:$replicator_protocol,INTERNAL:SASL_PLAINTEXT
PROPERTIES
    else cat <<PROPERTIES
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=APPS://127.0.0.1:$APPS_PORT,REPLICATOR://127.0.0.1:$REPLICATOR_PORT,INTERNAL://127.0.0.1:$INTERNAL_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
listener.security.protocol.map=APPS:SASL_PLAINTEXT,REPLICATOR:$replicator_protocol,INTERNAL:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT
controller.listener.names=CONTROLLER
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=$plain username="controller" password="$password" user_controller="$password";
PROPERTIES
    fi
    cat <<PROPERTIES
advertised.listeners=APPS://127.0.0.1:$APPS_PORT,REPLICATOR://127.0.0.1:$REPLICATOR_PORT,INTERNAL://127.0.0.1:$INTERNAL_PORT
inter.broker.listener.name=INTERNAL
sasl.mechanism.inter.broker.protocol=PLAIN
listener.name.internal.sasl.enabled.mechanisms=PLAIN
listener.name.internal.plain.sasl.jaas.config=$plain username="broker" password="$password" user_broker="$password";
listener.name.apps.sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256
listener.name.apps.scram-sha-512.sasl.jaas.config=$scram
listener.name.apps.scram-sha-256.sasl.jaas.config=$scram
$(replicator_sasl)
$(if [ "${AUTHORIZER:-}" != none ]; then
    echo "authorizer.class.name=$authorizer"
    echo "allow.everyone.if.no.acl.found=false"
    echo "super.users=User:broker;User:controller$(for user in ${SUPER_USERS:-admin}; do printf ';User:%s' "$user"; done)"
  fi)
log.dirs=$dir/data
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
PROPERTIES
  } >"$dir/server.properties"
  if [ -n "${TLS_CERT:-}" ]; then
    # PEM inline, each line break written as \n (the properties format's escape).
    printf 'listener.name.replicator.ssl.keystore.type=PEM\n'
    printf 'listener.name.replicator.ssl.keystore.certificate.chain=%s\n' "$(pem_value "$TLS_CERT")"
    printf 'listener.name.replicator.ssl.keystore.key=%s\n' "$(pem_value "$TLS_KEY")"
  fi >>"$dir/server.properties"
  [ -z "${EXTRA_CONFIG:-}" ] || printf '%s\n' "$EXTRA_CONFIG" >>"$dir/server.properties")
}

# The replicator listener's SASL settings: SCRAM, or MSK IAM only (IAM_REGION).
replicator_sasl() {
  local scram="org.apache.kafka.common.security.scram.ScramLoginModule required;"
  if [ -z "${IAM_REGION:-}" ]; then
    echo "listener.name.replicator.sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256"
    echo "listener.name.replicator.scram-sha-512.sasl.jaas.config=$scram"
    echo "listener.name.replicator.scram-sha-256.sasl.jaas.config=$scram"
    return
  fi
  local lifetime="${IAM_TOKEN_LIFETIME:-900}" options="" entry key principal
  for entry in ${IAM_KEYS:-}; do
    key="${entry%%:*}"
    principal="${entry#*:}"
    options+=" key_$key=\"$(cat "$dir/$key.secret")\" principal_$key=\"$principal\""
  done
  echo "listener.name.replicator.sasl.enabled.mechanisms=OAUTHBEARER"
  echo "listener.name.replicator.oauthbearer.sasl.server.callback.handler.class=migrate.kafka.MskIamValidator"
  # The broker's own login on this listener uses Kafka's unsecured token (it never connects to it);
  # clients' tokens go to the validator.
  echo "listener.name.replicator.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub=\"broker\" region=\"$IAM_REGION\" lifetimeSeconds=\"$lifetime\" log=\"$dir/iam.log\"$options;"
  echo "listener.name.replicator.oauthbearer.connections.max.reauth.ms=$((lifetime * 1000))"
}

# ZooKeeper for a 2.x broker, on CONTROLLER_PORT, its data in DIR/zookeeper.
start_zookeeper() {
  if [ -f "$dir/zookeeper.pid" ] && kill -0 "$(cat "$dir/zookeeper.pid")" 2>/dev/null; then return; fi
  cat >"$dir/zookeeper.properties" <<PROPERTIES
dataDir=$dir/zookeeper
clientPort=$CONTROLLER_PORT
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
PROPERTIES
  KAFKA_HEAP_OPTS="-Xmx128m" nohup "$here/bin/kafka-run-class" org.apache.zookeeper.server.quorum.QuorumPeerMain \
    "$dir/zookeeper.properties" >>"$dir/zookeeper.log" 2>&1 </dev/null &
  echo $! >"$dir/zookeeper.pid"
  local deadline=$((SECONDS + 30))
  until port_open "$CONTROLLER_PORT"; do
    if ((SECONDS > deadline)); then log "ZooKeeper did not open port $CONTROLLER_PORT in 30 s; see $dir/zookeeper.log"; return 1; fi
    sleep 0.1
  done
}

# Stops the ZooKeeper whose PID is $1 (default: the one in zookeeper.pid) and waits for it to exit
# (SIGKILL after 10 s); the PID file is removed only if it still names that one.
stop_zookeeper() {
  local pid="${1:-}"
  [ -n "$pid" ] || pid="$(cat "$dir/zookeeper.pid" 2>/dev/null || true)"
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  if [ "$(cat "$dir/zookeeper.pid" 2>/dev/null || true)" = "$pid" ]; then rm -f "$dir/zookeeper.pid"; fi
}

# 2.x: the SCRAM users go into ZooKeeper before the broker starts.
format_zookeeper() {
  stop_zookeeper
  rm -rf "$dir/data" "$dir/zookeeper"
  start_zookeeper
  local entry user mechanism
  for entry in ${USERS:-}; do
    user="${entry%%:*}"
    mechanism="${entry#*:}"
    "$here/bin/kafka-configs" --zookeeper "127.0.0.1:$CONTROLLER_PORT" --alter --entity-type users \
      --entity-name "$user" --add-config "$mechanism=[password=$(cat "$dir/$user.password")]" \
      >>"$dir/format.log" 2>&1 || { cat "$dir/format.log" >&2; stop_zookeeper; return 1; }
  done
  stop_zookeeper
}

format() {
  write_config
  if zookeeper_mode; then
    format_zookeeper
    return
  fi
  rm -rf "$dir/data"
  local scram=() entry user mechanism
  for entry in ${USERS:-}; do
    user="${entry%%:*}"
    mechanism="${entry#*:}"
    scram+=(--add-scram "$mechanism=[name=$user,password=$(cat "$dir/$user.password")]")
  done
  # `--cluster-id=ID`, not `--cluster-id ID`: a random ID may start with `-`, which the storage
  # tool would take for an option.
  "$here/bin/kafka-storage" format "--cluster-id=$CLUSTER_ID" --config "$dir/server.properties" \
    "${scram[@]}" >"$dir/format.log" 2>&1 || { cat "$dir/format.log" >&2; return 1; }
}

run() {
  # exec keeps this PID: it is the JVM's (tests kill -9 it).
  echo $$ >"$dir/run.pid"
  export KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
  export KAFKA_JVM_OPTS="${KAFKA_JVM_OPTS:--XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError}"
  if [ -n "${IAM_REGION:-}" ]; then
    local validator="${MIGRATE_TOOLS:-$HOME/.cache/migrate-tools}/iam-validator/classes"
    if [ ! -f "$validator/migrate/kafka/MskIamValidator.class" ]; then
      log "the MSK IAM validator is not compiled in $validator; run scripts/install.sh"
      exit 127
    fi
    export KAFKA_EXTRA_CLASSPATH="$validator"
  fi
  if zookeeper_mode; then
    (unset KAFKA_JVM_OPTS; start_zookeeper)
    # ZooKeeper lives as long as this broker: a guard watches this PID (the JVM's after exec) and
    # stops that ZooKeeper, by its own PID (a later start may run another).
    local zookeeper
    zookeeper="$(cat "$dir/zookeeper.pid")"
    (while kill -0 $$ 2>/dev/null; do sleep 0.5; done; stop_zookeeper "$zookeeper") </dev/null >/dev/null 2>&1 &
  fi
  exec "$here/bin/kafka-run-class" kafka.Kafka "$dir/server.properties"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

running() { [ -f "$dir/broker.pid" ] && kill -0 "$(cat "$dir/broker.pid")" 2>/dev/null; }

wait_up() {
  local deadline=$((SECONDS + 60))
  until port_open "$APPS_PORT" && port_open "$REPLICATOR_PORT"; do
    if ! running && [ -f "$dir/broker.pid" ]; then log "the broker in $dir exited; see $dir/broker.log"; return 1; fi
    if ((SECONDS > deadline)); then log "the broker in $dir did not open its ports in 60 s; see $dir/broker.log"; return 1; fi
    sleep 0.1
  done
}

case "$command" in
  format) format ;;
  configure) write_config ;;
  run) run ;;
  start)
    if running; then log "already running (pid $(cat "$dir/broker.pid"))"; exit 0; fi
    nohup "$0" run "$dir" >>"$dir/broker.log" 2>&1 &
    echo $! >"$dir/broker.pid"
    wait_up
    ;;
  wait) wait_up ;;
  stop)
    if running; then
      pid="$(cat "$dir/broker.pid")"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/broker.pid"
    if zookeeper_mode; then stop_zookeeper; fi
    ;;
  *) echo "usage: broker.sh format|configure|run|start|stop|wait DIR" >&2; exit 2 ;;
esac
