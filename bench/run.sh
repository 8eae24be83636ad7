#!/usr/bin/env bash
# bench/run.sh [--quick] [--out FILE.json] — the xferq benchmarks (issue #5).
#
# Builds the release preset, starts nginx on a free loopback port with its own
# temporary config/prefix, runs every measurement, prints a table with each
# figure next to its target (PASS/MISS) and writes all figures as JSON.
# Everything lives in a scratch directory under /tmp, removed at the end; nginx
# is stopped by its PID. Only 127.0.0.1 is used.
#
# How the cancel benchmarks get real temp files: the queue's rows are
# bulk-inserted with SQL in setup (never measured) in the exact shape of a
# SUSPENDED job interrupted in its last file — 3 completed files and 1 partial,
# temp_path recorded, real 0600 temp files on disk named as the engine names
# them. The name and mode are checked first against a real engine transfer
# (xferq_bench verify step); every measured cancel goes through Job::cancel().
set -euo pipefail

QUICK=0
OUT=""
while (($#)); do
  case "$1" in
    --quick) QUICK=1 ;;
    --out) OUT="$2"; shift ;;
    *) echo "usage: $0 [--quick] [--out FILE.json]" >&2; exit 2 ;;
  esac
  shift
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
[ -n "$OUT" ] && case "$OUT" in /*) ;; *) OUT="$ROOT/$OUT" ;; esac

"$ROOT/bench/install-bench-deps.sh"

echo "== building (release preset)"
cmake --preset release >/dev/null
cmake --build build/release -j2 --target xferq_bench xferq_raw_multi xferq_micro xferq_cli >/dev/null
BIN="$ROOT/build/release/bench"
BENCH="$BIN/xferq_bench"
RAW="$BIN/xferq_raw_multi"
CLI="$(find "$ROOT/build/release/bindings/cli" -maxdepth 1 -type f -name xferq -perm -u+x | head -1)"

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
  CANCEL_JOBS=10000; CANCEL_OPS=1000; QUIESCE_N=60; QUIESCE_X=30
  BIG_MIB=256; SMALL_N=2000; SCALES="1000:1k 100000:100k"; RUNS=2
else
  CANCEL_JOBS=100000; CANCEL_OPS=8000; QUIESCE_N=200; QUIESCE_X=100
  BIG_MIB=1024; SMALL_N=10000; SCALES="1000:1k 100000:100k 1000000:1m"; RUNS=3
fi
BIG_BYTES=$((BIG_MIB * 1024 * 1024))

t() { date +%s.%N; }
step() { echo "== $*"; }

# ---- 1 + 2: concurrent cancels vs the floor, then under load -------------------------------
step "cancels: $CANCEL_JOBS-job queue, $CANCEL_OPS cancels per T, T = 1 2 4 8 16 (then under 16 live transfers)"
mkdir -p "$SCRATCH/cancel"
"$BENCH" cancel --dir "$SCRATCH/cancel" --jobs "$CANCEL_JOBS" --ops "$CANCEL_OPS" --threads 1,2,4,8,16 >"$RES/cancel.json"
rm -rf "$SCRATCH/cancel"
step "cancels again with QueueOptions::defer_cancel_deletes (temp files unlinked by the janitor thread)"
mkdir -p "$SCRATCH/cancel"
"$BENCH" cancel --dir "$SCRATCH/cancel" --jobs "$((CANCEL_JOBS / 2))" --ops "$CANCEL_OPS" --threads 1,2,4,8,16 --load 0 --defer 1 |
  jq 'with_entries(.key |= "deferred_" + .)' >"$RES/cancel_deferred.json"
rm -rf "$SCRATCH/cancel"

# ---- 3: cancel to quiescence ---------------------------------------------------------------------
step "cancel-to-quiescence: $QUIESCE_N in-process, $QUIESCE_X through \`xferq cancel\`"
mkdir -p "$SCRATCH/quiesce"
"$BENCH" quiesce --dir "$SCRATCH/quiesce" --samples "$QUIESCE_N" --xproc-samples "$QUIESCE_X" --cli "$CLI" >"$RES/quiesce.json"
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

best_dl=0; best_curl=0
for r in $(seq 1 $RUNS); do
  mkdir -p "$SCRATCH/dl"
  a=$(t); curl -sf -o "$SCRATCH/dl/curl-big.bin" "$BASE/big.bin"; b=$(t)
  [ "$(stat -c %s "$SCRATCH/dl/curl-big.bin")" = "$BIG_BYTES" ] || { echo "curl size mismatch" >&2; exit 1; }
  c=$(awk -v a="$a" -v b="$b" -v n="$BIG_BYTES" 'BEGIN{printf "%.2f", n/1e6/(b-a)}')
  rm -rf "$SCRATCH/dl"; mkdir -p "$SCRATCH/dl"
  x=$("$BENCH" download --dir "$SCRATCH/dl" --url "$BASE/big.bin" --bytes "$BIG_BYTES" | jq .download_mb_s)
  rm -rf "$SCRATCH/dl"
  echo "   run $r: curl $c MB/s, xferq $x MB/s"
  best_curl=$(awk -v a="$best_curl" -v b="$c" 'BEGIN{print (b>a)?b:a}')
  best_dl=$(awk -v a="$best_dl" -v b="$x" 'BEGIN{print (b>a)?b:a}')
done
echo "{\"download_mb_s\": $best_dl, \"curl_mb_s\": $best_curl, \"download_runs\": $RUNS, \"download_bytes\": $BIG_BYTES}" >"$RES/download.json"

: >"$SCRATCH/aria2.txt"
for i in $(seq 0 $((SMALL_N - 1))); do
  n=$(printf '%05d.bin' "$i"); printf '%s/s/%s\n  out=%s\n' "$BASE" "$n" "$n" >>"$SCRATCH/aria2.txt"
done
best_small=0; best_aria=0; best_raw=0
for r in $(seq 1 $RUNS); do
  mkdir -p "$SCRATCH/out"
  a=$(t)
  aria2c -q -j16 --max-connection-per-server=1 -i "$SCRATCH/aria2.txt" -d "$SCRATCH/out" --file-allocation=none \
    --allow-overwrite=true --auto-file-renaming=false --summary-interval=0 --console-log-level=error
  b=$(t)
  [ "$(find "$SCRATCH/out" -name '*.bin' | wc -l)" = "$SMALL_N" ] || { echo "aria2c missed files" >&2; exit 1; }
  ar=$(awk -v a="$a" -v b="$b" -v n="$SMALL_N" 'BEGIN{printf "%.1f", n/(b-a)}')
  rm -rf "$SCRATCH/out"; mkdir -p "$SCRATCH/out"
  rw=$("$RAW" "$BASE/s/" "$SMALL_N" "$SCRATCH/out" 16 | jq .raw_multi_files_per_s)
  rm -rf "$SCRATCH/out"; mkdir -p "$SCRATCH/out"
  xs=$("$BENCH" smallfiles --dir "$SCRATCH/out" --base "$BASE/s/" --count "$SMALL_N" | jq .smallfiles_per_s)
  rm -rf "$SCRATCH/out"
  echo "   run $r: aria2c $ar files/s, raw multi $rw files/s, xferq $xs files/s"
  best_aria=$(awk -v a="$best_aria" -v b="$ar" 'BEGIN{print (b>a)?b:a}')
  best_raw=$(awk -v a="$best_raw" -v b="$rw" 'BEGIN{print (b>a)?b:a}')
  best_small=$(awk -v a="$best_small" -v b="$xs" 'BEGIN{print (b>a)?b:a}')
done
echo "{\"smallfiles_per_s\": $best_small, \"aria2_files_per_s\": $best_aria, \"raw_multi_files_per_s\": $best_raw, \"smallfiles_count\": $SMALL_N}" >"$RES/small.json"
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

# ---- micro (Google Benchmark), extras --------------------------------------------------------------
step "micro: Google Benchmark, one cancel vs one minimal transaction (single thread)"
mkdir -p "$SCRATCH/micro"
XFERQ_BENCH_SCRATCH="$SCRATCH/micro" "$BIN/xferq_micro" --benchmark_format=json 2>/dev/null |
  jq '[.benchmarks[] | {((.name | split("/")[0]) + "_us"): .real_time}] | add | with_entries(.key |= "micro_" + .)' >"$RES/micro.json" || echo '{}' >"$RES/micro.json"
rm -rf "$SCRATCH/micro"

# ---- merge, ratios, table ----------------------------------------------------------------------------
MODE=$([ $QUICK = 1 ] && echo quick || echo full)
jq -s --arg mode "$MODE" '
  add
  | .mode = $mode
  | .download_ratio_vs_curl = (.download_mb_s / .curl_mb_s)
  | .smallfiles_ratio_vs_aria2 = (.smallfiles_per_s / .aria2_files_per_s)
  | .smallfiles_ratio_vs_raw = (.smallfiles_per_s / .raw_multi_files_per_s)
  | .cancel_p99_ms_1m_jobs = (.cancel_p99_ms_1m_jobs // null)
  | .rss_mib_1m_jobs = (.rss_mib_1m_jobs // null)
' "$RES"/*.json >"$RES/all.json"

jq -r '
  def f: if . == null then "n/a" elif (type == "number") then (if . >= 100 then (. * 10 | round / 10 | tostring) else (. * 1000 | round / 1000 | tostring) end) else tostring end;
  def row($k; $v; $t; $ok): [$k, ($v | f), $t, (if $ok == null then "" elif $ok then "PASS" else "MISS" end)];
  def ge($v; $x): if $v == null then null else $v >= $x end;
  def le($v; $x): if $v == null then null else $v <= $x end;
  . as $r
  | [ ["figure", "value", "target", ""],
      row("cancel_per_s (T=8)"; $r.cancel_per_s; ""; null),
      row("floor_txn_per_s (T=8)"; $r.floor_txn_per_s; ""; null),
      (1, 2, 4, 8, 16 | tostring as $t | row("cancel_ratio T=" + $t + "  (" + ($r["cancel_per_s_T" + $t] | f) + " / " + ($r["floor_txn_per_s_T" + $t] | f) + " per s)"; $r["cancel_ratio_T" + $t]; ">= 0.9"; ge($r["cancel_ratio_T" + $t]; 0.9))),
      (1, 2, 4, 8, 16 | tostring as $t | row("cancel p50/p99/p999/max ms T=" + $t; ($r["cancel_p50_ms_T" + $t] | f) + " / " + ($r["cancel_p99_ms_T" + $t] | f) + " / " + ($r["cancel_p999_ms_T" + $t] | f) + " / " + ($r["cancel_max_ms_T" + $t] | f); ""; null)),
      row("cancel_p99_ms (T=8)"; $r.cancel_p99_ms; "<= 5"; le($r.cancel_p99_ms; 5)),
      (1, 2, 4, 8, 16 | tostring as $t | row("deferred deletes: cancel_ratio T=" + $t + "  (" + ($r["deferred_cancel_per_s_T" + $t] | f) + " / " + ($r["deferred_floor_txn_per_s_T" + $t] | f) + " per s; p99 " + ($r["deferred_cancel_p99_ms_T" + $t] | f) + " ms)"; $r["deferred_cancel_ratio_T" + $t]; ">= 0.9"; ge($r["deferred_cancel_ratio_T" + $t]; 0.9))),
      row("cancel_p999_ms (T=8)"; $r.cancel_p999_ms; "<= 20"; le($r.cancel_p999_ms; 20)),
      (1, 2, 4, 8, 16 | tostring as $t | row("under load T=" + $t + ": cancel/s, p99/max ms"; ($r["load_cancel_per_s_T" + $t] | f) + ", " + ($r["load_cancel_p99_ms_T" + $t] | f) + " / " + ($r["load_cancel_max_ms_T" + $t] | f); ""; null)),
      row("  (live transfers, committed MB/s during it)"; ($r.load_live_transfers | f) + ", " + ($r.load_committed_mb_s | f); ""; null),
      row("quiesce_p50_ms_inproc"; $r.quiesce_p50_ms_inproc; ""; null),
      row("quiesce_p99_ms_inproc"; $r.quiesce_p99_ms_inproc; "<= 20"; le($r.quiesce_p99_ms_inproc; 20)),
      row("quiesce_p50_ms_xproc"; $r.quiesce_p50_ms_xproc; ""; null),
      row("quiesce_p99_ms_xproc"; $r.quiesce_p99_ms_xproc; "<= 150"; le($r.quiesce_p99_ms_xproc; 150)),
      row("download_mb_s / curl_mb_s"; ($r.download_mb_s | f) + " / " + ($r.curl_mb_s | f); ""; null),
      row("download_ratio_vs_curl"; $r.download_ratio_vs_curl; ">= 0.95"; ge($r.download_ratio_vs_curl; 0.95)),
      row("smallfiles_per_s / aria2 / raw multi"; ($r.smallfiles_per_s | f) + " / " + ($r.aria2_files_per_s | f) + " / " + ($r.raw_multi_files_per_s | f); ""; null),
      row("smallfiles_ratio_vs_aria2"; $r.smallfiles_ratio_vs_aria2; ""; null),
      row("smallfiles_ratio_vs_raw"; $r.smallfiles_ratio_vs_raw; ">= 0.7"; ge($r.smallfiles_ratio_vs_raw; 0.7)),
      row("cancel_p99_ms_1k_jobs"; $r.cancel_p99_ms_1k_jobs; ""; null),
      row("cancel_p99_ms_100k_jobs"; $r.cancel_p99_ms_100k_jobs; ""; null),
      row("cancel_p99_ms_1m_jobs"; $r.cancel_p99_ms_1m_jobs; "<= 1.5 x 1k = " + (($r.cancel_p99_ms_1k_jobs * 1.5) | f);
          le($r.cancel_p99_ms_1m_jobs; $r.cancel_p99_ms_1k_jobs * 1.5)),
      (if $r.cancel_p99_ms_1m_jobs == null then row("  (quick) 100k vs 1k"; $r.cancel_p99_ms_100k_jobs; "<= " + (($r.cancel_p99_ms_1k_jobs * 1.5) | f); le($r.cancel_p99_ms_100k_jobs; $r.cancel_p99_ms_1k_jobs * 1.5)) else empty end),
      row("rss_mib_1m_jobs"; $r.rss_mib_1m_jobs; "<= 64"; le($r.rss_mib_1m_jobs; 64)),
      (if $r.rss_mib_1m_jobs == null then row("  (quick) rss_mib_100k_jobs"; $r.rss_mib_100k_jobs; "<= 64"; le($r.rss_mib_100k_jobs; 64)) else empty end),
      row("micro: cancel / floor txn, us (1 thread)"; ($r.micro_BM_Cancel_us | f) + " / " + ($r.micro_BM_FloorTxn_us | f); ""; null)
    ][] | @tsv' "$RES/all.json" | column -t -s $'\t'
echo "(mode: $MODE; throughput: best of $RUNS runs each; temp files: $(jq -r .cancel_temp_files "$RES/all.json"))"

if [ -n "$OUT" ]; then cp "$RES/all.json" "$OUT"; echo "figures written to $OUT"; fi
