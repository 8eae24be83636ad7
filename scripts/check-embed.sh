#!/usr/bin/env bash
# The proof that xferq embeds: builds the release preset in a scratch build
# directory, installs it into a fresh prefix, then builds examples/embed — a
# separate CMake project that only knows find_package(xferq) — against that
# prefix and runs it (C++ on libxferq.a, C on libxferq.so). Finally compiles
# the same programs with pkg-config (xferq.pc) alone and runs them.
# Leaves nothing behind. Usage: scripts/check-embed.sh   (KEEP=1 keeps the scratch dir)
# XFERQ_RELEASE_BUILD=DIR builds in DIR instead, and keeps it: CI shares that
# release tree with scripts/check-deb.sh, which only configures it for /usr.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

./scripts/install-deps.sh

work=$(mktemp -d /tmp/xferq-check-embed-XXXXXX)
if [ "${KEEP:-0}" = 1 ]; then
  echo "check-embed: keeping $work"
else
  trap 'rm -rf "$work"' EXIT
fi
prefix=$work/prefix
build=${XFERQ_RELEASE_BUILD:-$work/build}
jobs=$(nproc)

echo "== check-embed: build xferq (release preset) and install it into $prefix"
cmake --preset release -B "$build" \
  -DXFERQ_BUILD_TESTS=OFF -DXFERQ_BUILD_BENCH=OFF -DXFERQ_BUILD_EXAMPLES=OFF >"$work/configure.log" \
  || { cat "$work/configure.log"; exit 1; }
cmake --build "$build" -j"$jobs" >"$work/build.log" || { tail -50 "$work/build.log"; exit 1; }
cmake --install "$build" --prefix "$prefix" >"$work/install.log" || { cat "$work/install.log"; exit 1; }

libdir=$(find "$prefix" -name 'libxferq.a' -printf '%h\n' | head -1)
for f in "$libdir/libxferq.a" "$libdir/libxferq.so" "$libdir/pkgconfig/xferq.pc" \
         "$libdir/cmake/xferq/xferqConfig.cmake" "$libdir/cmake/xferq/xferqTargets.cmake" \
         "$prefix/include/xferq/xferq.h" "$prefix/include/xferq/xferq_c.h"; do
  [ -e "$f" ] || { echo "check-embed: missing from the install: $f"; exit 1; }
done
echo "installed: $(cd "$prefix" && find . -type f -o -type l | sort | tr '\n' ' ')"

echo "== check-embed: examples/embed with find_package(xferq) against the install"
cmake -S "$root/examples/embed" -B "$work/embed" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON
cmake --build "$work/embed" -j"$jobs"
"$work/embed/embed_example"
"$work/embed/embed_c_example" "$work"

echo "== check-embed: an installed library has no crash points (XFERQ_CRASH_AT is ignored)"
# The example cancels one job and completes another: with crash points
# compiled in, it would SIGKILL itself right after either commit.
XFERQ_CRASH_AT=cancel.after_commit "$work/embed/embed_example" >/dev/null
XFERQ_CRASH_AT=complete.after_commit "$work/embed/embed_example" >/dev/null

echo "== check-embed: the same programs built with pkg-config (xferq.pc) only"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
echo "pkg-config --cflags --libs xferq: $(pkg-config --cflags --libs xferq)"
# shellcheck disable=SC2046
cc -std=c99 -Wall -Wextra -o "$work/c_smoke" "$root/examples/embed/c_smoke.c" $(pkg-config --cflags --libs xferq)
# shellcheck disable=SC2046
c++ -std=c++17 -Wall -Wextra -o "$work/embed_pc" "$root/examples/embed/main.cc" $(pkg-config --cflags --libs xferq)
LD_LIBRARY_PATH="$libdir" "$work/c_smoke" "$work"
LD_LIBRARY_PATH="$libdir" "$work/embed_pc"

echo "check-embed: OK — find_package(xferq) and pkg-config both embed xferq"
