#!/bin/sh
# soak.sh N [BUILD_DIR] — the crash test's loop for at least N kill points,
# outside CI. Runs build/dev/tests/crash_test (or BUILD_DIR/tests/crash_test)
# in chunks of up to 300 iterations (each chunk a fresh queue file and
# directory that accumulate state across its kills), each with its own seed,
# and prints the kill points survived. Stops at the first failure and prints
# the seed to reproduce it:
#   XFERQ_CRASH_SEED=<seed> XFERQ_CRASH_ITERATIONS=<n> build/dev/tests/crash_test
set -u
N=${1:?usage: soak.sh N [BUILD_DIR]}
BUILD=${2:-$(dirname "$0")/../../build/dev}
BIN=$BUILD/tests/crash_test
CHUNK=${XFERQ_SOAK_CHUNK:-300}
[ -x "$BIN" ] || { echo "soak.sh: $BIN not built (cmake --build $BUILD --target crash_test crash_child)" >&2; exit 2; }
total=0
left=$N
start=$(date +%s)
while [ "$left" -gt 0 ]; do
  n=$CHUNK
  [ "$left" -lt "$n" ] && n=$left
  seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
  log=$(mktemp /tmp/xferq-soak-XXXXXX.log)
  if XFERQ_CRASH_SEED=$seed XFERQ_CRASH_ITERATIONS=$n "$BIN" >"$log" 2>&1; then
    got=$(sed -n 's/^CRASH-SURVIVED \([0-9]*\)$/\1/p' "$log")
    total=$((total + ${got:-0}))
    grep -E '^crash test: [0-9]+ kill points' "$log"
    rm -f "$log"
  else
    echo "soak.sh: FAILED after $total kill points survived; seed $seed, $n iterations; log $log" >&2
    grep -E 'Failure|Expected|Which is|XFERQ_CRASH|iteration|job |file ' "$log" | head -40 >&2
    exit 1
  fi
  left=$((left - n))
done
echo "soak: survived $total kill points in $(( $(date +%s) - start )) s"
