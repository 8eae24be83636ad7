#!/usr/bin/env bash
# Installs the Debian 12 packages only the benchmarks need — nginx for the
# transfer-throughput server, aria2 and curl as comparison clients, time, jq —
# through scripts/install-deps.sh (which also brings the build dependencies).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

extra=(aria2 curl time jq)
# Any nginx flavour will do.
command -v nginx >/dev/null 2>&1 || extra+=(nginx-light)
exec "$root/scripts/install-deps.sh" "${extra[@]}"
