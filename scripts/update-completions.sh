#!/usr/bin/env bash
# Regenerates completions/ from the CLI definition (tests/cli.rs fails when they drift).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# --all-targets, as scripts/test.sh builds: a bins-only build resolves the AWS SDK's features
# differently and makes the next test build relink every test binary.
cargo build --quiet --locked --all-targets
mkdir -p completions
for pair in bash:migrate.bash zsh:_migrate fish:migrate.fish powershell:_migrate.ps1 elvish:migrate.elv; do
  ./target/debug/migrate completions "${pair%%:*}" >"completions/${pair#*:}"
done
echo "completions/ updated"
