#!/usr/bin/env bash
# Three hosts on one machine sharing one queue in PostgreSQL: the README's
# fleet example, run end to end.
#
#   scripts/fleet-example.sh            build the CLI, run the example, clean up
#   scripts/fleet-example.sh --no-build use the CLI already built: $XFERQ_CLI,
#                                       else build/release/bindings/cli/xferq
#
# It starts a private PostgreSQL 15 cluster (initdb + pg_ctl in a temp
# directory, 127.0.0.1 on a free port; run as the `postgres` user when
# called as root) and a local HTTP server (python3 -m http.server, loopback),
# then three `xferq run` workers with host ids host-a, host-b and host-c.
# From the shell (a fourth identity) it queues 12 downloads, shows which
# host runs which, cancels one while it runs, completes the rest — the
# renames happen on the hosts that hold the files — and stops everything
# it started, by PID.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

if [[ "${1:-}" != "--no-build" ]]; then
  scripts/install-deps.sh
  cmake --preset release >/dev/null
  cmake --build build/release --target xferq_cli -j"$(nproc)"
fi
XFERQ="${XFERQ_CLI:-$repo_root/build/release/bindings/cli/xferq}"
PG_BIN=/usr/lib/postgresql/15/bin
[[ -x "$XFERQ" ]] || { echo "no $XFERQ: build it first" >&2; exit 1; }
[[ -x "$PG_BIN/initdb" ]] || { echo "PostgreSQL 15 is not installed (scripts/install-deps.sh)" >&2; exit 1; }

work="$(mktemp -d /tmp/xferq-fleet.XXXXXX)"
chmod 0755 "$work"
pids=()
as_db_owner() {
  if [[ $EUID -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ -f "$work/pg/postmaster.pid" ]]; then
    as_db_owner "$PG_BIN/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "== A private PostgreSQL cluster"
mkdir -p "$work/pg" "$work/sock"
[[ $EUID -eq 0 ]] && chown postgres: "$work/pg" "$work/sock"
pg_port="$(free_port)"
as_db_owner "$PG_BIN/initdb" -D "$work/pg" -U xferq --auth=trust >/dev/null
as_db_owner "$PG_BIN/pg_ctl" -D "$work/pg" -l "$work/sock/log" -w \
  -o "-p $pg_port -k $work/sock -c listen_addresses=127.0.0.1" start >/dev/null
as_db_owner "$PG_BIN/createdb" -h 127.0.0.1 -p "$pg_port" -U xferq fleet
URL="postgresql://xferq@127.0.0.1:$pg_port/fleet"
echo "queue: $URL"

echo "== A local HTTP server with 12 files of 4 MiB"
mkdir -p "$work/www" "$work/out"
for i in $(seq 1 12); do head -c $((4 * 1024 * 1024)) /dev/urandom >"$work/www/f$i.bin"; done
http_port="$(free_port)"
python3 -m http.server --bind 127.0.0.1 --directory "$work/www" "$http_port" >"$work/http.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$http_port/f1.bin" -o /dev/null -r 0-0 && break; sleep 0.1; done

echo "== Three hosts: xferq run as host-a, host-b and host-c"
for h in a b c; do
  XFERQ_HOST_ID="host-$h" "$XFERQ" --db "$URL" run >"$work/host-$h.log" 2>&1 &
  pids+=($!)
done

echo "== The shell (a fourth identity) queues 12 downloads, 500 kB/s each"
export XFERQ_HOST_ID=operator
psql_q() { as_db_owner "$PG_BIN/psql" -h 127.0.0.1 -p "$pg_port" -U xferq -d fleet "$@"; }
ids=()
for i in $(seq 1 12); do
  id="$("$XFERQ" --db "$URL" create "file $i")"
  "$XFERQ" --db "$URL" addfile "$id" "http://127.0.0.1:$http_port/f$i.bin" "$work/out/f$i.bin" >/dev/null
  "$XFERQ" --db "$URL" setjobbandwidth "$id" 500000 >/dev/null
  ids+=("$id")
done
for id in "${ids[@]}"; do "$XFERQ" --db "$URL" resume "$id" >/dev/null; done
sleep 2
echo "-- who runs what (psql on the views):"
psql_q -c "SELECT host, state, count(*) AS jobs, sum(bytes_done) AS bytes FROM active_jobs GROUP BY 1, 2 ORDER BY 1, 2"

victim="$(psql_q -At -c "SELECT id FROM active_jobs WHERE state = 'TRANSFERRING' ORDER BY display_name LIMIT 1")"
[[ -n "$victim" ]] || { echo "FAIL: no job is transferring" >&2; exit 1; }
for i in "${!ids[@]}"; do [[ "${ids[$i]}" == "$victim" ]] && n=$((i + 1)); done
echo "== Cancel ${victim} (f$n.bin) from the shell while its host transfers it"
"$XFERQ" --db "$URL" cancel "$victim"
# Its temp file is ".f$n.bin.xferq-<job>-0.part" beside the target.
for _ in $(seq 100); do
  ls -a "$work/out" | grep -q "^\\.f$n\\.bin\\.xferq-" || break
  sleep 0.05
done
if ls -a "$work/out" | grep -q "f$n\\.bin"; then echo "FAIL: f$n.bin's temp file is still there" >&2; exit 1; fi
echo "its host stopped the transfer and deleted the temp file"

echo "== Wait for the others, then complete them from the shell"
for id in "${ids[@]}"; do
  [[ "$id" == "$victim" ]] && continue
  for _ in $(seq 600); do
    [[ "$("$XFERQ" --db "$URL" getstate "$id")" == "TRANSFERRED" ]] && break
    sleep 0.1
  done
  "$XFERQ" --db "$URL" complete "$id"
done
for i in $(seq 1 12); do
  [[ "$i" == "$n" ]] && continue
  for _ in $(seq 100); do [[ -f "$work/out/f$i.bin" ]] && break; sleep 0.05; done
  cmp -s "$work/www/f$i.bin" "$work/out/f$i.bin" || { echo "FAIL: f$i.bin differs or is missing" >&2; exit 1; }
done
echo "11 files renamed into place by the hosts that downloaded them, byte-identical"
psql_q -c "SELECT host_id, to_timestamp(last_seen_us / 1e6) AS last_seen FROM hosts ORDER BY 1"
echo "== Done: stopping the hosts, the HTTP server and the cluster"
