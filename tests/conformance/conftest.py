"""The socket implementations the conformance suite runs on.

``net`` is CPython's own ``socket`` module, or eswifi sockets on a module emulated by a
subprocess (``eswifi emulate``) reached over its TCP console or its pty, as the UART or the
SPI build. Peers are always CPython sockets on 127.0.0.1.
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from eswifi.client import Module

HOST = "127.0.0.1"
START_TIMEOUT = 30.0


@dataclass
class Net:
    """One socket implementation under test."""

    name: str
    module: Module | None = None
    host: str = HOST

    def socket(self, family: int = socket.AF_INET, type: int = socket.SOCK_STREAM) -> Any:
        if self.module is None:
            return socket.socket(family, type)
        return self.module.socket(family, type)

    def cleanup(self) -> None:
        """Close what a test left open, so the next test starts with four free sockets."""
        if self.module is not None:
            for sock in self.module.sockets():
                if sock is not None:
                    sock.close()


class Emulator:
    """``eswifi emulate`` in a subprocess; :attr:`url` is its link."""

    def __init__(self, *, pty: bool, spi: bool) -> None:
        where = ["--pty"] if pty else ["--listen", f"{HOST}:0"]
        argv = [
            sys.executable,
            "-m",
            "eswifi",
            "emulate",
            *where,
            "--link",
            "spi" if spi else "uart",
        ]
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            self.url = self._first_line().removeprefix("link: ").strip()
        except BaseException:
            self.close()
            raise

    def _first_line(self) -> str:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + START_TIMEOUT
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(0.0, remaining))
            if not ready:
                raise RuntimeError("the emulator did not print its link in time")
            chunk = os.read(fd, 1)
            if not chunk:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"the emulator exited: {err}")
            line += chunk
        return line.decode()

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


IMPLEMENTATIONS = [
    "cpython",
    "eswifi-tcp-uart",
    "eswifi-pty-uart",
    "eswifi-tcp-spi",
    "eswifi-pty-spi",
]


@pytest.fixture(scope="module", params=IMPLEMENTATIONS)
def _net(request: pytest.FixtureRequest) -> Iterator[Net]:
    name = request.param
    if name == "cpython":
        yield Net(name)
        return
    emulator = Emulator(pty="pty" in name, spi=name.endswith("spi"))
    try:
        module = Module.open(emulator.url, "spi" if name.endswith("spi") else "uart")
        try:
            module.join("eswifi-lab", "eswifi-pass")
            yield Net(name, module=module)
        finally:
            module.close()
    finally:
        emulator.close()


@pytest.fixture
def net(_net: Net) -> Iterator[Net]:
    yield _net
    _net.cleanup()
