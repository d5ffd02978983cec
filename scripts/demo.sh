#!/usr/bin/env bash
# The main job on the local default, end to end: two fresh local Apache Kafka clusters (SCRAM,
# ACLs; installing what is missing), the three demo apps running on the source, `migrate plan`, `migrate apply`, the apps
# moved one by one with a rollback in the middle while orders keep flowing, `migrate verify`, then
# everything stopped and the notification ledger checked: every order delivered exactly once and
# in order per customer. Prints a table of the moves (with each one's downtime) and the totals.
# Exit 0 only when nothing was lost, duplicated or reordered.
#
# `scripts/demo.sh --target-auth iam` (or MIGRATE_LOCAL_TARGET_AUTH=iam) runs the same migration
# with the target reached only over MSK IAM (scripts/local-clusters.sh's IAM target and
# plans/local-iam.yaml): the engine, `migrate` and the apps on the target sign their own tokens,
# each with its identity's access key; it also prints how many tokens the target's validator
# accepted from each identity, and fails when it refused one.
#
# `scripts/demo.sh --soak MINUTES` is the soak (issue 20): orders at MIGRATE_DEMO_RATE (2,000/s
# by default here), a move every MIGRATE_SOAK_EVERY seconds (120) cycling the cutover of each app
# then the rollback of each, for MINUTES; the engine's RSS, open files and threads sampled every
# 10 s into .local/demo/soak.csv and plotted into .local/demo/soak.png (matplotlib, which
# scripts/install.sh installs); the first and last samples printed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

export MIGRATE_DEMO_DIR="$ROOT/.local/demo"
STATE="$MIGRATE_DEMO_DIR/state"
CLUSTERS="${MIGRATE_LOCAL_DIR:-$ROOT/.local/clusters}"
TARGET_AUTH="${MIGRATE_LOCAL_TARGET_AUTH:-scram}"
SOAK_MINUTES=""
usage() { echo "usage: $0 [--target-auth scram|iam] [--soak MINUTES]" >&2; exit 2; }
while (($#)); do
  case "$1" in
    --target-auth) TARGET_AUTH="${2:-}"; shift 2 || usage ;;
    --target-auth=*) TARGET_AUTH="${1#*=}"; shift ;;
    --soak) SOAK_MINUTES="${2:-}"; shift 2 || usage ;;
    --soak=*) SOAK_MINUTES="${1#*=}"; shift ;;
    *) usage ;;
  esac
done
if [ -n "$SOAK_MINUTES" ]; then
  [[ "$SOAK_MINUTES" =~ ^[1-9][0-9]*$ ]] || { echo "demo.sh: --soak takes whole minutes, not '$SOAK_MINUTES'" >&2; exit 2; }
  RATE="${MIGRATE_DEMO_RATE:-2000}"
  [[ "$RATE" =~ ^[1-9][0-9]*$ ]] || { echo "demo.sh: MIGRATE_DEMO_RATE is orders per second, not '$RATE'" >&2; exit 2; }
  SOAK_EVERY="${MIGRATE_SOAK_EVERY:-120}"
  [[ "$SOAK_EVERY" =~ ^[1-9][0-9]*$ ]] || { echo "demo.sh: MIGRATE_SOAK_EVERY is whole seconds, not '$SOAK_EVERY'" >&2; exit 2; }
else
  RATE="${MIGRATE_DEMO_RATE:-20}"
fi
# The orders app reads its rate from here at every start, the hooks' included.
export MIGRATE_DEMO_RATE="$RATE"
case "$TARGET_AUTH" in
  scram) PLAN=plans/local.yaml ;;
  iam) PLAN=plans/local-iam.yaml ;;
  *) echo "demo.sh: --target-auth is scram or iam, not '$TARGET_AUTH'" >&2; exit 2 ;;
esac
if [ -n "$SOAK_MINUTES" ]; then
  # The plan's gate is set for the demo's 20 orders/s; the soak's copy lets a move start with
  # about two seconds of its traffic in the lags (beside plans/, so the hooks' `../` paths hold).
  soak_plan="$ROOT/.local/soak-$(basename "$PLAN")"
  mkdir -p "$ROOT/.local"
  sed -e "s/^  max_message_lag: .*/  max_message_lag: $((RATE * 2))/" \
    -e "s/^  max_sum_offset_lag: .*/  max_sum_offset_lag: $((RATE * 5))/" "$PLAN" >"$soak_plan"
  PLAN="$soak_plan"
