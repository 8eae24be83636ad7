#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, the fuzz preset: Clang with
# AddressSanitizer + UndefinedBehaviorSanitizer) and runs each for a bounded
# time. Usage: scripts/run-fuzz.sh [SECONDS_PER_TARGET]   (default 30)
#
# Per target: first its known reproducers (tests/fuzz/regressions/<target>/)
# are replayed, then it fuzzes for SECONDS_PER_TARGET on a copy of its seed
# corpus (tests/fuzz/corpus/<target>/) in a temporary directory, so a run never
# writes into the repository. Targets run side by side, one per core
# (XFERQ_FUZZ_JOBS overrides), each single-threaded; their reports are
# printed in order. Prints the executions per target; exits non-zero if any
# reproducer fails or the fuzzer finds a crash, a timeout (-timeout=10), a
# leak or an out-of-memory (-rss_limit_mb=2048), printing the reproducer's
# path (kept under build/fuzz/artifacts/) and how to replay it.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

secs="${1:-30}"
if ! [[ "$secs" =~ ^[0-9]+$ ]] || ((secs < 1)); then
  echo "usage: $0 [SECONDS_PER_TARGET]" >&2
  exit 2
fi
targets=(fuzz_queue_file fuzz_headers fuzz_validate fuzz_fileset)  # the slowest first
jobs="${XFERQ_FUZZ_JOBS:-$(nproc)}"

./scripts/install-deps.sh  # clang, libclang-rt-14-dev (libFuzzer), llvm (llvm-symbolizer) among them

echo "== configure + build (fuzz preset: build/fuzz)"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j"$(nproc)"
bindir="$repo/build/fuzz/tests/fuzz"
artifacts="$repo/build/fuzz/artifacts"
mkdir -p "$artifacts"

work="$(mktemp -d "${TMPDIR:-/tmp}/xferq-fuzz-run.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# Symbolized stacks for every sanitizer report; UBSan stacks too.
if symbolizer="$(command -v llvm-symbolizer)"; then export ASAN_SYMBOLIZER_PATH="$symbolizer"; fi
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}symbolize=1:detect_leaks=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1"

# The part of a libFuzzer log that says what went wrong.
show_report() {
  local first
  first="$(grep -a -n -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|fuzz property failed' "$1" |
    cut -d: -f1 || true)"
  first="${first:-1}"
  sed -n "${first},$((first + 40))p" "$1"
}

# One target: its reproducers, then the bounded fuzzing run. Writes its report
# to $work/$t.report and "failed" to $work/$t.failed if anything failed.
run_target() {
  local t="$1" bin="$bindir/$1" log="$work/$1.log" r rc execs rate artifact
  local regressions="$repo/tests/fuzz/regressions/$t" corpus="$work/corpus/$t"
  if [ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ]; then
    for r in "$regressions"/*; do
      if "$bin" -timeout=10 -rss_limit_mb=2048 "$r" >"$log" 2>&1; then
        echo "$t: reproducer $(basename "$r"): passes"
      else
        echo "$t: REPRODUCER STILL FAILS: $r"
        show_report "$log"
        echo "$t: replay with: $bin $r"
        echo "reproducer $(basename "$r")" >>"$work/$t.failed"
      fi
    done
  fi

  mkdir -p "$corpus" "$artifacts/$t"
  cp -r "$repo/tests/fuzz/corpus/$t/." "$corpus/"
  rc=0
  "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/$t/" "$corpus" >"$log" 2>&1 || rc=$?
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
  if ((rc == 0)); then
    echo "$t: ${execs:-?} executions in ${secs} s (${rate:-?} exec/s), corpus $(ls "$corpus" | wc -l) inputs: no crash"
    return
  fi
  artifact="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)"
  echo "$t: FAILED (exit $rc) after ${execs:-?} executions"
  show_report "$log"
  if [ -n "$artifact" ]; then
    echo "$t: reproducer: $artifact"
    echo "$t: replay with: $bin $artifact"
  else
    echo "$t: no reproducer written; log tail:"
    tail -20 "$log"
  fi
  echo "fuzzing" >>"$work/$t.failed"
}

echo "== fuzzing ${#targets[@]} targets, ${secs} s each, ${jobs} at a time"
running=0
for t in "${targets[@]}"; do
  if ((running >= jobs)); then
    wait -n
    running=$((running - 1))
  fi
  { run_target "$t" || echo "harness error (exit $?)" >>"$work/$t.failed"; } >"$work/$t.report" 2>&1 &
  running=$((running + 1))
done
wait

failed=()
for t in "${targets[@]}"; do
  echo "== $t"
  cat "$work/$t.report"
  if [ -e "$work/$t.failed" ]; then failed+=("$t ($(paste -sd, "$work/$t.failed"))"); fi
done

if ((${#failed[@]})); then
  echo "run-fuzz: FAILED: ${failed[*]}"
  exit 1
fi
echo "run-fuzz: all targets ran ${secs} s without a crash"
