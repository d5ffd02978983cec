#!/usr/bin/env bash
# Installs what migrate's build, demo and tests need, skipping what is present. Idempotent.
#   - Debian packages: a C toolchain, pkg-config, OpenSSL headers (librdkafka's SSL/SCRAM),
#     openssl (CAs for the TLS listeners), curl, python3, unzip, nftables (the fault tests cut the
#     engine's links with it); Java 17+ and Maven when missing.
#   - Apache Kafka (the versions in scripts/kafka/versions.sh), fetched with Maven from
#     scripts/kafka/pom.xml into $MIGRATE_TOOLS/kafka-<version>/libs; scripts/kafka/bin runs it.
#   - the MSK IAM token validator of the local target's IAM listener (scripts/kafka/iam-validator),
#     compiled with javac into $MIGRATE_TOOLS/iam-validator.
#   - moto's server (PyPI, in its own virtualenv under $MIGRATE_TOOLS), the local AWS the tests
#     of the msk backend run against (STS, IAM, Secrets Manager, KMS, EC2).
#   - Prometheus and promtool (Debian's `prometheus`), for the tests of the rules in monitoring/.
#   - the AWS CLI (PyPI `awscli`, in its own virtualenv under $MIGRATE_TOOLS): the tests check that
#     every file `migrate render` writes passes its own parameter validation.
#   - parliament (PyPI, Duo Labs' IAM policy linter, in its own virtualenv under $MIGRATE_TOOLS):
#     the tests lint every policy `migrate render` writes, each action checked against its database.
#   - matplotlib (PyPI, in its own virtualenv under $MIGRATE_TOOLS): the soak (`scripts/demo.sh
#     --soak`) plots the engine's memory, open files and threads with it.
set -euo pipefail

MIGRATE_TOOLS="${MIGRATE_TOOLS:-$HOME/.cache/migrate-tools}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { echo "install: $*" >&2; }

apt_updated=""
apt_install() {
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if [ -z "$apt_updated" ]; then $sudo apt-get update -qq; apt_updated=yes; fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >&2
}

need_packages=()
for pair in gcc:gcc g++:g++ make:make pkg-config:pkg-config openssl:openssl curl:curl python3:python3 unzip:unzip nft:nftables; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need_packages+=("${pair#*:}")
done
dpkg -s libssl-dev >/dev/null 2>&1 || need_packages+=(libssl-dev)
dpkg -s zlib1g-dev >/dev/null 2>&1 || need_packages+=(zlib1g-dev)
if ((${#need_packages[@]})); then
  log "apt-get install ${need_packages[*]}"
  apt_install "${need_packages[@]}"
else
  log "Debian packages present"
fi

# Java 17+ and Maven, which fetch and run Apache Kafka (Debian's JDK when none is found).
java_major() { "${JAVA_HOME:+$JAVA_HOME/bin/}java" -version 2>&1 | awk -F'"' '/version/ {split($2, v, "."); print (v[1] == "1" ? v[2] : v[1]); exit}'; }
found_java="$(java_major 2>/dev/null || true)"
if ! [ "${found_java:-0}" -ge 17 ] 2>/dev/null; then
  log "Java 17 or newer is missing (found: ${found_java:-none}); apt-get install openjdk-17-jre-headless"
  apt_install openjdk-17-jre-headless
fi
command -v mvn >/dev/null 2>&1 || { log "Maven is missing; apt-get install maven"; apt_install maven; }

# Prometheus and promtool (Debian's `prometheus`), which the tests of monitoring/ run: promtool
# checks and unit-tests the rules, a private Prometheus scrapes a test's engine. Only the two
# binaries are wanted: the package's service is stopped and disabled if the install started one.
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
  log "Prometheus is missing; apt-get install prometheus"
  apt_install --no-install-recommends prometheus
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
    systemctl disable --now prometheus >/dev/null 2>&1 || true
  elif command -v service >/dev/null 2>&1; then
    service prometheus stop >/dev/null 2>&1 || true
  fi
else
  log "Prometheus present ($(command -v prometheus))"
fi

# Apache Kafka, per pinned version (scripts/kafka/versions.sh): the broker, tools and storage tool
# with their dependencies, copied by Maven into $MIGRATE_TOOLS/kafka-<version>/libs. `-C` makes
# Maven refuse a jar whose checksum differs from the one the registry gives. The wrappers in
# scripts/kafka/bin run them; classes.txt tells them which tool classes this version has.
# shellcheck source=kafka/versions.sh
source "$ROOT/scripts/kafka/versions.sh"
for version in "${KAFKA_VERSIONS[@]}"; do
  home="$MIGRATE_TOOLS/kafka-$version"
  if [ -f "$home/.complete" ]; then
    log "Apache Kafka $version present at $home"
    continue
  fi
  log "fetching Apache Kafka $version with Maven into $home"
  case "$version" in
    2.*) profile=kafka2 ;;
    3.*) profile=kafka3 ;;
    *) profile=kafka4 ;;
  esac
  rm -rf "$home"
  mkdir -p "$home/libs"
  mvn -q -B -C -Dstyle.color=never -f "$ROOT/scripts/kafka/pom.xml" -P "$profile" -Dkafka.version="$version" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$home/libs" >&2
  for jar in "$home/libs/kafka_2.13-$version.jar" "$home/libs/kafka-tools-$version.jar"; do
    [ ! -f "$jar" ] || unzip -Z1 "$jar" | grep '\.class$' | grep -v '\$'
  done >"$home/classes.txt"
  touch "$home/.complete"
