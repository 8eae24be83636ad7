#!/usr/bin/env bash
# bench/run.sh [--quick] [--pg-only] [--out FILE.json] — the xferq benchmarks
# (issue #5; the PostgreSQL fleet section, issue 15, alone with --pg-only).
#
# Builds the release preset (or, with XFERQ_BENCH_BUILD=DIR, a Release build
# in DIR of its own: cmake -S . -B DIR -DCMAKE_BUILD_TYPE=Release
# -DXFERQ_BUILD_TESTS=OFF), starts nginx on a free loopback port with its own
# temporary config/prefix, runs every measurement, prints a table with each
# figure — the median over rounds with its [min-max] — next to its target
# (PASS/MISS) and writes all figures as JSON. Everything lives in a scratch
# directory under /tmp, removed at the end; nginx is stopped by its PID. Only
# 127.0.0.1 is used.
#
# Method. Cancels (xferq_bench cancel): for each T, rounds that alternate the
# floor (one-row UPDATE transaction, own connection per thread, same pragmas,
# on a copy of the queue file), a composite floor (that transaction + unlink()
# of one job's four freshly written temp-sized files), and Job::cancel() on
# two queues — temp files deleted inside cancel() (in-call) and by the
# janitor (QueueOptions::defer_cancel_deletes). Each phase runs >= 0.5 s and
# >= --min-ops operations on jobs nobody cancelled yet (fresh jobs, rows + real
# temp files, are appended and synced before each round, untimed). Ratios are
# per round (cancel/s over the same round's floor/s); a cancel's sustained
# rate is timed until the queue's outbox (file_ops) is empty and its temp files
# are gone. Transfers: rounds interleave xferq with curl -o / raw libcurl
# multi / aria2c, each round's order alternated. Preemption (xferq_bench
# preempt): 4 LOW jobs hold every slot (the in-process fixture server, 1 MB/s
# each); per sample a FOREGROUND job is resumed and timed until its temp file
# holds its first byte, then cancelled; the next sample waits until all LOW
# jobs transfer again.
#
# How the cancel benchmarks get real temp files: rows are inserted with SQL in
# setup (never measured) in the exact shape of a SUSPENDED job interrupted in
# its last file — 3 completed files and 1 partial, temp_path recorded, real
# 0600 temp files on disk named as the engine names them. The name and mode
# are checked first against a real engine transfer (xferq_bench verify step);
# every measured cancel goes through Job::cancel().
#
# PostgreSQL fleet (xferq_bench pg, issue 15; runs first; needs PostgreSQL 15
# and libpqxx, else it is skipped with the reason): the bench starts a private
# cluster (initdb + pg_ctl under /tmp, 127.0.0.1, free port, fsync=off,
# synchronous_commit=off as the tests' cluster) and stops it by its PID at
# exit, a watchdog stopping it if the bench is killed. (1) Cancels at T = 1,
# 4, 16, 64 callers over up to 4 processes of the bench, each caller a thread
# with its own connection, rounds alternating the floor (one-row UPDATE
# transaction on a plain libpqxx connection) and Job::cancel(), each phase on
# fresh SUSPENDED jobs created before it; (2) cross-host quiescence: host A
# transfers (in-process server, full speed, then throttled), host B, another
# running process, cancels; timed from B's call to A's transfer stopped and
# A's temp file gone; (3) claims/s: 4 worker hosts (processes) started at once
# on QUEUED jobs of a 64-byte file, timed until all are TRANSFERRED.
set -euo pipefail

