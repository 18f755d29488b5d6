"""R3, R4 and S0 in memory, on accepted and client connections alike (spec §2.4, §2.5)."""

from __future__ import annotations

import pytest
from conftest import OK

from eswifi.emulator.backends.fake import FakePeer
from eswifi.testing import EmulatorHarness


@pytest.fixture(params=["accepted", "client"])
def peer(request: pytest.FixtureRequest, joined: EmulatorHarness) -> FakePeer:
    """The remote end of the current socket's connection, however it was opened."""
    if request.param == "accepted":
        joined.send(b"P2=5024\rP5=11\r")
        remote = joined.network.connect("127.0.0.1", 5024, source=("10.0.0.9", 40000))
    else:
        server = joined.network.serve("10.0.0.2", 7000)
        joined.send(b"P3=10.0.0.2\rP4=7000\rP6=1\r")
        remote = server.peers[0]
    joined.output()
    return remote


def test_r4_prefixes_the_length(joined: EmulatorHarness, peer: FakePeer) -> None:
    peer.send(b"hello")
    assert joined.send(b"R4\r") == b"\r\n0005hello\r\nOK\r\n> "
    joined.send(b"R2=10\r")
    assert joined.send(b"R4\r") + joined.advance(0.01) == b"\r\n0000\r\nOK\r\n> "


def test_r4_after_close_is_minus_one(joined: EmulatorHarness, peer: FakePeer) -> None:
    peer.close()
    assert joined.send(b"R4\r") == b"\r\n-1\r\n\r\nERROR\r\n> "


def test_r3_1_drops_the_crlf_before_the_data(joined: EmulatorHarness, peer: FakePeer) -> None:
    peer.send(b"abc")
    assert joined.send(b"R3=1\rR0\r") == OK + b"abc\r\nOK\r\n> "
    peer.send(b"de")
    assert joined.send(b"R4\r") == b"0002de\r\nOK\r\n> "
    joined.send(b"R2=10\r")
    assert joined.send(b"R0\r") + joined.advance(0.01) == OK
    peer.send(b"f")
    assert joined.send(b"R3=0\rR0\r") == OK + b"\r\nf\r\nOK\r\n> "


def test_s0_sends_s1_bytes(joined: EmulatorHarness, peer: FakePeer) -> None:
    assert joined.send(b"S1=4\r") == OK
    # The payload is raw: it may hold what looks like a command.
    assert joined.send(b"S0\rP0=1") == b"\r\n4\r\nOK\r\n> "
    assert bytes(peer.received) == b"P0=1"
    assert joined.send(b"P0\r") == b"\r\n0\r\nOK\r\n> "


def test_s3_and_r0_on_the_connection(joined: EmulatorHarness, peer: FakePeer) -> None:
    peer.send(b"in")
    assert joined.send(b"R0\r") == b"\r\nin\r\nOK\r\n> "
    assert joined.send(b"S3=0003\rout") == b"\r\n3\r\nOK\r\n> "
    assert bytes(peer.received) == b"out"