done

# The MSK IAM token validator the local target's IAM listener runs (scripts/kafka/iam-validator,
# see scripts/kafka/broker.sh): compiled with the JDK against the target's kafka-clients jar into
# $MIGRATE_TOOLS/iam-validator, again only when its source changed (keyed by the source's hash).
validator_source="$ROOT/scripts/kafka/iam-validator/MskIamValidator.java"
validator_home="$MIGRATE_TOOLS/iam-validator"
validator_hash="$(sha256sum "$validator_source" | cut -d' ' -f1)"
if [ "$(cat "$validator_home/.source-sha256" 2>/dev/null || true)" = "$validator_hash" ]; then
  log "MSK IAM validator present at $validator_home"
else
  if ! command -v "${JAVA_HOME:+$JAVA_HOME/bin/}javac" >/dev/null 2>&1; then
    log "javac is missing; apt-get install openjdk-17-jdk-headless"
    apt_install openjdk-17-jdk-headless
  fi
  log "compiling the MSK IAM validator into $validator_home"
  rm -rf "$validator_home"
  mkdir -p "$validator_home/classes"
  "${JAVA_HOME:+$JAVA_HOME/bin/}javac" --release 11 -nowarn -d "$validator_home/classes" \
    -cp "$MIGRATE_TOOLS/kafka-$KAFKA_TARGET_VERSION/libs/kafka-clients-$KAFKA_TARGET_VERSION.jar" "$validator_source" >&2
  echo "$validator_hash" >"$validator_home/.source-sha256"
fi

# A Python tool in a virtualenv of its own: VENV made afresh with pip's requirement SPEC in it.
install_venv() {
  local venv=$1 spec=$2
  log "installing $spec into $venv"
  python3 -m venv --help >/dev/null 2>&1 || apt_install python3-venv
  mkdir -p "$MIGRATE_TOOLS"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$spec" >&2
}

MOTO_VERSION="5.2.5"
MOTO_VENV="$MIGRATE_TOOLS/moto-venv"
if [ -x "$MOTO_VENV/bin/moto_server" ] && "$MOTO_VENV/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
  log "moto $MOTO_VERSION present at $MOTO_VENV"
else
  install_venv "$MOTO_VENV" "moto[server]==$MOTO_VERSION"
fi


AWSCLI_VERSION="1.46.3"
AWSCLI_VENV="$MIGRATE_TOOLS/awscli-venv"
if [ -x "$AWSCLI_VENV/bin/aws" ] && "$AWSCLI_VENV/bin/aws" --version 2>&1 | grep -q "aws-cli/$AWSCLI_VERSION "; then
  log "aws-cli $AWSCLI_VERSION present at $AWSCLI_VENV"
else
  install_venv "$AWSCLI_VENV" "awscli==$AWSCLI_VERSION"
fi

PARLIAMENT_VERSION="1.6.4"
PARLIAMENT_VENV="$MIGRATE_TOOLS/parliament-venv"
# The version read whole, not through `grep -q`: grep quitting early breaks pip's pipe, and with
# pipefail the check failed every time, reinstalling parliament on every run.
if [ -x "$PARLIAMENT_VENV/bin/parliament" ] \
  && [ "$("$PARLIAMENT_VENV/bin/pip" show parliament 2>/dev/null | sed -n 's/^Version: //p')" = "$PARLIAMENT_VERSION" ]; then
  log "parliament $PARLIAMENT_VERSION present at $PARLIAMENT_VENV"
else
  install_venv "$PARLIAMENT_VENV" "parliament==$PARLIAMENT_VERSION"
fi

MATPLOTLIB_VERSION="3.10.7"
PLOT_VENV="$MIGRATE_TOOLS/plot-venv"
if [ -x "$PLOT_VENV/bin/python" ] \
  && "$PLOT_VENV/bin/python" -c "import matplotlib, sys; sys.exit(matplotlib.__version__ != '$MATPLOTLIB_VERSION')" 2>/dev/null; then
  log "matplotlib $MATPLOTLIB_VERSION present at $PLOT_VENV"
else
  install_venv "$PLOT_VENV" "matplotlib==$MATPLOTLIB_VERSION"
fi