QUICK=0
PG_ONLY=0
OUT=""
while (($#)); do
  case "$1" in
    --quick) QUICK=1 ;;
    --pg-only) PG_ONLY=1 ;;
    --out) OUT="$2"; shift ;;
    *) echo "usage: $0 [--quick] [--pg-only] [--out FILE.json]" >&2; exit 2 ;;
  esac
  shift
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
[ -n "$OUT" ] && case "$OUT" in /*) ;; *) OUT="$ROOT/$OUT" ;; esac
T_START=$(date +%s.%N)

"$ROOT/bench/install-bench-deps.sh"

if [ -n "${XFERQ_BENCH_BUILD:-}" ]; then
  BUILD="$XFERQ_BENCH_BUILD"
  echo "== building (Release, $BUILD)"
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DXFERQ_BUILD_TESTS=OFF >/dev/null
else
  BUILD="$ROOT/build/release"
  echo "== building (release preset)"
  cmake --preset release >/dev/null
fi
cmake --build "$BUILD" -j2 --target xferq_bench xferq_raw_multi xferq_micro xferq_cli >/dev/null
BIN="$BUILD/bench"
BENCH="$BIN/xferq_bench"
RAW="$BIN/xferq_raw_multi"
CLI="$(find "$BUILD/bindings/cli" -maxdepth 1 -type f -name xferq -perm -u+x | head -1)"

# Other work on the machine skews every figure: note it at the start, after
# the cancels, and at the end.
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
busiest() {  # processes using > 10% CPU over one second (none of ours runs when this is called)
  top -b -n 2 -d 1 -w 200 | awk '/^top -/ { n++ } n == 2 && $1 ~ /^[0-9]+$/ && $9 + 0 > 10 {
    printf "%s%s %s%%", (k++ ? ", " : ""), $12, $9 } END { if (!k) printf "none" }'
}
LOAD_START="$(loadavg)"; BUSY_START="$(busiest)"
echo "== machine: $(nproc) cores; load average $LOAD_START; other processes > 10% CPU: $BUSY_START"
T_MEASURE=$(date +%s.%N)

SCRATCH="$(mktemp -d /tmp/xferq-bench.XXXXXX)"
NGINX_PID=""
cleanup() {
  if [ -n "$NGINX_PID" ] && kill -0 "$NGINX_PID" 2>/dev/null; then
    kill "$NGINX_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$NGINX_PID" 2>/dev/null || true
  fi
  rm -rf "$SCRATCH"
}
trap cleanup EXIT
RES="$SCRATCH/results"
mkdir -p "$RES"

if ((QUICK)); then
  CANCEL_JOBS=10000; MIN_OPS=1000; LOAD_ROUNDS=3; QUIESCE_N=50; QUIESCE_X=60
  BIG_MIB=256; SMALL_N=2000; SCALES="1000:1k 100000:100k"; RUNS=5; PREEMPT_N=40
else
  CANCEL_JOBS=100000; MIN_OPS=5000; LOAD_ROUNDS=5; QUIESCE_N=200; QUIESCE_X=200
  BIG_MIB=1024; SMALL_N=10000; SCALES="1000:1k 100000:100k 1000000:1m"; RUNS=5; PREEMPT_N=200
fi
if ((QUICK)); then
  PG_OPS=240; PG_ROUNDS=5; PG_QUIESCE_N=30; PG_SLOW_N=15; PG_CLAIM_JOBS=200; PG_CLAIM_ROUNDS=3
else
  PG_OPS=1000; PG_ROUNDS=7; PG_QUIESCE_N=200; PG_SLOW_N=100; PG_CLAIM_JOBS=1000; PG_CLAIM_ROUNDS=5
fi
ROUNDS=5  # cancel rounds per T (each phase >= 0.5 s and >= MIN_OPS operations)
BIG_BYTES=$((BIG_MIB * 1024 * 1024))

t() { date +%s.%N; }
STEP_T=$(t)
step() {  # prints the time the previous step took
  local now; now=$(t)
  echo "== $*   [$(awk -v a="$STEP_T" -v b="$now" 'BEGIN{printf "%.0f", b-a}') s since the previous step]"
  STEP_T=$now
}

# What both tables' jq programs share: numbers shown with 3-4 significant
# digits, and a goal's verdict.
JQ_FORMAT='
  def abs: if . < 0 then -. else . end;
  def f: if . == null then "n/a" elif (type == "number") then
           (if (. | abs) >= 1000 then (. | round | tostring) elif (. | abs) >= 100 then (. * 10 | round / 10 | tostring)
            elif (. | abs) >= 1 then (. * 100 | round / 100 | tostring) else (. * 1000 | round / 1000 | tostring) end)
         else tostring end;
  def verdict($ok): if $ok == null then "" elif $ok then "PASS" else "MISS" end;'

# ---- 0: PostgreSQL fleet ------------------------------------------------------------------------------
# The table of the PostgreSQL figures (from pg.json), in the main table's style.
pg_table() {
  jq -r '
    '"$JQ_FORMAT"'
    def row($k; $v; $t; $ok): [$k, $v, $t, verdict($ok)];
    . as $r
    | def sp($k): if $r[$k + "_med"] == null then "n/a"
                  else ($r[$k + "_med"] | f) + " [" + ($r[$k + "_min"] | f) + "-" + ($r[$k + "_max"] | f) + "]" end;
      def q($k; $name; $goal):
        if $r[$k + "_p99_ms"] == null then empty else
          row($name + " p50 / p99 ms (pooled; per-round p99)";
              ($r[$k + "_p50_ms"] | f) + " / " + ($r[$k + "_p99_ms"] | f) + "  (" + sp($k + "_p99_ms_round") + "; max " + ($r[$k + "_max_ms"] | f) + ")";
              $goal; (if $goal == "" then null else $r[$k + "_p99_ms"] <= 50 end)),
          row("  transfer stopped / temp file gone p99 ms; B'"'"'s cancel() call p50 / p99 ms";
              ($r[$k + "_stopped_p99_ms"] | f) + " / " + ($r[$k + "_temp_gone_p99_ms"] | f) + "; " +
              ($r[$k + "_cancel_call_p50_ms"] | f) + " / " + ($r[$k + "_cancel_call_p99_ms"] | f); ""; null) end;
    if $r.pg_skipped != null then [["PostgreSQL fleet: skipped", $r.pg_skipped, "", ""]] | .[] | @tsv else
    [ ["PostgreSQL fleet figure", "median [min-max] over rounds", "target", ""],
      ((1, 4, 16, 64 | tostring) as $t | select($r["pg_cancel_ratio_T" + $t + "_med"] != null) |
        row("pg cancel / floor (1-row UPDATE txn), T=" + $t;
            sp("pg_cancel_ratio_T" + $t) + "  (" + sp("pg_cancel_per_s_T" + $t) + " vs " + sp("pg_floor_per_s_T" + $t) + "/s)";
            ">= 0.8"; $r["pg_cancel_ratio_T" + $t + "_med"] >= 0.8),
        row("  cancel p50 / p99 ms (pooled; per-round p99); floor p50 / p99 ms";
            ($r["pg_cancel_p50_ms_T" + $t] | f) + " / " + ($r["pg_cancel_p99_ms_T" + $t] | f) + "  (" + sp("pg_cancel_p99_ms_T" + $t + "_round") + "); " +
            ($r["pg_floor_p50_ms_T" + $t] | f) + " / " + ($r["pg_floor_p99_ms_T" + $t] | f); ""; null)),
      q("pg_quiesce"; "pg cross-host quiescence, full speed, poll " + ($r.pg_poll_interval_ms | f) + " ms,"; "p99 <= 50"),
      q("pg_quiesce_slow"; "pg cross-host quiescence, " + ($r.pg_quiesce_slow_mb_s | f) + " MB/s server,"; ""),
      (if $r.pg_claims_per_s_med == null then empty else
        row("pg claims/s (" + ($r.pg_claims_workers | f) + " hosts x " + ($r.pg_claims_slots | f) + " slots, " + ($r.pg_claims_jobs | f) + " x 64 B jobs)";
            sp("pg_claims_per_s"); ""; null) end)
    ][] | @tsv end' "$1" | column -t -s $'\t'
  jq -r '
    [to_entries[] | select((.key | test("^pg_.*(errors|timeouts|missing|not_transferred|ended_first)$")) and .value > 0) | "\(.key)=\(.value)"]
    | if length > 0 then "WARNING: PostgreSQL fleet: " + join(", ") else empty end' "$1"
}
step "PostgreSQL fleet: private cluster; cancels at T = 1 4 16 64 over 4 processes ($PG_ROUNDS rounds of floor / cancel, $PG_OPS ops each); cross-host quiescence ($PG_QUIESCE_N full speed, $PG_SLOW_N at 40 MB/s); claims/s ($PG_CLAIM_ROUNDS rounds of $PG_CLAIM_JOBS jobs, 4 hosts)"
mkdir -p "$SCRATCH/pg"
"$BENCH" pg --dir "$SCRATCH/pg" --threads 1,4,16,64 --rounds "$PG_ROUNDS" --ops "$PG_OPS" \
  --quiesce-samples "$PG_QUIESCE_N" --quiesce-rounds 5 --slow-samples "$PG_SLOW_N" --slow-mb-s 40 \
  --claim-jobs "$PG_CLAIM_JOBS" --claim-rounds "$PG_CLAIM_ROUNDS" --claim-workers 4 >"$RES/pg.json"
rm -rf "$SCRATCH/pg"
echo "   ($(jq -r 'if .pg_skipped then "skipped: \(.pg_skipped)" else "cancels \(.pg_cancel_wall_s | floor) s, quiescence \(.pg_quiesce_wall_s | floor) s, claims \(.pg_claims_wall_s | floor) s" end' "$RES/pg.json"); load average now $(loadavg))"
if ((PG_ONLY)); then
  echo
  pg_table "$RES/pg.json"
  echo "(machine: $(nproc) cores; load average at start $LOAD_START, at the end $(loadavg); other processes > 10% CPU at start: $BUSY_START)"
  if [ -n "$OUT" ]; then cp "$RES/pg.json" "$OUT"; echo "figures written to $OUT"; fi
  exit 0
fi

# ---- 1 + 2: concurrent cancels vs the floors, then under load -----------------------------------
step "cancels: $CANCEL_JOBS-job queues, T = 1 2 4 8 16, $ROUNDS rounds per T of floor / composite floor / in-call / deferred (each >= 0.5 s and >= $MIN_OPS ops); then $LOAD_ROUNDS rounds at T = 8 under 16 live transfers"
mkdir -p "$SCRATCH/cancel"
"$BENCH" cancel --dir "$SCRATCH/cancel" --jobs "$CANCEL_JOBS" --rounds "$ROUNDS" --min-ops "$MIN_OPS" --min-ms 500 \
  --threads 1,2,4,8,16 --load-rounds "$LOAD_ROUNDS" >"$RES/cancel.json"
rm -rf "$SCRATCH/cancel"
LOAD_MID="$(loadavg)"; BUSY_MID="$(busiest)"
echo "   ($(jq -r '"\(.cancel_wall_s | floor) s: \(.cancel_prep_s | floor) s preparing \(.cancel_files_written) temp files and their jobs (syncfs \(.cancel_prep_sync_s | floor) s), \(.cancel_timed_s | floor) s timed"' "$RES/cancel.json"); load average now $LOAD_MID; other processes > 10% CPU: $BUSY_MID)"

# ---- 3: cancel to quiescence ---------------------------------------------------------------------
step "cancel-to-quiescence: $QUIESCE_N in-process, $QUIESCE_X through \`xferq cancel\` (process start included), $QUIESCE_X from a running C++ process, in 5 rounds"
mkdir -p "$SCRATCH/quiesce"
"$BENCH" quiesce --dir "$SCRATCH/quiesce" --samples "$QUIESCE_N" --xproc-samples "$QUIESCE_X" --peer-samples "$QUIESCE_X" \
  --cli "$CLI" --rounds 5 >"$RES/quiesce.json"
rm -rf "$SCRATCH/quiesce"

# ---- 4: throughput against nginx -----------------------------------------------------------------
step "throughput: nginx on loopback, ${BIG_MIB} MiB file and $SMALL_N x 16 KiB files"
WWW="$SCRATCH/www"; mkdir -p "$WWW/s" "$SCRATCH/nginx/logs" "$SCRATCH/nginx/tmp"
"$BENCH" mkfile --path "$WWW/big.bin" --bytes "$BIG_BYTES"
"$BENCH" mkfiles --dir "$WWW/s" --count "$SMALL_N" --bytes 16384
chmod 755 "$SCRATCH" "$WWW" "$WWW/s"  # nginx's worker runs as nobody when started by root
PORT=""
for _ in $(seq 1 50); do
  p=$((20000 + RANDOM % 30000))
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then PORT=$p; break; fi
done
[ -n "$PORT" ] || { echo "no free port" >&2; exit 1; }
cat >"$SCRATCH/nginx/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $SCRATCH/nginx/nginx.pid;
error_log $SCRATCH/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $SCRATCH/nginx/tmp;
  proxy_temp_path $SCRATCH/nginx/tmp;
  fastcgi_temp_path $SCRATCH/nginx/tmp;
  uwsgi_temp_path $SCRATCH/nginx/tmp;
  scgi_temp_path $SCRATCH/nginx/tmp;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$PORT;
    root $WWW;
  }
}
CONF
nginx -p "$SCRATCH/nginx" -c "$SCRATCH/nginx/nginx.conf" &
NGINX_PID=$!
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/s/00000.bin" && break; sleep 0.05; done
curl -sf -o /dev/null "http://127.0.0.1:$PORT/s/00000.bin" || { echo "nginx did not start" >&2; exit 1; }
BASE="http://127.0.0.1:$PORT"
cat "$WWW/big.bin" >/dev/null  # page cache warm for everyone

# Interleaved rounds; the order inside a round alternates, so drift and a
# warm/cold turn fall on both sides alike.
dl_curl=(); dl_xferq=()
# Every run writes into a directory of its own under RUNS_DIR, which is
# marked chattr +T so that ext4 puts each such directory in a fresh block
# group: on this machine's ext4 (no journal) creating files next to ones
# deleted in the last minute crawls, which would penalise whoever runs after
# a deletion.
RUNS_DIR="$SCRATCH/runs"; mkdir -p "$RUNS_DIR"; chattr +T "$RUNS_DIR" 2>/dev/null || true
fresh_dir() { mktemp -d "$RUNS_DIR/$1.XXXXXX"; }
curl_round() {
  local d a b; d=$(fresh_dir curl)
  a=$(t); curl -sf -o "$d/curl-big.bin" "$BASE/big.bin"; b=$(t)
  [ "$(stat -c %s "$d/curl-big.bin")" = "$BIG_BYTES" ] || { echo "curl size mismatch" >&2; exit 1; }
  rm -rf "$d"
  awk -v a="$a" -v b="$b" -v n="$BIG_BYTES" 'BEGIN{printf "%.2f", n/1e6/(b-a)}'
}
xferq_dl_round() {
  local d; d=$(fresh_dir xferq-dl)
  "$BENCH" download --dir "$d" --url "$BASE/big.bin" --bytes "$BIG_BYTES" | jq .download_mb_s
  rm -rf "$d"
}
for r in $(seq 1 $RUNS); do
  if ((r % 2)); then c=$(curl_round); x=$(xferq_dl_round); else x=$(xferq_dl_round); c=$(curl_round); fi
  echo "   download round $r: curl $c MB/s, xferq $x MB/s"
  dl_curl+=("$c"); dl_xferq+=("$x")
done
# The hashing cost: the same download with and without SHA-256 verification,
# interleaved, the ratio per round (goal: at most 10% slower).
BIG_SHA256=$(sha256sum "$WWW/big.bin" | cut -d' ' -f1)
xferq_hash_round() {
  local d; d=$(fresh_dir xferq-hash)
  "$BENCH" download --dir "$d" --url "$BASE/big.bin" --bytes "$BIG_BYTES" --sha256 "$BIG_SHA256" | jq .download_mb_s
  rm -rf "$d"
}
dl_plain=(); dl_hashed=()
for r in $(seq 1 $RUNS); do
  if ((r % 2)); then p=$(xferq_dl_round); h=$(xferq_hash_round); else h=$(xferq_hash_round); p=$(xferq_dl_round); fi
  echo "   hashing round $r: plain $p MB/s, with SHA-256 $h MB/s"
  dl_plain+=("$p"); dl_hashed+=("$h")
done
jq -n --argjson p "[$(IFS=,; echo "${dl_plain[*]}")]" --argjson h "[$(IFS=,; echo "${dl_hashed[*]}")]" \
  '{hash_plain_mb_s_rounds: $p, hash_sha256_mb_s_rounds: $h,
    hash_ratio_rounds: [range($h | length) | $h[.] / $p[.]]}' >"$RES/hashing.json"
jq -n --argjson c "[$(IFS=,; echo "${dl_curl[*]}")]" --argjson x "[$(IFS=,; echo "${dl_xferq[*]}")]" \
  --argjson runs "$RUNS" --argjson bytes "$BIG_BYTES" \
  '{curl_mb_s_rounds: $c, download_mb_s_rounds: $x, download_ratio_vs_curl_rounds: [range($x | length) | $x[.] / $c[.]],
    download_runs: $runs, download_bytes: $bytes}' >"$RES/download.json"

: >"$SCRATCH/aria2.txt"
for i in $(seq 0 $((SMALL_N - 1))); do
  n=$(printf '%05d.bin' "$i"); printf '%s/s/%s\n  out=%s\n' "$BASE" "$n" "$n" >>"$SCRATCH/aria2.txt"
done
sm_aria=(); sm_raw=(); sm_xferq=()
aria_round() {
  local d a b; d=$(fresh_dir aria2)
  a=$(t)
  aria2c -q -j16 --max-connection-per-server=1 -i "$SCRATCH/aria2.txt" -d "$d" --file-allocation=none \
    --allow-overwrite=true --auto-file-renaming=false --summary-interval=0 --console-log-level=error
  b=$(t)
  [ "$(find "$d" -name '*.bin' | wc -l)" = "$SMALL_N" ] || { echo "aria2c missed files" >&2; exit 1; }
  rm -rf "$d"
  awk -v a="$a" -v b="$b" -v n="$SMALL_N" 'BEGIN{printf "%.1f", n/(b-a)}'
}
raw_round() {
  local d; d=$(fresh_dir raw)
  "$RAW" "$BASE/s/" "$SMALL_N" "$d" 16 | jq .raw_multi_files_per_s
  rm -rf "$d"
}
xferq_small_round() {
  local d; d=$(fresh_dir xferq-small)
  "$BENCH" smallfiles --dir "$d" --base "$BASE/s/" --count "$SMALL_N" | jq .smallfiles_per_s
  rm -rf "$d"
}
for r in $(seq 1 $RUNS); do
  # raw multi and xferq, the compared pair, next to each other in alternating order; aria2c around them
  if ((r % 2)); then ar=$(aria_round); rw=$(raw_round); xs=$(xferq_small_round)
  else xs=$(xferq_small_round); rw=$(raw_round); ar=$(aria_round); fi
  echo "   small-files round $r: aria2c $ar files/s, raw multi $rw files/s, xferq $xs files/s"
  sm_aria+=("$ar"); sm_raw+=("$rw"); sm_xferq+=("$xs")
done
jq -n --argjson a "[$(IFS=,; echo "${sm_aria[*]}")]" --argjson w "[$(IFS=,; echo "${sm_raw[*]}")]" \
  --argjson x "[$(IFS=,; echo "${sm_xferq[*]}")]" --argjson n "$SMALL_N" \
  '{aria2_files_per_s_rounds: $a, raw_multi_files_per_s_rounds: $w, smallfiles_per_s_rounds: $x,
    smallfiles_ratio_vs_raw_rounds: [range($x | length) | $x[.] / $w[.]],
    smallfiles_ratio_vs_aria2_rounds: [range($x | length) | $x[.] / $a[.]], smallfiles_count: $n}' >"$RES/small.json"
# Bandwidth limits: rate accuracy against the same nginx (20 MB/s queue-wide
# limit, 1 and 8 transfers, 10 s each; a 5 MB/s job limit beside an
# unlimited job). Rounds: 1 quick, 3 full.
BW_RUNS=$([ $QUICK = 1 ] && echo 1 || echo 3)
step "bandwidth: rate accuracy under a 20 MB/s limit ($BW_RUNS round(s) of 3 x 10 s)"
bw_files=()
for r in $(seq 1 $BW_RUNS); do
  d=$(fresh_dir bandwidth)
  "$BENCH" bandwidth --dir "$d" --url "$BASE/big.bin" --bytes "$BIG_BYTES" --limit 20000000 --job-limit 5000000 --seconds 10 >"$SCRATCH/bw-$r.json"
  rm -rf "$d"
  echo "   bandwidth round $r: $(jq -c '{one: .bw_one_ratio, eight: .bw_eight_ratio, job: .bw_job_ratio}' "$SCRATCH/bw-$r.json")"
  bw_files+=("$SCRATCH/bw-$r.json")
done
jq -s '{bw_one_ratio_rounds: map(.bw_one_ratio), bw_eight_ratio_rounds: map(.bw_eight_ratio),
        bw_job_ratio_rounds: map(.bw_job_ratio), bw_one_mb_s_rounds: map(.bw_one_mb_s),
        bw_eight_mb_s_rounds: map(.bw_eight_mb_s), bw_job_mb_s_rounds: map(.bw_job_mb_s),
        bw_one_1s_min_mb_s: (map(.bw_one_1s_min_mb_s) | min), bw_one_1s_max_mb_s: (map(.bw_one_1s_max_mb_s) | max),
        bw_eight_1s_min_mb_s: (map(.bw_eight_1s_min_mb_s) | min), bw_eight_1s_max_mb_s: (map(.bw_eight_1s_max_mb_s) | max),
        bw_job_1s_min_mb_s: (map(.bw_job_1s_min_mb_s) | min), bw_job_1s_max_mb_s: (map(.bw_job_1s_max_mb_s) | max),
        bw_job_while_unlimited_mb_s_rounds: map(.bw_job_while_unlimited_mb_s // empty),
        bw_unlimited_mb_s_rounds: map(.bw_unlimited_mb_s // empty)}' "${bw_files[@]}" >"$RES/bandwidth.json"

kill "$NGINX_PID"; wait "$NGINX_PID" 2>/dev/null || true; NGINX_PID=""
rm -rf "$WWW"

# ---- 5: scale ------------------------------------------------------------------------------------
for s in $SCALES; do
  n=${s%%:*}; tag=${s##*:}
  step "scale: cancel latency with $n jobs in the queue"
  mkdir -p "$SCRATCH/scale-$tag"
  "$BENCH" scale --dir "$SCRATCH/scale-$tag" --jobs "$n" --samples 500 --tag "$tag" >"$RES/scale-$tag.json"
  LAST_DB="$SCRATCH/scale-$tag/scale.db"; LAST_TAG=$tag
  if [ "$tag" != "${SCALES##*:}" ]; then rm -rf "$SCRATCH/scale-$tag"; fi
done
step "peak RSS: a process opening the ${LAST_TAG}-job queue and running the worker"
"$BENCH" rss --db "$LAST_DB" --tag "$LAST_TAG" >"$RES/rss.json"
rm -rf "$SCRATCH/scale-$LAST_TAG"

# ---- 6: preemption latency ------------------------------------------------------------------------
step "preemption: $PREEMPT_N FOREGROUND resumes, each timed to its first byte while 4 LOW jobs hold every slot"
mkdir -p "$SCRATCH/preempt"
"$BENCH" preempt --dir "$SCRATCH/preempt" --slots 4 --samples "$PREEMPT_N" >"$RES/preempt.json"
rm -rf "$SCRATCH/preempt"

# ---- micro (Google Benchmark), extras --------------------------------------------------------------
step "micro: Google Benchmark, one cancel vs one minimal transaction (single thread)"
mkdir -p "$SCRATCH/micro"
XFERQ_BENCH_SCRATCH="$SCRATCH/micro" "$BIN/xferq_micro" --benchmark_format=json 2>/dev/null |
  jq '[.benchmarks[] | {((.name | split("/")[0]) + "_us"): .real_time}] | add | with_entries(.key |= "micro_" + .)' >"$RES/micro.json" || echo '{}' >"$RES/micro.json"
rm -rf "$SCRATCH/micro"

# ---- merge, spreads, table ----------------------------------------------------------------------------
step "done"
MODE=$([ $QUICK = 1 ] && echo quick || echo full)
LOAD_END="$(loadavg)"; BUSY_END="$(busiest)"
T_END=$(date +%s.%N)
WALL=$(awk -v a="$T_START" -v b="$T_END" 'BEGIN{printf "%.0f", b-a}')
MEASURE=$(awk -v a="$T_MEASURE" -v b="$T_END" 'BEGIN{printf "%.0f", b-a}')
jq -s --arg mode "$MODE" --arg l0 "$LOAD_START" --arg l1 "$LOAD_MID" --arg l2 "$LOAD_END" \
  --arg b0 "$BUSY_START" --arg b1 "$BUSY_MID" --arg b2 "$BUSY_END" --argjson wall "$WALL" --argjson measure "$MEASURE" '
  def med: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
                  else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  add
  | . as $r
  | reduce (keys[] | select(endswith("_rounds") and ($r[.] | type) == "array")) as $k (.;
      ($k | rtrimstr("_rounds")) as $b
      | if has($b + "_med") then . else
          .[$b + "_med"] = ($r[$k] | med) | .[$b + "_min"] = ($r[$k] | min) | .[$b + "_max"] = ($r[$k] | max) end)
  | .mode = $mode
  | .loadavg_start = $l0 | .loadavg_after_cancels = $l1 | .loadavg_end = $l2
  | .busy_processes_start = $b0 | .busy_processes_after_cancels = $b1 | .busy_processes_end = $b2
  | .wall_s = $wall | .measure_s = $measure
  | .cancel_p99_ms_1m_jobs = (.cancel_p99_ms_1m_jobs // null)
  | .rss_mib_1m_jobs = (.rss_mib_1m_jobs // null)
' "$RES"/*.json >"$RES/all.json"

echo
jq -r '
  '"$JQ_FORMAT"'
  def ge($v; $x): if $v == null then null else $v >= $x end;
  def le($v; $x): if $v == null then null else $v <= $x end;
  def row($k; $v; $t; $ok): [$k, $v, $t, verdict($ok)];
  . as $r
  | def sp($k): if $r[$k + "_med"] == null then "n/a"
                else ($r[$k + "_med"] | f) + " [" + ($r[$k + "_min"] | f) + "-" + ($r[$k + "_max"] | f) + "]" end;
    def pct($k): "+-" + (($r[$k] // 0) | round | tostring) + "%";
    def ts: (1, 2, 4, 8, 16 | tostring);
  [ ["figure", "median [min-max] over rounds", "target", ""],
    (ts as $t | row("floor txn/s (1-row UPDATE txn), T=" + $t; sp("floor_per_s_T" + $t) + "  " + pct("floor_spread_pct_T" + $t); ""; null)),
    (ts as $t | row("composite floor/s (txn + unlink 4 files), T=" + $t; sp("composite_per_s_T" + $t) + "  " + pct("composite_spread_pct_T" + $t); ""; null)),
    (ts as $t | row("cancel call, deferred deletes / floor, T=" + $t;
        sp("deferred_ratio_T" + $t) + "  (" + sp("deferred_cancel_per_s_T" + $t) + "/s)";
        (if $t == "1" then "(>= 0.9 from T=2)" else ">= 0.9" end);
        (if $t == "1" then null else ge($r["deferred_ratio_T" + $t + "_med"]; 0.9) end))),
    (ts as $t | row("cancel call, in-call deletes / floor, T=" + $t;
        sp("incall_ratio_T" + $t) + "  (" + sp("incall_cancel_per_s_T" + $t) + "/s)"; ""; null)),
    (ts as $t | row("sustained w/ cleanup, deferred / composite, T=" + $t;
        sp("deferred_sustained_ratio_T" + $t) + "  (" + sp("deferred_sustained_per_s_T" + $t) + "/s; drain " + ($r["deferred_drain_ms_T" + $t + "_med"] | f) + " ms)";
        ">= 0.8"; ge($r["deferred_sustained_ratio_T" + $t + "_med"]; 0.8))),
    (ts as $t | row("sustained w/ cleanup, in-call / composite, T=" + $t;
        sp("incall_sustained_ratio_T" + $t) + "  (" + sp("incall_sustained_per_s_T" + $t) + "/s; drain " + ($r["incall_drain_ms_T" + $t + "_med"] | f) + " ms)";
        ">= 0.8"; ge($r["incall_sustained_ratio_T" + $t + "_med"]; 0.8))),
    (("deferred", "incall") as $m |
      row("cancel p50 ms, T=8, " + $m; sp($m + "_p50_ms_T8"); ""; null),
      row("cancel p99 ms, T=8, " + $m; sp($m + "_p99_ms_T8") + "  (pooled " + ($r[$m + "_p99_ms_T8_pooled"] | f) + ")"; "<= 5"; le($r[$m + "_p99_ms_T8_med"]; 5)),
      row("cancel p99.9 ms, T=8, " + $m; sp($m + "_p999_ms_T8") + "  (pooled " + ($r[$m + "_p999_ms_T8_pooled"] | f) + ", " + ($r[$m + "_samples_T8_pooled"] | f) + " calls)"; "<= 20"; le($r[$m + "_p999_ms_T8_med"]; 20))),
    (("deferred", "incall") as $m |
      row("under 16 live transfers, T=8, " + $m + ": cancel/s";
          sp("load_" + $m + "_cancel_per_s") + "  (sustained " + sp("load_" + $m + "_sustained_per_s") + ")"; ""; null),
      row("  p99 / p99.9 ms; live transfers, committed MB/s";
          sp("load_" + $m + "_p99_ms") + " / " + sp("load_" + $m + "_p999_ms") + "; " + ($r["load_" + $m + "_live_transfers"] | f) + ", " + ($r["load_" + $m + "_committed_mb_s"] | f); ""; null)),
    row("quiesce in-process p50 / p99 ms (pooled; per-round p99)";
        ($r.quiesce_p50_ms_inproc | f) + " / " + ($r.quiesce_p99_ms_inproc | f) + "  (" + sp("quiesce_p99_ms_inproc_round") + ")"; "p99 <= 20"; le($r.quiesce_p99_ms_inproc; 20)),
    row("quiesce via `xferq cancel`, its start included, p50 / p99 ms (pooled; per-round p99)";
        ($r.quiesce_p50_ms_xproc | f) + " / " + ($r.quiesce_p99_ms_xproc | f) + "  (" + sp("quiesce_p99_ms_xproc_round") + ")"; "p99 <= 30"; le($r.quiesce_p99_ms_xproc; 30)),
    row("quiesce from a running C++ process p50 / p99 ms (pooled; per-round p99)";
        ($r.quiesce_p50_ms_peer | f) + " / " + ($r.quiesce_p99_ms_peer | f) + "  (" + sp("quiesce_p99_ms_peer_round") + ")"; "p99 <= 5"; le($r.quiesce_p99_ms_peer; 5)),
    row("download with SHA-256 check / without (same file, interleaved)";
        sp("hash_ratio") + "  (" + sp("hash_sha256_mb_s") + " vs " + sp("hash_plain_mb_s") + " MB/s)"; ">= 0.9";
        ge($r.hash_ratio_med; 0.9)),
    row("download / curl -o (" + (($r.download_bytes / 1048576) | f) + " MiB)";
        sp("download_ratio_vs_curl") + "  (xferq " + sp("download_mb_s") + " vs curl " + sp("curl_mb_s") + " MB/s)"; ">= 1.0";
        ge($r.download_ratio_vs_curl_med; 1.0)),
    row("small files / raw libcurl multi (" + ($r.smallfiles_count | f) + " x 16 KiB)";
        sp("smallfiles_ratio_vs_raw") + "  (xferq " + sp("smallfiles_per_s") + " vs raw " + sp("raw_multi_files_per_s") + " files/s)"; ">= 0.9";
        ge($r.smallfiles_ratio_vs_raw_med; 0.9)),
    row("small files / aria2c -j16"; sp("smallfiles_ratio_vs_aria2") + "  (aria2c " + sp("aria2_files_per_s") + " files/s)"; ""; null),
    row("bandwidth: 1 transfer, 20 MB/s limit, rate / limit"; sp("bw_one_ratio") + "  (1 s: " + ($r.bw_one_1s_min_mb_s | f) + "-" + ($r.bw_one_1s_max_mb_s | f) + " MB/s)"; "0.95-1.05";
        (if $r.bw_one_ratio_med == null then null else ge($r.bw_one_ratio_min; 0.95) and le($r.bw_one_ratio_max; 1.05) end)),
    row("bandwidth: 8 transfers, 20 MB/s limit, rate / limit"; sp("bw_eight_ratio") + "  (1 s: " + ($r.bw_eight_1s_min_mb_s | f) + "-" + ($r.bw_eight_1s_max_mb_s | f) + " MB/s)"; "0.95-1.05";
        (if $r.bw_eight_ratio_med == null then null else ge($r.bw_eight_ratio_min; 0.95) and le($r.bw_eight_ratio_max; 1.05) end)),
    row("bandwidth: 5 MB/s job limit beside an unlimited job"; sp("bw_job_ratio") + "  (" + sp("bw_job_while_unlimited_mb_s") + " MB/s while the unlimited job ran at " + sp("bw_unlimited_mb_s") + " MB/s)"; "0.95-1.05";
        (if $r.bw_job_ratio_med == null then null else ge($r.bw_job_ratio_min; 0.95) and le($r.bw_job_ratio_max; 1.05) end)),
    row("cancel_p99_ms_1k_jobs"; $r.cancel_p99_ms_1k_jobs | f; ""; null),
    row("cancel_p99_ms_100k_jobs"; $r.cancel_p99_ms_100k_jobs | f; ""; null),
    (if $r.cancel_p99_ms_1m_jobs != null then
       row("cancel_p99_ms_1m_jobs"; $r.cancel_p99_ms_1m_jobs | f; "<= 1.5 x 1k = " + (($r.cancel_p99_ms_1k_jobs * 1.5) | f);
           le($r.cancel_p99_ms_1m_jobs; $r.cancel_p99_ms_1k_jobs * 1.5))
     else row("  (quick) 100k vs 1k"; $r.cancel_p99_ms_100k_jobs | f; "<= 1.5 x 1k = " + (($r.cancel_p99_ms_1k_jobs * 1.5) | f);
              le($r.cancel_p99_ms_100k_jobs; $r.cancel_p99_ms_1k_jobs * 1.5)) end),
    (if $r.rss_mib_1m_jobs != null then row("rss_mib_1m_jobs"; $r.rss_mib_1m_jobs | f; "<= 64"; le($r.rss_mib_1m_jobs; 64))
     else row("  (quick) rss_mib_100k_jobs"; $r.rss_mib_100k_jobs | f; "<= 64"; le($r.rss_mib_100k_jobs; 64)) end),
    row("preemption: FOREGROUND resume -> first byte p50 / p99 ms (" + ($r.preempt_slots | f) + " LOW slots busy, " + ($r.preempt_samples | f) + " samples)";
        ($r.preempt_first_byte_p50_ms | f) + " / " + ($r.preempt_first_byte_p99_ms | f) + "  (max " + ($r.preempt_first_byte_max_ms | f) + ")"; ""; null),
    row("micro: cancel / floor txn, us (1 thread)"; ($r.micro_BM_Cancel_us | f) + " / " + ($r.micro_BM_FloorTxn_us | f); ""; null)
  ][] | @tsv' "$RES/all.json" | column -t -s $'\t'

echo
pg_table "$RES/pg.json"
echo

# Warnings: floors too noisy to compare against, errors, rounds that ran short.
jq -r '
  . as $r
  | (1, 2, 4, 8, 16 | tostring) as $t
  | (["floor_spread_pct", "floor txn/s"], ["composite_spread_pct", "composite floor/s"]) as [$k, $name]
  | select(($r[$k + "_T" + $t] // 0) > 20)
  | "WARNING: \($name) at T=\($t) spreads +-\($r[$k + "_T" + $t] | round)% around its median (over +-20%): the ratios at T=\($t) are uncertain"
' "$RES/all.json" 2>/dev/null || true
jq -r '
  [to_entries[] | select((.key | test("errors")) and (.value | type == "number") and .value > 0) | "\(.key)=\(.value)"] as $e
  | (if ($e | length) > 0 then "WARNING: errors: " + ($e | join(", ")) else empty end),
    (if (.cancel_short_rounds // 0) > 0 then "WARNING: \(.cancel_short_rounds) cancel phases ran out of prepared jobs before 0.5 s (kept)" else empty end),
    (if (.quiesce_temp_file_left_after_cancel // 0) > 0 then "WARNING: a temp file was still there when cancel() returned (\(.quiesce_temp_file_left_after_cancel) times)" else empty end)
' "$RES/all.json"
echo "(mode: $MODE; cancels: $(jq -r .cancel_rounds "$RES/all.json") rounds per T, each phase >= $(jq -r .cancel_round_min_ms "$RES/all.json") ms and >= $(jq -r .cancel_round_min_ops "$RES/all.json") ops; transfers: $RUNS interleaved rounds; temp files: $(jq -r .cancel_temp_files "$RES/all.json"))"
echo "(machine: $(nproc) cores; load average at start $LOAD_START, after the cancels $LOAD_MID, at the end $LOAD_END; other processes > 10% CPU at start: $BUSY_START; after the cancels: $BUSY_MID; at the end: $BUSY_END)"
echo "(wall time: ${WALL} s, of which measurements ${MEASURE} s)"

if [ -n "$OUT" ]; then cp "$RES/all.json" "$OUT"; echo "figures written to $OUT"; fi
