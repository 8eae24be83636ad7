"""Fixtures for the xferq Python binding tests: a local HTTP server (in a
thread of the test process) and a fresh queue in a temp directory."""

import hashlib
import http.server
import os
import random
import sys
import threading
import time

import pytest

# Import the package from this source tree (ctest also sets PYTHONPATH).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import xferq  # noqa: E402

SMALL = random.Random(1).randbytes(256 * 1024)
SLOW_SIZE = 16 * 1024 * 1024
SLOW_CHUNK = 16 * 1024
SLOW_DELAY = 0.05  # 320 KiB/s: the whole body would take ~50 s


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves /small.bin (fast), /slow.bin (big, trickled) and 404 for the
    rest, with Content-Length, an ETag and single `bytes=N-` ranges (and
    `bytes=A-B` for /small.bin)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep pytest's output clean
        pass

    def _range_start(self, total):
        r = self.headers.get("Range", "")
        if r.startswith("bytes=") and r.endswith("-") and r[6:-1].isdigit():
            start = int(r[6:-1])
            if start < total:
                return start
        return 0

    def _head(self, status, length, start=0, total=0):
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.send_header("ETag", '"v1"')
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{total - 1}/{total}")
        self.end_headers()

    def do_GET(self):
        self.server.requests.append(self.path)
        r = self.headers.get("Range", "")
        if self.path == "/small.bin" and r.startswith("bytes=") and not r.endswith("-"):
            a, b = (int(x) for x in r[6:].split("-"))
            b = min(b, len(SMALL) - 1)
            self.send_response(206)
            self.send_header("Content-Length", str(b - a + 1))
            self.send_header("ETag", '"v1"')
            self.send_header("Content-Range", f"bytes {a}-{b}/{len(SMALL)}")
            self.end_headers()
            self.wfile.write(SMALL[a:b + 1])
        elif self.path == "/small.bin":
            start = self._range_start(len(SMALL))
            self._head(206 if start else 200, len(SMALL) - start, start, len(SMALL))
            self.wfile.write(SMALL[start:])
        elif self.path == "/slow.bin":
            start = self._range_start(SLOW_SIZE)
            self._head(206 if start else 200, SLOW_SIZE - start, start, SLOW_SIZE)
            sent = start
            chunk = b"x" * SLOW_CHUNK
            try:
                while sent < SLOW_SIZE and not self.server.stopping.is_set():
                    n = min(SLOW_CHUNK, SLOW_SIZE - sent)
                    self.wfile.write(chunk[:n])
                    self.wfile.flush()
                    sent += n
                    self.server.stopping.wait(SLOW_DELAY)
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True
        else:
            body = b"not found\n"
            self.send_response(404)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.stopping = threading.Event()
        self.requests = []

    def url(self, path):
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


@pytest.fixture
def server():
    srv = Server()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.stopping.set()
        srv.shutdown()
        srv.server_close()
        thread.join(5)


@pytest.fixture
def queue(tmp_path):
    with xferq.Queue(tmp_path / "queue.db", progress_interval=0.05, poll_interval=0.01,
                     minimum_retry_delay_floor=0, stall_timeout=30) as q:
        yield q


def wait_for(cond, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.005)
    return cond()


def sha256(data):
    return hashlib.sha256(data).hexdigest()
