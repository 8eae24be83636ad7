#!/usr/bin/env bash
# Installs the browser test's one tool, puppeteer-core (pinned by
# package-lock.json), into tests/browser/node_modules. It drives Debian's
# Chromium (/usr/bin/chromium, from scripts/install-deps.sh); no browser is
# ever downloaded. Needs node and npm: Debian's nodejs (install-deps.sh) and,
# when that node has no npm of its own, Debian's npm. Idempotent.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v npm >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm
fi
if [ -f node_modules/puppeteer-core/package.json ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then
  echo "tests/browser: puppeteer-core already installed"
  exit 0
fi
PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --ignore-scripts
