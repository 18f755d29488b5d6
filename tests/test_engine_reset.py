"""A reboot (ZR) and a new host start clean: nothing half-read or half-done survives them."""

from __future__ import annotations

import pytest
from conftest import JOIN, OK

from eswifi.emulator.timing import FAST
from eswifi.testing import EmulatorHarness

INFO = b"\r\nISM43362-M3G-L44-SPI,C6.2.1.11,v3.5.2,v1.4.0.rc1,v8.2.1,120000000,Inventek eS-WiFi"
PROMPT = b"\r\n> "

RESET_DELAY = FAST.reset_ms / 1000
"""Seconds between ``ZR`` and the module talking again (default timing)."""


def info_reply(module: EmulatorHarness) -> bytes:
    return module.send(b"I?\r")


@pytest.mark.parametrize(
    "pipelined",
    [b"S3=100\r", b"PG=0,0,100\r", b"S0\r", b"S3=4\rab", b"P2=80\r", b"I?\rS3=10\r"],
    ids=["S3", "PG", "S0", "half payload", "setter", "command then payload"],
)
def test_commands_pipelined_after_zr_are_dropped_with_the_reboot(
    module: EmulatorHarness, pipelined: bytes
) -> None:
    expected_info = info_reply(module)
    assert module.send(b"ZR\r" + pipelined) == b"\r\nReset"
    assert module.advance(RESET_DELAY) == PROMPT
    assert info_reply(module) == expected_info
    assert module.send(b"P?\r").startswith(b"\r\n0,0.0.0.0,5024,")


def test_a_reboot_resets_a_payload_read_in_progress(module: EmulatorHarness) -> None:
    """A payload started in the chunk that also carried ZR is no payload after the reboot."""
    expected_info = info_reply(module)
    module.send(b"ZR\rS3=100\r")
    module.advance(RESET_DELAY)
    assert not module.engine.busy
    assert module.engine.host_backlog == 0
    assert info_reply(module) == expected_info


def test_sockets_opened_by_commands_pipelined_after_zr_do_not_exist(
    joined: EmulatorHarness,
) -> None:
    module = joined
    for _ in range(50):
        module.send(b"ZR\rP0=1\rP1=0\rP2=6000\rP5=1\r")
        module.advance(RESET_DELAY)
        module.send(JOIN)
        assert module.network.listening_ports() == []
        with pytest.raises(ConnectionRefusedError):
            module.network.connect("127.0.0.1", 6000, source=("127.0.0.1", 40000))
    assert module.send(b"P0=1\rP?\r").startswith(OK + b"\r\n0,0.0.0.0,5024,")


def test_host_bytes_during_the_reboot_are_ignored(module: EmulatorHarness) -> None:
    module.send(b"ZR\r")
    assert module.send(b"S3=100\rP2=80\r") == b""
    assert module.advance(RESET_DELAY) == PROMPT
    assert module.send(b"P?\r").startswith(b"\r\n0,0.0.0.0,5024,")


# ---------------------------------------------------------------- a new host attaches


def _client(joined: EmulatorHarness):
    server = joined.network.serve("127.0.0.1", 9000)
    reply = joined.send(b"P0=0\rP1=0\rP3=127.0.0.1\rP4=9000\rP6=1\r")
    assert reply.endswith(b"[TCP  RC] Connecting to 127.0.0.1\r\nOK\r\n> ")
    return server.peers[0]


def test_a_half_sent_payload_of_the_previous_host_is_forgotten(joined: EmulatorHarness) -> None:
    peer = _client(joined)
    assert joined.send(b"S3=10\rabc") == b""
    joined.attach()
    assert info_reply(joined).startswith(b"\r\nISM43362")
    assert joined.send(b"S3=2\rok") == b"\r\n2\r\nOK\r\n> "
    assert bytes(peer.received) == b"ok"


def test_a_long_read_wait_of_the_previous_host_answers_nothing(joined: EmulatorHarness) -> None:
    _client(joined)
    assert joined.send(b"R2=3000\rR0\r") == OK
    joined.attach()
    assert joined.output() == b""
    assert info_reply(joined).startswith(b"\r\nISM43362")
    assert joined.advance(5) == b""


def test_an_endless_read_wait_of_the_previous_host_is_ended(joined: EmulatorHarness) -> None:
    _client(joined)
    assert joined.send(b"R2=0\rR0\r") == OK
    joined.attach()
    assert info_reply(joined).startswith(b"\r\nISM43362")
    assert joined.send(b"ZR\r") == b"\r\nReset"


def test_bytes_the_previous_host_pipelined_are_forgotten(joined: EmulatorHarness) -> None:
    _client(joined)
    assert joined.send(b"R2=0\rR0\rP2=80\rI?\r") == OK
    joined.attach()
    assert joined.send(b"P?\r").startswith(b"\r\n0,0.0.0.0,5024,127.0.0.1,9000,")


def test_a_pending_connect_of_the_previous_host_leaves_no_socket(
    joined: EmulatorHarness,
) -> None:
    joined.network.black_hole("127.0.0.1", 9001)
    assert joined.send(b"P0=2\rP1=0\rP3=127.0.0.1\rP4=9001\rP6=1\r") == OK + OK + OK + OK
    joined.attach()
    assert joined.output() == b""
    assert joined.send(b"P0=2\rR0\r") == OK + b"\r\n-1\r\nERROR\r\n> "


@pytest.mark.parametrize("half", [b"S3=10\rabc", b"PG=0,0,100\rxyz", b"P2=80"])
def test_the_reset_pin_forgets_a_payload_or_line_half_read(
    module: EmulatorHarness, half: bytes
) -> None:
    expected_info = info_reply(module)
    module.send(half)
    module.engine.pulse_reset(now=module.now)
    assert (module.output() + module.advance(1)).endswith(PROMPT)  # booted
    assert not module.engine.busy
    assert info_reply(module) == expected_info
    assert module.send(b"P?\r").startswith(b"\r\n0,0.0.0.0,5024,")
