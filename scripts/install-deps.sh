#!/usr/bin/env bash
# Installs every Debian 12 package xferq needs to build and test, plus any
# packages named as arguments (bench/install-bench-deps.sh names its own).
# clang, libclang-rt-14-dev (libFuzzer and Clang's sanitizer runtimes) and
# llvm (llvm-symbolizer) are for the fuzz preset (scripts/run-fuzz.sh).
# `xferq serve` uses libcpp-httplib-dev (HTTP/HTTPS server) and
# libsystemd-dev (readiness for systemd); its browser test uses chromium
# (headless) and nodejs (tests/browser/install.sh adds puppeteer-core from
# npm); help2man makes the man page and bash-completion provides the
# completions' install directory (pkg-config bash-completion); systemd
# gives systemd-analyze, which checks the unit files. postgresql (15: its
# initdb and pg_ctl, and the `postgres` system user the tests run them as
# when root) and libpqxx-dev (6.4, over libpq-dev) are for the PostgreSQL
# backend and its tests (tests/pg_fixture.h starts a private cluster; the
# package's own cluster service is not started).
# Idempotent: apt-get runs only when a package is missing. Run as root (or
# with sudo available). Services in the packages are not started.
set -euo pipefail

packages=(
  build-essential cmake pkg-config ninja-build
  libsqlite3-dev sqlite3 libsqlitecpp-dev
  libcurl4-openssl-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev nlohmann-json3-dev
  curl python3 python3-pytest openssl tinyproxy-bin nginx-light
  clang libclang-rt-14-dev llvm
  libcpp-httplib-dev libsystemd-dev
  chromium nodejs
  help2man man-db bash-completion systemd
  postgresql libpq-dev libpqxx-dev
  "$@"
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # policy-rc.d keeps a package's own service (nginx on port 80) from starting.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all packages present"
fi
