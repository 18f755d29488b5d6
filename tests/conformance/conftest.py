"""The socket implementations the conformance suite runs on.

``net`` is CPython's own ``socket`` module, or eswifi sockets on a module emulated by a
subprocess (``eswifi emulate``) reached over its TCP console or its pty, as the UART or the
SPI build. Peers are always CPython sockets on 127.0.0.1.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from eswifi.client import Module
from eswifi.testing.launch import EmulatorProcess

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


def start_emulator(*, pty: bool, spi: bool) -> EmulatorProcess:
    """``eswifi emulate`` in a subprocess, on a TCP console or a pty, UART or SPI build."""
    where = ["--pty"] if pty else ["--listen", f"{HOST}:0"]
    return EmulatorProcess(*where, "--link", "spi" if spi else "uart", wait=START_TIMEOUT)


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
    emulator = start_emulator(pty="pty" in name, spi=name.endswith("spi"))
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
