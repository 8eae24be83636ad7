#!/usr/bin/env bash
# Installs the Debian 12 packages only the benchmarks need (nginx for the
# transfer-throughput server, aria2 and curl as comparison clients, time).
# Idempotent: apt-get runs only when a package is missing. Run as root (or
# with sudo available). The build dependencies come from scripts/install-deps.sh.
set -euo pipefail

packages=(nginx-light aria2 curl time jq libbenchmark-dev)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Any nginx flavour will do.
if [[ " ${missing[*]} " == *" nginx-light "* ]] && command -v nginx >/dev/null 2>&1; then
  missing=("${missing[@]/nginx-light}")
fi
missing=($(printf '%s\n' "${missing[@]}" | sed '/^$/d'))

if ((${#missing[@]})); then
  echo "install-bench-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # policy-rc.d keeps the package's own nginx service from starting on port 80.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-bench-deps: all packages present"
fi
