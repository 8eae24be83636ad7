#!/usr/bin/env bash
# Installs the dependencies, builds with the given preset (default: dev) and
# runs the whole test suite with CTest. Usage: scripts/run-tests.sh [dev|asan|tsan]
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-dev}"
./scripts/install-deps.sh
./tests/browser/install.sh
cmake --preset "$preset"
cmake --build --preset "$preset" -j"$(nproc)"
ctest --preset "$preset"
