"""The benchmark's host side: a minimal raw AT client and the loopback peers it talks to.

The same code drives the emulator and its baseline (the raw relay), so a figure and its
baseline differ only in what answers. :class:`Console` speaks to a TCP console or a pty
with plain blocking calls; :class:`Sink` and :class:`Source` are the network peers of a
transfer, checking or producing a known byte stream whose SHA-256 is compared at the end.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import select
import socket
import threading
import time
from collections.abc import Callable

from eswifi.wire.framing import OK_TERMINATOR

WAIT = 15.0
"""Seconds any single reply may take before the benchmark gives up."""
CHUNK = 1460
"""Bytes per S3 send and per R0 read: one TCP segment's payload on the module."""
JOIN = b"C1=eswifi-lab\rC2=eswifi-pass\rC3=3\rC0\r"


class BenchError(RuntimeError):
    """A measured exchange went wrong (a bad reply, lost bytes, a timeout)."""


def pattern(size: int) -> bytes:
    """``size`` bytes of a stream that makes lost, doubled or reordered bytes visible."""
    block = hashlib.sha256(b"eswifi").digest() * 8 + bytes(range(256))
    return (block * (size // len(block) + 1))[:size]


class Console:
    """A host's end of the module link: ``socket://HOST:PORT`` or a pty path."""

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("socket://"):
            host, port = url.removeprefix("socket://").rsplit(":", 1)
            sock = socket.create_connection((host.strip("[]"), int(port)), timeout=WAIT)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock: socket.socket | None = sock
            self._fd = sock.fileno()
        else:
            import tty  # POSIX only, like the pty link itself

            self._sock = None
            self._fd = os.open(url, os.O_RDWR | os.O_NOCTTY)
            tty.setraw(self._fd)
        self._buffer = bytearray()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        else:
            os.close(self._fd)

    def __enter__(self) -> Console:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        if self._sock is not None:
            self._sock.sendall(data)
            return
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def read_until(self, done: Callable[[bytearray], bool]) -> bytes:
        """Read until ``done(buffer)``; return the buffer and start a new one."""
        buffer = self._buffer
        while not done(buffer):
            if not select.select([self._fd], [], [], WAIT)[0]:
                raise BenchError(f"no reply within {WAIT:g} s after {bytes(buffer[-80:])!r}")
            chunk = os.read(self._fd, 65536) if self._sock is None else self._sock.recv(65536)
            if not chunk:
                raise BenchError("the link closed")
            buffer += chunk
        data = bytes(buffer)
        buffer.clear()
        return data

    def exchange(self, data: bytes, end: bytes = OK_TERMINATOR) -> bytes:
        """Send ``data`` and read the reply ending with ``end``."""
        self.send(data)
        return self.read_until(lambda buffer: buffer.endswith(end))

    def setup(self, *commands: bytes) -> None:
        """Send commands one at a time; each must end with OK."""
        for command in commands:
            reply = self.exchange(command, b"> ")
            if not reply.endswith(OK_TERMINATOR):
                raise BenchError(f"{command!r} was answered {reply!r}")


class Sink:
    """A loopback TCP peer that takes one connection and hashes everything it receives."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.hash = hashlib.sha256()
        self.count = 0
        self._arrived = threading.Condition()
        self._conn: socket.socket | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self._listener.settimeout(WAIT)
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        self._conn = conn
        with conn:
            while chunk := _recv(conn):
                with self._arrived:
                    self.hash.update(chunk)
                    self.count += len(chunk)
                    self._arrived.notify_all()

    def wait_for(self, count: int) -> None:
        """Block until ``count`` bytes arrived."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: self.count >= count, WAIT):
                raise BenchError(f"the peer received {self.count} of {count} bytes")

    def close(self) -> None:
        self._listener.close()
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.shutdown(socket.SHUT_RDWR)
        self._thread.join(WAIT)


def _recv(conn: socket.socket) -> bytes:
    try:
        return conn.recv(262144)
    except OSError:
        return b""


class Source:
    """A loopback TCP peer that takes one connection and sends ``data`` to it."""

    def __init__(self, data: bytes) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._data = data
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self._listener.settimeout(WAIT)
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        with conn:
            try:
                conn.sendall(self._data)
                conn.settimeout(WAIT)
                conn.recv(1)  # hold the connection until the module side closes it
            except OSError:
                pass

    def close(self) -> None:
        self._listener.close()
        self._thread.join(WAIT)


def connect_commands(port: int) -> tuple[bytes, ...]:
    """Socket 0 as a TCP client of the peer at 127.0.0.1:``port``."""
    return (b"P0=0\r", b"P1=0\r", b"P3=127.0.0.1\r", b"P4=%d\r" % port, b"P6=1\r")


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


# --------------------------------------------------------------------------- raw exchanges


def round_trips(console: Console, request: bytes, rounds: int) -> list[float]:
    """Each round's seconds: send ``request``, read its reply."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        console.exchange(request)
        times.append(time.perf_counter() - start)
    return times


def send_stream(console: Console, data: bytes, sink: Sink, deadline: float) -> tuple[int, float]:
    """S3 ``data`` in 1,460-byte chunks, one reply each; returns (bytes, seconds) once the
    peer has them all. Stops early (with a prefix) at ``deadline``."""
    start = time.perf_counter()
    sent = 0
    while sent < len(data) and time.perf_counter() < deadline:
        chunk = data[sent : sent + CHUNK]
        reply = console.exchange(b"S3=%d\r" % len(chunk) + chunk)
        if not reply.startswith(b"\r\n%d\r\n" % len(chunk)):
            raise BenchError(f"S3 was answered {reply[:60]!r}")
        sent += len(chunk)
    sink.wait_for(sent)
    seconds = time.perf_counter() - start
    if sink.count != sent or sink.hash.digest() != hashlib.sha256(data[:sent]).digest():
        raise BenchError("the peer received other bytes than were sent (SHA-256 differs)")
    return sent, seconds


def receive_stream(console: Console, data: bytes, deadline: float) -> tuple[int, float]:
    """R0 until ``data`` (sent by a :class:`Source`) arrived; returns (bytes, seconds).
    Stops early (with a prefix) at ``deadline``."""
    digest = hashlib.sha256()
    received = 0
    start = time.perf_counter()
    while received < len(data) and time.perf_counter() < deadline:
        reply = console.exchange(b"R0\r")
        if not reply.startswith(b"\r\n") or reply.endswith(b"ERROR\r\n> "):
            raise BenchError(f"R0 was answered {reply[:60]!r}")
        body = reply[2 : -len(OK_TERMINATOR)]
        digest.update(body)
        received += len(body)
    seconds = time.perf_counter() - start
    if digest.digest() != hashlib.sha256(data[:received]).digest():
        raise BenchError("R0 returned other bytes than the peer sent (SHA-256 differs)")
    return received, seconds


def accept_cycles(console: Console, port: int, rounds: int) -> float:
    """Seconds for ``rounds`` of: a peer connects, ``Accepted`` arrives, ``P5=10``."""
    start = time.perf_counter()
    for _ in range(rounds):
        with socket.create_connection(("127.0.0.1", port), timeout=WAIT):
            console.read_until(lambda buffer: b"Accepted" in buffer and buffer.endswith(b"> "))
            console.exchange(b"P5=10\r")
    return time.perf_counter() - start
