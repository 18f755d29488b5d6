"""Sessions that start clean: ``Module.start_fresh`` and ``join`` on a module that an
earlier host program left joined, with sockets open (in-process module, virtual time)."""

from __future__ import annotations

import socket

import pytest

from eswifi.client import Module
from eswifi.errors import CommandError
from eswifi.testing import EmulatorHarness, EngineLink

SSID, PASSPHRASE = "eswifi-lab", "eswifi-pass"


def commands(link: EngineLink) -> list[bytes]:
    """The command codes the client wrote (payloads excluded)."""
    return [line[:2] for line in bytes(link.written).split(b"\r") if line]


def earlier_program(harness: EmulatorHarness, *, spi: bool = False) -> None:
    """A host program that joins, opens three sockets and ends without closing them."""
    module = Module(EngineLink(harness), spi=spi)
    module.join(SSID, PASSPHRASE)
    server = module.socket()
    server.bind(("", 8080))
    server.listen()
    harness.network.serve("10.0.0.7", 7)
    client = module.socket()
    client.connect(("10.0.0.7", 7))
    udp = module.socket(type=socket.SOCK_DGRAM)
    udp.bind(("", 5000))
    harness.network.connect("127.0.0.1", 8080, source=("10.0.0.9", 40000))


@pytest.mark.parametrize("spi", [False, True], ids=["uart", "spi"])
def test_start_fresh_closes_what_an_earlier_program_left_open(spi: bool) -> None:
    harness = EngineLink(spi=True).harness if spi else EmulatorHarness()
    earlier_program(harness, spi=spi)
    engine = harness.engine
    assert any(slot.server is not None for slot in engine.sockets)

    module = Module(EngineLink(harness), spi=spi)
    module.start_fresh()
    assert all(slot.server is None and slot.connection is None for slot in engine.sockets)
    assert module.messages() == []

    # Everything the earlier program had works again, on the same ports.
    assert module.join(SSID, PASSPHRASE) == "127.0.0.1"
    server = module.socket()
    server.bind(("", 8080))
    server.listen()
    udp = module.socket(type=socket.SOCK_DGRAM)
    udp.bind(("", 5000))
    peer = harness.network.connect("127.0.0.1", 8080, source=("10.0.0.9", 40001))
    peer.send(b"again")
    conn, address = server.accept()
    assert address == ("10.0.0.9", 40001)
    assert conn.recv(10) == b"again"


def test_start_fresh_sends_p6_and_p5_for_each_socket_and_keeps_the_network() -> None:
    link = EngineLink()
    module = Module(link)
    module.join(SSID, PASSPHRASE)
    del link.written[:]
    module.start_fresh()
    lines = [line for line in bytes(link.written).split(b"\r") if line]
    expected = []
    for slot in range(4):
        expected += [b"P0=%d" % slot, b"P6=0", b"P5=0"]
    assert lines == expected
    assert module.is_joined()


def test_start_fresh_marks_this_modules_sockets_closed() -> None:
    link = EngineLink()
    module = Module(link)
    module.join(SSID, PASSPHRASE)
    server = module.socket()
    server.listen()
    module.start_fresh()
    assert module.sockets() == (None, None, None, None)
    with pytest.raises(OSError):
        server.accept()


def test_join_when_already_joined_returns_the_address_without_joining_again() -> None:
    harness = EmulatorHarness()
    Module(EngineLink(harness)).join(SSID, PASSPHRASE)
    link = EngineLink(harness)
    module = Module(link)
    assert module.join(SSID, PASSPHRASE) == "127.0.0.1"
    assert commands(link) == [b"C?"]
    assert module.ip() == "127.0.0.1"


def test_join_to_another_network_leaves_the_current_one_first() -> None:
    link = EngineLink()
    module = Module(link)
    module.join(SSID, PASSPHRASE)
    del link.written[:]
    assert module.join("eswifi-open") == "127.0.0.1"
    assert b"CD" in commands(link) and b"C0" in commands(link)
    assert module.status().ssid == "eswifi-open"


def test_join_with_another_passphrase_really_joins_again() -> None:
    module = Module(EngineLink())
    module.join(SSID, PASSPHRASE)
    with pytest.raises(CommandError):
        module.join(SSID, "not-the-passphrase")
    assert not module.is_joined()
