"""``eswifi emulate -v`` tells what happens: hosts, peers and OS errors, on stderr."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from eswifi.client import Module
from eswifi.testing import EmulatorProcess

pytestmark = pytest.mark.subprocess

HOST = "127.0.0.1"
WAIT = 20.0


@pytest.fixture
def taken() -> Iterator[int]:
    """A port another program already listens on."""
    with socket.create_server((HOST, 0)) as other:
        yield other.getsockname()[1]


def session(emulator: EmulatorProcess, taken: int) -> None:
    """Attach, start a server on a taken port (refused) and on a free one, let a peer
    connect and leave, detach."""
    with Module.open(emulator.url, timeout=WAIT) as module:
        module.join("eswifi-lab", "eswifi-pass")
        assert module.command("P1=0").ok
        assert module.command(f"P2={taken}").ok
        assert not module.command("P5=1", check=False).ok  # port in use on this machine
        server = module.socket()
        server.bind(("", 0))
        server.listen()
        port = server.getsockname()[1]
        with socket.create_connection((HOST, port), timeout=WAIT) as peer:
            conn, _ = server.accept()
            peer.sendall(b"x")
            assert conn.recv(1) == b"x"
        assert conn.recv(1) == b""  # the peer closed: the module saw it
        conn.close()
        server.close()


def test_verbose_logs_hosts_peers_and_os_errors(taken: int) -> None:
    with EmulatorProcess("--listen", f"{HOST}:0", "-v", wait=WAIT) as emulator:
        session(emulator, taken)
        assert emulator.stop(wait=WAIT) == 0
        lines = emulator.errors().splitlines()
    assert all(line.startswith("eswifi emulate: ") for line in lines), lines
    text = "\n".join(lines)
    assert "host attached (socket://127.0.0.1:" in text
    assert f"cannot listen on 127.0.0.1:{taken}: " in text
    assert "connected to server" in text
    assert "closed its side" in text
    assert "host detached" in text
    assert "Traceback" not in text


def test_without_verbose_the_emulator_is_quiet(taken: int) -> None:
    with EmulatorProcess("--listen", f"{HOST}:0", wait=WAIT) as emulator:
        session(emulator, taken)
        assert emulator.stop(wait=WAIT) == 0
        assert emulator.errors() == ""