fi
export MIGRATE_LOCAL_TARGET_AUTH="$TARGET_AUTH"
say() { printf '\n== %s\n' "$*" >&2; }

say "fresh local Apache Kafka clusters (target: $TARGET_AUTH)"
scripts/local-clusters.sh reset
scripts/local-clusters.sh up --target-auth "$TARGET_AUTH"
# The plan reads the clusters' addresses from these, so clusters on other ports
# (MIGRATE_SOURCE_PORT, MIGRATE_TARGET_PORT) are the ones the demo migrates.
export MIGRATE_LOCAL_DIR="$CLUSTERS"
export MIGRATE_SOURCE_BOOTSTRAP MIGRATE_SOURCE_REPLICATOR_BOOTSTRAP MIGRATE_TARGET_BOOTSTRAP MIGRATE_TARGET_REPLICATOR_BOOTSTRAP
MIGRATE_SOURCE_BOOTSTRAP="$(cat "$CLUSTERS/source/bootstrap")"
MIGRATE_SOURCE_REPLICATOR_BOOTSTRAP="$(cat "$CLUSTERS/source/replicator_bootstrap")"
MIGRATE_TARGET_BOOTSTRAP="$(cat "$CLUSTERS/target/bootstrap")"
MIGRATE_TARGET_REPLICATOR_BOOTSTRAP="$(cat "$CLUSTERS/target/replicator_bootstrap")"
if [ "$TARGET_AUTH" = iam ]; then
  # `migrate` and the engine sign the replicator's tokens with its access key (the default AWS
  # credential chain reads it from the environment); the apps' start hooks read the app's.
  # shellcheck source=/dev/null
  . "$CLUSTERS/target/replicator.iam.env"
fi
# --all-targets, not --bins: the tests' dev-dependencies turn on features of the AWS SDK's shared
# crates, and a bins-only build resolves them differently, rebuilding the SDK (minutes) right
# after `scripts/test.sh` built it.
cargo build --quiet --locked --all-targets
rm -rf "$MIGRATE_DEMO_DIR"
mkdir -p "$MIGRATE_DEMO_DIR"
migrate() { ./target/debug/migrate -p "$PLAN" --state-dir "$STATE" "$@"; }

engine_pid=""
sampler_pid=""
cleanup() {
  if [ -n "$sampler_pid" ]; then kill "$sampler_pid" 2>/dev/null || true; fi
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
  MIGRATE_APP=$app MIGRATE_SIDE=source MIGRATE_CLIENT_CONFIG="$first_config" scripts/demo-app.sh start
done

say "migrate apply: the engine replicates both ways (log: $MIGRATE_DEMO_DIR/engine.log)"
# The binary itself in the background (not the shell function), so its pid is the engine's.
./target/debug/migrate -p "$PLAN" --state-dir "$STATE" apply >"$MIGRATE_DEMO_DIR/engine.log" 2>&1 &
engine_pid=$!

# The engine's resident memory (KiB), open files and threads, and the orders delivered so far,
# every 10 s while it runs.
sample_engine() {
  local started rss threads fds delivered
  echo "seconds,rss_kib,open_files,threads,delivered" >"$MIGRATE_DEMO_DIR/soak.csv"
  # From the engine's first published status on: its clients up, its flows started.
  until [ -f "$STATE/engine/status.json" ] || ! kill -0 "$engine_pid" 2>/dev/null; do sleep 0.5; done
  started=$SECONDS
  while kill -0 "$engine_pid" 2>/dev/null; do
    rss="$(awk '/^VmRSS:/ {print $2}' "/proc/$engine_pid/status" 2>/dev/null)" || break
    threads="$(awk '/^Threads:/ {print $2}' "/proc/$engine_pid/status" 2>/dev/null)" || break
    fds="$(find "/proc/$engine_pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)"
    delivered="$({ wc -l <"$MIGRATE_DEMO_DIR/ledger.txt"; } 2>/dev/null || echo 0)"
    echo "$((SECONDS - started)),$rss,$fds,$threads,$delivered" >>"$MIGRATE_DEMO_DIR/soak.csv"
    sleep 10
  done
}

