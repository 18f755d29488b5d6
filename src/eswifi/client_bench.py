"""Client-library throughput over a real module link, for ``eswifi bench``.

:func:`measure_client` drives :class:`~eswifi.client.Module` against a module (usually
``eswifi emulate`` in a subprocess) the way an application does, with a loopback TCP peer
on this machine:

* ``recv``: the peer sends ``size`` random bytes; the module socket reads them with
  ``recv`` (``R4`` commands) until all have arrived;
* ``sendall``: the module socket sends ``size`` random bytes (``S3`` per 1460 bytes) until
  the peer has received them all;
* ``command``: ``rounds`` round trips of ``module.command("P?")``.

Data is checked with SHA-256 on both paths; a mismatch raises. Nothing here prints.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from eswifi.client import Module

PEER_TIMEOUT = 60.0
"""Seconds the loopback peer waits for the module before giving up."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientFigures:
    """What :func:`measure_client` measured."""

    size: int
    """Bytes moved each way."""
    rounds: int
    """``command("P?")`` round trips."""
    recv_seconds: float
    sendall_seconds: float
    command_seconds: float

    @property
    def recv_mb_per_s(self) -> float:
        return self.size / self.recv_seconds / 1e6

    @property
    def sendall_mb_per_s(self) -> float:
        return self.size / self.sendall_seconds / 1e6

    @property
    def commands_per_s(self) -> float:
        return self.rounds / self.command_seconds


class _Peer:
    """A loopback TCP server that serves one connection with ``handler`` in a thread."""

    def __init__(self, handler: Callable[[socket.socket], None]) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(PEER_TIMEOUT)
        self.address = self._server.getsockname()
        self._handler = handler
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="bench-peer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            conn, _ = self._server.accept()
            with conn:
                conn.settimeout(PEER_TIMEOUT)
                self._handler(conn)
        except BaseException as exc:  # re-raised by join()
            self._error = exc
        finally:
            self._server.close()

    def join(self) -> None:
        self._thread.join(PEER_TIMEOUT)
        if self._thread.is_alive():
            raise TimeoutError("the benchmark peer did not finish")
        if self._error is not None:
            raise self._error


def measure_client(
    url: str,
    *,
    link: Literal["uart", "spi"] = "uart",
    size: int = 2_000_000,
    rounds: int = 2000,
    ssid: str = "eswifi-lab",
    passphrase: str = "eswifi-pass",
) -> ClientFigures:
    """Measure ``recv``, ``sendall`` and ``command("P?")`` through the module at ``url``.

    The module joins ``ssid`` first unless it already is joined.

    Raises:
        ValueError: ``size`` or ``rounds`` is not positive.
        RuntimeError: data arrived changed or incomplete.
        EsWifiError, OSError: the module or the link failed.
    """
    if size < 1 or rounds < 1:
        raise ValueError("size and rounds must be positive")
    data = os.urandom(size)
    digest = hashlib.sha256(data).digest()
    with Module.open(url, link=link) as module:
        if not module.is_joined():
            module.join(ssid, passphrase)
        recv_seconds = _time_recv(module, data, digest)
        sendall_seconds = _time_sendall(module, data, digest)
        start = time.perf_counter()
        for _ in range(rounds):
            module.command("P?")
        command_seconds = time.perf_counter() - start
    return ClientFigures(
        size=size,
        rounds=rounds,
        recv_seconds=recv_seconds,
        sendall_seconds=sendall_seconds,
        command_seconds=command_seconds,
    )


def _time_recv(module: Module, data: bytes, digest: bytes) -> float:
    peer = _Peer(lambda conn: conn.sendall(data))
    received = bytearray()
    with module.socket() as sock:
        sock.settimeout(PEER_TIMEOUT)
        sock.connect(peer.address)
        start = time.perf_counter()
        while len(received) < len(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        seconds = time.perf_counter() - start
    peer.join()
    if hashlib.sha256(received).digest() != digest:
        raise RuntimeError(f"recv: {len(received)} bytes arrived, not the {len(data)} sent")
    return seconds


def _time_sendall(module: Module, data: bytes, digest: bytes) -> float:
    received = hashlib.sha256()
    count = 0
    done = threading.Event()

    def sink(conn: socket.socket) -> None:
        nonlocal count
        while count < len(data):
            chunk = conn.recv(65536)
            if not chunk:
                break
            received.update(chunk)
            count += len(chunk)
        done.set()

    peer = _Peer(sink)
    with module.socket() as sock:
        sock.settimeout(PEER_TIMEOUT)
        sock.connect(peer.address)
        start = time.perf_counter()
        sock.sendall(data)
        done.wait(PEER_TIMEOUT)
        seconds = time.perf_counter() - start
    peer.join()
    if count != len(data) or received.digest() != digest:
        raise RuntimeError(f"sendall: the peer received {count} bytes, not the {len(data)} sent")
    return seconds
