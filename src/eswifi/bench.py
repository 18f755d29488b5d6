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
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO

from eswifi.testing.launch import EmulatorProcess
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


def _drain_until(sock: socket.socket, data: bytes, marker: bytes, replies: int) -> bytes:
    """Send ``data`` and read until ``marker`` was seen ``replies`` times."""
    sock.sendall(data)
    buffer = bytearray()
    while buffer.count(marker) < replies:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the module closed the console")
        buffer += chunk
    return bytes(buffer)


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """One kind of command exchange to time."""

    name: str
    request: bytes
    """What the host sends each round (command line and any payload)."""
    setup: bytes = JOIN
    """Commands sent once before timing (each answered before the next)."""


ROUND_TRIP = Scenario(name="P? round trip", request=QUERY)
SEND_1460 = Scenario(
    name="S3 1460-byte send",
    request=b"S3=1460\r" + bytes(range(256)) * 5 + bytes(180),
    setup=JOIN + b"P1=0\rP3=127.0.0.1\rP4={sink}\rP6=1\r",
)


@contextlib.contextmanager
def _sink() -> Iterator[int]:
    """A loopback TCP server that reads and discards everything; yields its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def drain() -> None:
        listener.settimeout(10)
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(0.2)
            while not stop.is_set():
                try:
                    if not conn.recv(65536):
                        return
                except TimeoutError:
                    continue
                except OSError:
                    return

    worker = threading.Thread(target=drain, daemon=True)
    worker.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()
        worker.join(5)


def measure_module(scenario: Scenario, rounds: int, repeats: int) -> tuple[Figure, int]:
    """Time the scenario through the emulator's console; also returns the reply size."""
    with EmulatorProcess() as emulator, _sink() as sink_port:
        host, port = emulator.url.removeprefix("socket://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            setup = scenario.setup.replace(b"{sink}", b"%d" % sink_port)
            _drain_until(sock, setup, b"> ", setup.count(b"\r"))
            reply = _drain_until(sock, scenario.request, OK_TERMINATOR, 1)
            if not reply.endswith(OK_TERMINATOR) or b"ERROR" in reply:
                raise RuntimeError(f"{scenario.name}: the module answered {reply!r}")
            trips = [
                _round_trips(sock, scenario.request, OK_TERMINATOR, rounds)
                for _ in range(repeats + 1)  # the first is a warm-up
            ]
    return Figure(name=f"module {scenario.name}", rounds=rounds, seconds=min(trips[1:])), len(reply)


def measure_baseline(request_size: int, reply_size: int, rounds: int, repeats: int) -> Figure:
    """Round trips against a raw asyncio loopback server with the same sizes."""
    reply = b"x" * (reply_size - len(OK_TERMINATOR)) + OK_TERMINATOR
    request = b"r" * request_size
    proc = subprocess.Popen(
        [sys.executable, "-m", "eswifi.bench", "serve", str(request_size), str(reply_size)],
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline().decode().split()[-1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            trips = [_round_trips(sock, request, reply, rounds) for _ in range(repeats + 1)]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    return Figure(name="raw loopback, same sizes", rounds=rounds, seconds=min(trips[1:]))


def run_bench(*, rounds: int = 2000, repeats: int = 3, out: TextIO = sys.stdout) -> int:
    """Measure each scenario and its baseline in this run; print both and their ratio."""
    for scenario in (ROUND_TRIP, SEND_1460):
        module, reply_size = measure_module(scenario, rounds, repeats)
        baseline = measure_baseline(len(scenario.request), reply_size, rounds, repeats)
        print(
            f"{scenario.name}: request {len(scenario.request)} bytes, reply {reply_size} bytes",
            file=out,
        )
        for figure in (module, baseline):
            per_trip = figure.seconds / figure.rounds * 1e6
            print(
                f"  {figure.name:<28} {figure.per_second:>8.0f}/s  ({per_trip:.1f} µs each, "
                f"best of {repeats} x {figure.rounds})",
                file=out,
            )
        ratio = module.per_second / baseline.per_second
        print(f"  {'ratio module/baseline':<28} {ratio:>8.2f}", file=out)
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
