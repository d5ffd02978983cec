#!/usr/bin/env bash
# Runs every test: installs what is missing (Debian packages, Java and Maven, Apache Kafka, moto),
# then the unit, plan, CLI and integration tests. Integration tests start their own Apache Kafka
# brokers (KRaft, SCRAM, the StandardAuthorizer) on free loopback ports; no running cluster is
# needed or touched.
#
#   scripts/test.sh              everything: the three longest test binaries (cutover, engine,
#                                scenarios) in one lane, every other binary in a second lane beside
#                                it; each binary's time printed, a failed one's output printed whole
#   scripts/test.sh ARGS…        `cargo test --locked ARGS…` (one binary, a filter, …)
#
# The tests mostly wait on brokers: two lanes take about half the time of one on two cores, and
# each binary's brokers are its own, so the lanes share nothing but the machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/install.sh
# The test harness would run it again per test binary otherwise.
export MIGRATE_KAFKA_INSTALLED=1
# Snapshots are compared, never rewritten, here.
export INSTA_UPDATE=no

if [ "$#" -gt 0 ]; then
  exec cargo test --locked "$@"
fi

LONG=(cutover engine scenarios)
started=$SECONDS
cargo test --locked --no-run
echo "tests: built in $((SECONDS - started)) s"

OTHERS=()
for file in tests/*.rs; do
  name="$(basename "$file" .rs)"
  [[ " ${LONG[*]} " == *" $name "* ]] || OTHERS+=("$name")
done
LOGS="$(mktemp -d)"
trap 'rm -rf "$LOGS"' EXIT

# Runs each test binary named, one after the other; a line per binary; the output of a failed one
# whole. Exit 1 when any failed (the lane goes on with the next).
lane() {
  local name began failed=0
  for name in "$@"; do
    began=$SECONDS
    if cargo test --locked --quiet --test "$name" >"$LOGS/$name.log" 2>&1 </dev/null; then
      echo "tests: $name passed in $((SECONDS - began)) s ($(grep -h '^test result' "$LOGS/$name.log" | tail -n 1))"
    else
      failed=1
      echo "tests: $name FAILED after $((SECONDS - began)) s; its output:"
      sed 's/^/    /' "$LOGS/$name.log"
    fi
  done
  return "$failed"
}

status=0
# The library's and binaries' own tests first: quick, and they name a broken core before the
# brokers start.
began=$SECONDS
if cargo test --locked --quiet --lib --bins >"$LOGS/unit.log" 2>&1 && cargo test --locked --quiet --doc >>"$LOGS/unit.log" 2>&1; then
  echo "tests: unit passed in $((SECONDS - began)) s ($(awk '/^test result/ {n += $4} END {print n + 0}' "$LOGS/unit.log") tests)"
else
  echo "tests: unit FAILED; its output:"
  sed 's/^/    /' "$LOGS/unit.log"
  status=1
fi
lane "${LONG[@]}" &
long_lane=$!
lane "${OTHERS[@]}" &
other_lane=$!
wait "$long_lane" || status=1
wait "$other_lane" || status=1
echo "tests: all done in $((SECONDS - started)) s: $([ "$status" = 0 ] && echo passed || echo FAILED)"
exit "$status"
