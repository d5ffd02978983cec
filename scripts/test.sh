#!/usr/bin/env bash
# Runs every test: installs what is missing (Debian packages, Java and Maven, Apache Kafka, moto),
# then the unit, plan, CLI and integration tests. Integration tests start their own Apache Kafka
# brokers (KRaft, SCRAM, the StandardAuthorizer) on free loopback ports; no running cluster is
# needed or touched.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/install.sh
# The test harness would run it again per test binary otherwise.
export MIGRATE_KAFKA_INSTALLED=1
# Snapshots are compared, never rewritten, here.
export INSTA_UPDATE=no
cargo test --locked "$@"
