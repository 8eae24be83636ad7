#!/usr/bin/env bash
# The proof that xferq packages: builds a release tree for prefix /usr, runs
# `cpack -G DEB` (xferq and libxferq-dev, cmake/XferqDeb.cmake), checks what
# each package holds, installs both with `apt-get install ./…deb`, then uses
# only the installed files: `xferq transfer` from a local HTTP server, `xferq
# serve` answering its API, `import xferq` in python3 without XFERQ_LIBRARY,
# the man page, and examples/embed built with find_package(xferq) and with
# pkg-config. Removes the packages and its scratch directory at the end.
# Run as root (apt-get). Usage: scripts/check-deb.sh   (KEEP=1 keeps the scratch dir)
# XFERQ_RELEASE_BUILD=DIR uses (and keeps) the release tree in DIR, as
# scripts/check-embed.sh does: configured again for /usr, nothing recompiles.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

./scripts/install-deps.sh

work=$(mktemp -d /tmp/xferq-check-deb-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if dpkg-query -W -f='${Status}' xferq 2>/dev/null | grep -q "install ok installed"; then
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq libxferq-dev xferq >/dev/null || true
  fi
  if [ "${KEEP:-0}" = 1 ]; then echo "check-deb: keeping $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
jobs=$(nproc)
build=${XFERQ_RELEASE_BUILD:-$work/build}

echo "== check-deb: build a release tree for /usr and cpack -G DEB"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DXFERQ_BUILD_TESTS=OFF -DXFERQ_BUILD_BENCH=OFF -DXFERQ_BUILD_EXAMPLES=OFF >"$work/configure.log" \
  || { cat "$work/configure.log"; exit 1; }
cmake --build "$build" -j"$jobs" >"$work/build.log" || { tail -50 "$work/build.log"; exit 1; }
rm -f "$build"/*.deb
(cd "$build" && cpack -G DEB >"$work/cpack.log") || { cat "$work/cpack.log"; exit 1; }
runtime_deb=$(ls "$build"/xferq_*.deb)
dev_deb=$(ls "$build"/libxferq-dev_*.deb)
echo "built: $(basename "$runtime_deb") $(basename "$dev_deb")"

echo "== check-deb: what each package holds"
has() {  # has DEB PATH-REGEX
  dpkg-deb -c "$1" | awk '{print $6}' | grep -qE "$2" || { echo "check-deb: $(basename "$1") lacks $2"; exit 1; }
}
lacks() {
  if dpkg-deb -c "$1" | awk '{print $6}' | grep -qE "$2"; then echo "check-deb: $(basename "$1") should not hold $2"; exit 1; fi
}
for p in '^\./usr/bin/xferq$' '^\./usr/libexec/xferq/xferq-full$' '/libxferq\.so\.0' '^\./usr/lib/python3/dist-packages/xferq/__init__\.py$' \
         '^\./usr/lib/systemd/system/xferq\.service$' '^\./usr/lib/systemd/user/xferq-serve\.service$' \
         '^\./usr/share/man/man1/xferq\.1' '^\./usr/share/bash-completion/completions/xferq$'; do
  has "$runtime_deb" "$p"
done
lacks "$runtime_deb" '\.h$|\.a$|libxferq\.so$'
for p in '^\./usr/include/xferq/xferq\.h$' '^\./usr/include/xferq/xferq_c\.h$' '/libxferq\.a$' '/libxferq\.so$' \
         '/cmake/xferq/xferqConfig\.cmake$' '/pkgconfig/xferq\.pc$'; do
  has "$dev_deb" "$p"
done
dpkg-deb -f "$runtime_deb" Depends
dpkg-deb -f "$dev_deb" Depends

echo "== check-deb: apt-get install the packages"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$runtime_deb" "$dev_deb" >"$work/apt.log" \
  || { cat "$work/apt.log"; exit 1; }
xferq --version

echo "== check-deb: xferq transfer, from a local HTTP server"
mkdir -p "$work/www" "$work/use"
head -c 300000 /dev/urandom >"$work/www/payload.bin"
python3 -m http.server --bind 127.0.0.1 0 --directory "$work/www" >"$work/http.log" 2>&1 &
pids+=($!)
port=""
for _ in $(seq 100); do
  port=$(grep -oE 'port [0-9]+' "$work/http.log" | grep -oE '[0-9]+' || true)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "check-deb: the HTTP server did not start"; cat "$work/http.log"; exit 1; }
XFERQ_DB="$work/use/queue.db" xferq transfer "http://127.0.0.1:$port/payload.bin" "$work/use/payload.bin"
cmp "$work/www/payload.bin" "$work/use/payload.bin"

echo "== check-deb: the front runs the state calls itself, without libcurl"
! ldd /usr/bin/xferq | grep -qE 'libcurl|libpq' || { echo "check-deb: /usr/bin/xferq loads libcurl or libpq"; exit 1; }
job=$(xferq --db "$work/use/queue.db" create "front")
xferq --db "$work/use/queue.db" cancel "$job" | grep -qx 'Job canceled.'
test "$(xferq --db "$work/use/queue.db" getstate "$job")" = CANCELLED

echo "== check-deb: xferq serve answers with its token"
xferq --db "$work/use/queue.db" serve --listen 127.0.0.1:0 >"$work/serve.out" 2>&1 &
pids+=($!)
serve_port=""
for _ in $(seq 100); do
  serve_port=$(grep -oE 'listening on http://127\.0\.0\.1:[0-9]+' "$work/serve.out" | grep -oE '[0-9]+$' || true)
  [ -n "$serve_port" ] && break
  sleep 0.1
done
[ -n "$serve_port" ] || { echo "check-deb: xferq serve did not start"; cat "$work/serve.out"; exit 1; }
token=$(cat "$work/use/queue.db-serve.token")
curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$serve_port/api/jobs?all=true" | grep -q '"ACKNOWLEDGED"'
test "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$serve_port/api/jobs")" = 401
curl -sf "http://127.0.0.1:$serve_port/" | grep -q '<title>xferq</title>'

echo "== check-deb: Debian's python3 imports xferq without XFERQ_LIBRARY"
(cd "$work/use" && env -u XFERQ_LIBRARY -u PYTHONPATH /usr/bin/python3 - "$work/use/py.db" <<'PY'
import sys, xferq
assert xferq.__file__.startswith("/usr/lib/python3/dist-packages/"), xferq.__file__
with xferq.Queue(sys.argv[1]) as q:
    job = q.create_job("from python")
    print("python:", xferq.__file__, job.id, job.state.name)
PY
)

echo "== check-deb: the man page"
man -w xferq
MANWIDTH=100 man xferq 2>/dev/null | grep -q 'xferq serve'

echo "== check-deb: examples/embed against the installed packages"
cmake -S "$root/examples/embed" -B "$work/embed" -DCMAKE_BUILD_TYPE=Release >"$work/embed.log" \
  || { cat "$work/embed.log"; exit 1; }
cmake --build "$work/embed" -j"$jobs" >>"$work/embed.log" || { cat "$work/embed.log"; exit 1; }
grep -q 'from /usr/lib/.*/cmake/xferq' "$work/embed/CMakeCache.txt" || grep -q 'xferq_DIR:PATH=/usr/lib' "$work/embed/CMakeCache.txt"
"$work/embed/embed_example"
"$work/embed/embed_c_example" "$work"
# shellcheck disable=SC2046
c++ -std=c++17 -o "$work/embed_pc" "$root/examples/embed/main.cc" $(pkg-config --cflags --libs xferq)
"$work/embed_pc"

echo "check-deb: OK — xferq and libxferq-dev build, install with apt-get and work from /usr"
