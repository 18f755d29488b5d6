"""HTTP requests per second through ``examples/http_server.py`` on the emulated module.

A host HTTP client (:mod:`http.client`) sends GET requests one after another, each on a
new connection as the example closes it. The baseline serves the same page from a plain
host socket in the same shape (read the request line and headers, answer, close).
"""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from eswifi.bench.host import WAIT, BenchError
from eswifi.bench.report import Row
from eswifi.testing.launch import EmulatorProcess

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "http_server.py"
"""Where the example lives in a source checkout (it is not installed with the package)."""
BODY = b"<!doctype html><html><body><h1>Hello from the eS-WiFi module</h1></body></html>\n" * 3


def _get_all(port: int, requests: int) -> float:
    """Seconds for ``requests`` sequential GETs, each checked for status 200."""
    start = time.perf_counter()
    for number in range(requests):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
        try:
            connection.request("GET", f"/bench/{number}")
            response = connection.getresponse()
            body = response.read()
            if response.status != 200 or not body:
                raise BenchError(f"HTTP {response.status} with {len(body)} bytes")
        finally:
            connection.close()
    return time.perf_counter() - start


def _host_server(requests: int) -> tuple[int, threading.Thread]:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        with listener:
            for _ in range(requests):
                conn, _ = listener.accept()
                with conn, conn.makefile("rb") as reader:
                    reader.readline()
                    while reader.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    head = b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BODY)
                    conn.sendall(head + BODY)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return port, thread


def http_rows(requests: int, progress: Callable[[str], None]) -> list[Row]:
    """Requests per second through the example, beside the plain host server."""
    if not EXAMPLE.exists():
        progress("http: examples/http_server.py not found (not a source checkout): skipped")
        return []
    progress(f"http: {requests} requests through examples/http_server.py")
    with EmulatorProcess() as emulator:
        command = [sys.executable, str(EXAMPLE), emulator.url, "--port", "0"]
        server = subprocess.Popen(
            [*command, "--requests", str(requests)],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        try:
            assert server.stdout is not None
            line = server.stdout.readline().decode().strip()
            if not line.startswith("serving http://"):
                raise BenchError(f"the example did not start: {line!r}")
            port = int(line.rstrip("/").rsplit(":", 1)[1])
            seconds = _get_all(port, requests)
            server.wait(WAIT)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
            if server.stdout is not None:
                server.stdout.close()
    progress(f"http: {requests} requests to a plain host server")
    port, thread = _host_server(requests)
    baseline = _get_all(port, requests)
    thread.join(WAIT)
    return [
        Row(
            section="http",
            name="examples/http_server.py GETs",
            link="tcp",
            unit="/s",
            value=requests / seconds,
            baseline=requests / baseline,
            baseline_name="the same requests to a plain host socket server",
            detail=f"{requests} sequential http.client GETs, one connection each, "
            f"{seconds / requests * 1e3:.1f} ms per request",
        )
    ]
