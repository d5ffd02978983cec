#!/usr/bin/env bash
# Fault injection on Apache Kafka (issue 20, part B), not part of CI (CI runs the smoke test of
# tests/faults.rs with every other test). Prints one table per matrix: the fault, the step it hit
# (and the step `move.json` named at that moment), what ran next, the exit code, the cluster the
# app ended on, records lost, duplicated or reordered, times the app was started on a second
# cluster, and the time from the fault to the move's end.
#
#   scripts/faults.sh          every case: `kill -9` of `migrate cutover`/`rollback` in each of the
#                              8 steps, then the same command again; then the opposite command;
#                              `kill -9` of the engine in each step; the engine's link to each
#                              cluster cut (5 s, 60 s, during moves, longer than the drain's
#                              timeout) or lossy; added latency through a delaying proxy
#   scripts/faults.sh smoke    the smoke tests only (a kill of each, one 30 s cut)
#   scripts/faults.sh soak [MINUTES]
#                              the soak: the demo's three apps at 2,000 orders/s for MINUTES (30),
#                              a move every 2 minutes, the engine's RSS, open files and threads
#                              sampled and plotted (scripts/demo.sh --soak)
#
# Needs root: the cuts are nftables rules on a cgroup (v2) of the engine's own.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/install.sh
export MIGRATE_KAFKA_INSTALLED=1 INSTA_UPDATE=no
started=$SECONDS
case "${1:-all}" in
  smoke) filter=(smoke) ;;
  all) filter=(--include-ignored) ;;
  soak)
    scripts/demo.sh --soak "${2:-30}"
    echo "faults: soak done in $((SECONDS - started)) s"
    exit 0
    ;;
  *) echo "usage: scripts/faults.sh [all|smoke|soak [MINUTES]]" >&2; exit 2 ;;
esac
# One matrix at a time: each shares the machine's two cores with its brokers, engine and apps.
if [ "${filter[0]}" = smoke ]; then
  cargo test --locked --test faults smoke -- --nocapture
else
  cargo test --locked --test faults -- --include-ignored --nocapture --test-threads=1
fi
echo "faults: done in $((SECONDS - started)) s"
