#!/usr/bin/env bash
# Builds and runs xferq-demo, the guided tour of xferq.
#
#   scripts/run-demo.sh              run in a temp directory (removed afterwards)
#   scripts/run-demo.sh --dir DIR    keep the queue file and downloads in DIR
#
# Installs the build dependencies first (Debian packages, via apt-get), then
# configures the release preset and builds only the demo, so it is quick.
set -euo pipefail

# Build from the repository root whatever directory we are called from.
caller_dir="$PWD"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

scripts/install-deps.sh
cmake --preset release
cmake --build build/release --target xferq-demo -j"$(nproc)"

# Run from the caller's directory so a relative --dir means what they expect.
cd "$caller_dir"
exec "$repo_root/build/release/examples/xferq-demo" "$@"
