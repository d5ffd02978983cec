#!/usr/bin/env bash
# Runs every test: installs what is missing (Debian packages, the Nisshi broker, moto), then the unit,
# plan, CLI and integration tests. Integration tests start their own SCRAM-protected brokers on
# free loopback ports; no running cluster is needed or touched.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
NISSHI_BIN="$(scripts/install.sh | tail -n 1)"
export NISSHI_BIN
# Snapshots are compared, never rewritten, here.
export INSTA_UPDATE=no
cargo test --locked "$@"
