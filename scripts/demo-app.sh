#!/usr/bin/env bash
# The demo apps' hook: `demo-app.sh start|stop [migrate-demo options]`, run by `migrate cutover` and
# `migrate rollback` with MIGRATE_APP (orders, order_status, notification), MIGRATE_SIDE and
# MIGRATE_CLIENT_CONFIG, or for an MSK IAM side MIGRATE_AUTH=iam and MIGRATE_BOOTSTRAP (the app
# then signs IAM tokens with the default AWS credential chain; MIGRATE_DEMO_CA_FILE names a private
# CA, as the local IAM stand-in's). `start` launches the app in the background against that cluster; `stop`
# sends SIGTERM and waits until it has finished cleanly (its group left, its effects committed).
# Files (pid, log, the orders counter, the ledger) live in $MIGRATE_DEMO_DIR (default .local/demo).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
action="${1:?usage: demo-app.sh start|stop [options]}"
shift
app="${MIGRATE_APP:?MIGRATE_APP is not set}"
dir="${MIGRATE_DEMO_DIR:-$ROOT/.local/demo}"
mkdir -p "$dir"
pidfile="$dir/$app.pid"
bin="${MIGRATE_DEMO_BIN:-$ROOT/target/debug/migrate-demo}"
case "$app" in
  orders) command=orders ;;
  order_status) command=order-status ;;
  notification) command=notification ;;
  *) echo "demo-app.sh: unknown app $app" >&2; exit 2 ;;
esac

# Alive: the process exists and is not a zombie. An app that exited stays a zombie until its
# parent (init, the app being started in the background) reaps it, and `kill -0` still succeeds on
# it: here init reaps every ~1.5 s, which a move counted as downtime.
alive() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [ "${stat%% *}" != Z ]
}
running() { [ -f "$pidfile" ] && alive "$(cat "$pidfile")"; }

case "$action" in
  start)
    if running; then
      echo "demo-app.sh: $app already runs (pid $(cat "$pidfile"))" >&2
      exit 0
    fi
    if [ -z "${MIGRATE_CLIENT_CONFIG:-}" ] && [ "${MIGRATE_AUTH:-}" != iam ]; then
      echo "demo-app.sh: neither MIGRATE_CLIENT_CONFIG nor MIGRATE_AUTH=iam is set" >&2
      exit 2
    fi
    echo "[$(date +%T)] starting on the ${MIGRATE_SIDE:-?}${MIGRATE_AUTH:+ ($MIGRATE_AUTH)}" >>"$dir/$app.log"
    # The app reads MIGRATE_CLIENT_CONFIG, or MIGRATE_AUTH and MIGRATE_BOOTSTRAP, from its environment.
    nohup "$bin" "$command" --dir "$dir" "$@" >>"$dir/$app.log" 2>&1 </dev/null &
    echo $! >"$pidfile"
    ;;
  stop)
    if running; then
      pid="$(cat "$pidfile")"
      kill -TERM "$pid"
      for _ in $(seq 1 600); do
        alive "$pid" || break
        sleep 0.05
      done
      if alive "$pid"; then
        echo "demo-app.sh: $app (pid $pid) did not stop within 30 s" >&2
        exit 1
      fi
    fi
    rm -f "$pidfile"
    ;;
  *) echo "usage: demo-app.sh start|stop [options]" >&2; exit 2 ;;
esac
