"""Benchmarks: AT command round trips over the emulator's TCP console, against a baseline.

Both sides run in one invocation on the same machine, so the ratio means something on a
shared, noisy host:

* **module**: ``eswifi emulate --listen 127.0.0.1:0`` in a subprocess; the client sends
  ``P?\\r`` and reads until the reply's ``\\r\\nOK\\r\\n> `` — one command round trip.
* **baseline**: a plain asyncio TCP server in a subprocess that answers each request of
  the same size with a reply of the same size as the module's — a raw loopback exchange.

The same client loop (blocking socket, ``sendall`` + ``recv`` until complete) drives both.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import TextIO

from eswifi.launch import EmulatorProcess
from eswifi.wire.framing import OK_TERMINATOR

JOIN = b"C1=eswifi-lab\rC2=eswifi-pass\rC3=3\rC0\r"
QUERY = b"P?\r"


@dataclass(frozen=True, slots=True, kw_only=True)
class Figure:
    """One measured series."""

    name: str
    rounds: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.rounds / self.seconds


def _round_trips(sock: socket.socket, request: bytes, done: bytes, rounds: int) -> float:
    """Time ``rounds`` exchanges; each ends when the reply ends with ``done``."""
    buffer = bytearray()
    start = time.perf_counter()
    for _ in range(rounds):
        sock.sendall(request)
        while not buffer.endswith(done):
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            buffer += chunk
        buffer.clear()
    return time.perf_counter() - start


def _drain_until(sock: socket.socket, data: bytes, marker: bytes) -> bytes:
    sock.sendall(data)
    buffer = bytearray()
    while buffer.count(marker) < data.count(b"\r"):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the module closed the console")
        buffer += chunk
    return bytes(buffer)


def measure_module(rounds: int, repeats: int) -> tuple[Figure, int]:
    """Round trips of ``P?`` through the emulator; also returns the reply size."""
    with EmulatorProcess() as emulator:
        host, port = emulator.url.removeprefix("socket://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            _drain_until(sock, JOIN, b"> ")
            reply = _drain_until(sock, QUERY, OK_TERMINATOR)
            _round_trips(sock, QUERY, OK_TERMINATOR, rounds // 10 or 1)  # warm-up
            best = min(_round_trips(sock, QUERY, OK_TERMINATOR, rounds) for _ in range(repeats))
    return Figure(name="module P? round trip", rounds=rounds, seconds=best), len(reply)


def measure_baseline(rounds: int, repeats: int, reply_size: int) -> Figure:
    """Round trips against a raw asyncio loopback server with the same sizes."""
    reply = b"x" * (reply_size - len(OK_TERMINATOR)) + OK_TERMINATOR
    proc = subprocess.Popen(
        [sys.executable, "-m", "eswifi.bench", "serve", str(len(QUERY)), str(reply_size)],
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline().decode().split()[-1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            _round_trips(sock, QUERY, reply, rounds // 10 or 1)
            best = min(_round_trips(sock, QUERY, reply, rounds) for _ in range(repeats))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    return Figure(name="raw loopback round trip", rounds=rounds, seconds=best)


def run_bench(*, rounds: int = 2000, repeats: int = 3, out: TextIO = sys.stdout) -> int:
    """Measure and print both figures and their ratio."""
    module, reply_size = measure_module(rounds, repeats)
    baseline = measure_baseline(rounds, repeats, reply_size)
    for figure in (module, baseline):
        per_trip = figure.seconds / figure.rounds * 1e6
        print(
            f"{figure.name:<28} {figure.per_second:>10.0f}/s  ({per_trip:.1f} µs each, "
            f"best of {repeats} x {figure.rounds})",
            file=out,
        )
    ratio = module.per_second / baseline.per_second
    print(f"{'ratio module/baseline':<28} {ratio:>10.2f}", file=out)
    print(f"request {len(QUERY)} bytes, reply {reply_size} bytes", file=out)
    return 0


async def _serve(request_size: int, reply_size: int) -> None:
    reply = b"x" * (reply_size - len(OK_TERMINATOR)) + OK_TERMINATOR

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                await reader.readexactly(request_size)
                writer.write(reply)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"port {port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "serve":
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(int(sys.argv[2]), int(sys.argv[3])))
    else:
        sys.exit(run_bench())
