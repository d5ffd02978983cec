#!/usr/bin/env bash
# Regenerates completions/ from the CLI definition (tests/cli.rs fails when they drift).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
cargo build --quiet --locked
mkdir -p completions
for pair in bash:migrate.bash zsh:_migrate fish:migrate.fish powershell:_migrate.ps1 elvish:migrate.elv; do
  ./target/debug/migrate completions "${pair%%:*}" >"completions/${pair#*:}"
done
echo "completions/ updated"
