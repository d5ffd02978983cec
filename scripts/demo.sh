#!/usr/bin/env bash
# The main job on the local default: brings up the two local SCRAM clusters (installing what is
# missing) and runs `migrate plan` on plans/local.yaml: validation, preflight of both clusters,
# and the actions `apply` would take. Exits with migrate's exit code.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/local-clusters.sh up
cargo build --quiet --locked
./target/debug/migrate -p plans/local.yaml plan "$@"