if [ -z "$SOAK_MINUTES" ]; then
  say "moving the apps one by one while orders flow"
  moves=("cutover order_status" "cutover notification" "rollback order_status" "cutover order_status" "cutover orders")
  for move in "${moves[@]}"; do
    say "migrate $move"
    # shellcheck disable=SC2086
    migrate $move --wait 3m
  done
else
  say "soak: $SOAK_MINUTES min at $RATE orders/s, a move every $SOAK_EVERY s (samples: $MIGRATE_DEMO_DIR/soak.csv)"
  sample_engine &
  sampler_pid=$!
  cycle=("cutover order_status" "cutover notification" "cutover orders" "rollback orders" "rollback notification" "rollback order_status")
  soak_started=$SECONDS
  moved=0
  while :; do
    next_at=$((soak_started + (moved + 1) * SOAK_EVERY))
    [ "$next_at" -le $((soak_started + SOAK_MINUTES * 60)) ] || break
    while [ "$SECONDS" -lt "$next_at" ]; do sleep 1; done
    move="${cycle[$((moved % ${#cycle[@]}))]}"
    say "soak: $((SECONDS - soak_started)) s: migrate $move"
    # shellcheck disable=SC2086
    migrate $move --wait 3m
    moved=$((moved + 1))
  done
  while [ "$SECONDS" -lt $((soak_started + SOAK_MINUTES * 60)) ]; do sleep 1; done
  kill "$sampler_pid" 2>/dev/null || true
  wait "$sampler_pid" 2>/dev/null || true
  sampler_pid=""
fi

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
iam_refused=0
if [ "$TARGET_AUTH" = iam ]; then
  # The target's validator logs each authentication it decides (`accepted key=… principal=…
  # token=<fingerprint>`, `refused <why>`): distinct tokens are fresh signings, so beyond each
  # client's first they are its refreshes.
  iam_refused="$(python3 - "$CLUSTERS/target/iam.log" "$CLUSTERS/target/broker.env" "${MIGRATE_IAM_TOKEN_LIFETIME:-900}" <<'PY'
import collections, re, sys
log, env, announced = sys.argv[1], sys.argv[2], int(sys.argv[3])
lifetime = re.search(r"^IAM_TOKEN_LIFETIME=(\d+)", open(env).read(), re.M).group(1)
logins, tokens, refused = collections.Counter(), collections.defaultdict(set), []
for line in open(log):
    fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
    if " accepted " in line:
        logins[fields["principal"]] += 1
        tokens[fields["principal"]].add(fields["token"])
    elif " refused " in line:
        refused.append(line.split(" refused ", 1)[1].strip())
each = ", ".join(f"User:{p} {logins[p]} logins with {len(tokens[p])} tokens" for p in sorted(logins))
print(f"MSK IAM: tokens live {lifetime} s on the target (its sessions end then), the clients announce "
      f"{announced} s (a fresh token at 80 %): {each}; refused: {len(refused)}", file=sys.stderr)
for why in refused[:5]:
    print(f"  refused: {why}", file=sys.stderr)
print(len(refused))
PY
)"
fi
./target/debug/migrate-demo check --ledger "$MIGRATE_DEMO_DIR/ledger.txt" \
  --produced "$MIGRATE_DEMO_DIR/orders.next" --audit "$STATE/audit.jsonl"
if [ -n "$SOAK_MINUTES" ]; then
  "${MIGRATE_TOOLS:-$HOME/.cache/migrate-tools}/plot-venv/bin/python" scripts/soak-plot.py \
    "$MIGRATE_DEMO_DIR/soak.csv" "$MIGRATE_DEMO_DIR/soak.png" \
    "$SOAK_MINUTES min at $RATE orders/s, a move every $SOAK_EVERY s"
fi
# Every start of the orders app, the moves' included, at the rate asked for (a move once
# restarted it at its default 50/s).
starts="$(grep -o "producing from order [0-9]* at [0-9]*/s" "$MIGRATE_DEMO_DIR/orders.log" || true)"
if [ -z "$starts" ] || grep -v " at $RATE/s\$" <<<"$starts"; then
  echo "demo: the orders app was not started, or started at another rate than $RATE/s" >&2
  exit 1
fi
echo "demo: $SECONDS s (target: $TARGET_AUTH)" >&2
if [ "$iam_refused" != 0 ]; then
  echo "demo: the target's validator refused $iam_refused MSK IAM token(s)" >&2
  exit 1
fi
