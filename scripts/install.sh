#!/usr/bin/env bash
# Installs what migrate's build, demo and tests need, skipping what is present. Idempotent.
#   - Debian packages: a C toolchain, pkg-config, OpenSSL headers (librdkafka's SSL/SCRAM),
#     openssl (tests make CAs), curl, python3.
#   - Nisshi, the Kafka-compatible broker the local clusters run (cached under $MIGRATE_TOOLS).
#   - moto's server (PyPI, in its own virtualenv under $MIGRATE_TOOLS), the local AWS the tests
#     of the msk backend run against (STS, IAM, Secrets Manager, KMS, EC2).
# Prints the broker binary's path on its last line.
set -euo pipefail

MIGRATE_TOOLS="${MIGRATE_TOOLS:-$HOME/.cache/migrate-tools}"
NISSHI_VERSION="0.8.1"
NISSHI_ROOT="$MIGRATE_TOOLS/nisshi-$NISSHI_VERSION"
NISSHI_BIN="$NISSHI_ROOT/bin/nisshi"

log() { echo "install: $*" >&2; }

need_packages=()
for pair in gcc:gcc g++:g++ make:make pkg-config:pkg-config openssl:openssl curl:curl python3:python3; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need_packages+=("${pair#*:}")
done
dpkg -s libssl-dev >/dev/null 2>&1 || need_packages+=(libssl-dev)
dpkg -s zlib1g-dev >/dev/null 2>&1 || need_packages+=(zlib1g-dev)
if ((${#need_packages[@]})); then
  log "apt-get install ${need_packages[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_packages[@]}" >&2
else
  log "Debian packages present"
fi

if [ -x "$NISSHI_BIN" ] && "$NISSHI_BIN" --version >/dev/null 2>&1; then
  log "nisshi $NISSHI_VERSION present at $NISSHI_BIN"
else
  log "building nisshi $NISSHI_VERSION from crates.io (about 17 minutes on 2 cores)"
  mkdir -p "$NISSHI_ROOT"
  # It declares rustc 1.96 but builds on 1.95; the sqlite (libsql) storage is needed for SCRAM.
  cargo install "nisshi@$NISSHI_VERSION" --locked --ignore-rust-version \
    --no-default-features --features dynostore,libsql --root "$NISSHI_ROOT" >&2
fi
MOTO_VERSION="5.2.5"
MOTO_VENV="$MIGRATE_TOOLS/moto-venv"
if [ -x "$MOTO_VENV/bin/moto_server" ] && "$MOTO_VENV/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
  log "moto $MOTO_VERSION present at $MOTO_VENV"
else
  log "installing moto[server]==$MOTO_VERSION into $MOTO_VENV"
  if ! python3 -m venv --help >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >&2
  fi
  mkdir -p "$MIGRATE_TOOLS"
  python3 -m venv "$MOTO_VENV"
  "$MOTO_VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2
fi

echo "$NISSHI_BIN"
