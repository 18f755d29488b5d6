"""Bad input is normal input: error replies, never a crash, and the module keeps working."""

from __future__ import annotations

import random

import pytest
from conftest import ERROR, OK
from hypothesis import given
from hypothesis import strategies as st

from eswifi.testing import EmulatorHarness
from eswifi.wire.framing import UNKNOWN_COMMAND_REPLY, escape, unescape

MAC_REPLY = b"\r\nC4:7F:51:01:12:31\r\nOK\r\n> "
DEFAULT_P = b"\r\n0,0.0.0.0,5024,0.0.0.0,5025,0,0,1,0,0,0,7200000\r\nOK\r\n> "

BAD_INPUT = {
    "unknown code": (b"XY\r", UNKNOWN_COMMAND_REPLY),
    "unknown three-letter code": (b"P01\r", UNKNOWN_COMMAND_REPLY),
    "socket out of range": (b"P0=4\r", ERROR),
    "backlog out of range": (b"P8=99\r", ERROR),
    "port out of range": (b"P2=70000\r", ERROR),
    "port not a number": (b"P2=abc\r", ERROR),
    "negative port": (b"P2=-1\r", ERROR),
    "bad address": (b"P3=1.2.3\r", ERROR),
    "keep-alive idle too short": (b"PK=1,100\r", ERROR),
    "read size zero": (b"R1=0\r", ERROR),
    "read timeout too long": (b"R2=30001\r", ERROR),
    "400-byte line": (b"P2=" + b"1" * 397 + b"\r", ERROR),
    "send length too large": (b"S3=99999\r", ERROR),
    "send length not a number": (b"S3=ab\r", ERROR),
    "message type missing": (b"MT\r", ERROR),
    "too many arguments": (b"P2=" + b",".join([b"1"] * 20) + b"\r", ERROR),
}


@pytest.mark.parametrize("data,reply", BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_input_gets_an_error_and_leaves_registers_alone(
    module: EmulatorHarness, data: bytes, reply: bytes
) -> None:
    assert module.send(data) == reply
    assert module.send(b"P?\r") == DEFAULT_P
    assert module.send(b"Z5\r") == MAC_REPLY


def test_random_binary_does_not_stop_the_module(module: EmulatorHarness) -> None:
    garbage = random.Random(1234).randbytes(4096)
    module.send(garbage)
    module.advance(31)  # any payload read started by the garbage has timed out
    module.send(b"\r")
    assert module.send(b"Z5\r") == MAC_REPLY


@given(st.binary(max_size=600))
def test_engine_never_raises_and_keeps_answering(garbage: bytes) -> None:
    module = EmulatorHarness()
    out = module.send(garbage)
    out += module.advance(31)
    out += module.send(b"\r")
    stripped = out
    for byte in range(256):
        stripped = stripped.replace(b"[%02X]" % byte, b"")
    assert not stripped or stripped.endswith(b"> ")
    assert module.send(b"Z5\r") == MAC_REPLY


def test_verbose_errors_after_mt0(module: EmulatorHarness) -> None:
    assert module.send(b"MT=0\r") == OK
    assert module.send(b"P0=9\r") == b"\r\n\r\nERROR: Bad Argument\r\nUsage: P0 <0-3>\r\n> "
    assert module.send(b"MT\r") == (
        b"\r\n\r\nERROR: Unknown Error\r\nUsage: MT <0=Normal/1=Simple>\r\n> "
    )
    assert module.send(b"R0\r") == b"\r\n-1\r\nERROR: Unknown Error\r\nUsage: R0 \r\n> "
    assert module.send(b"QQ\r") == UNKNOWN_COMMAND_REPLY
    assert module.send(b"MT=1\rP0=9\r") == OK + ERROR


def test_framing_rules(module: EmulatorHarness) -> None:
    assert module.send(b"\r") == b"\r\n> "
    assert module.send(b"\x00Z5\r\n") == MAC_REPLY
    assert module.send(b"Z\x085\r") == b"[08]" + MAC_REPLY
    assert module.send(b"\xff\r") == b"[FF]\r\n> "
    assert module.send(b"P0=\r") == b"\r\n0\r\nOK\r\n> "  # empty fields collapse
    assert module.send(b"P2=0080\r") == OK  # leading zeros
    assert module.send(b"P?\r").startswith(b"\r\n0,0.0.0.0,80,")
    assert module.send(b"p0\r") == UNKNOWN_COMMAND_REPLY  # upper case only by default


def test_long_line_does_not_corrupt_the_next_command(module: EmulatorHarness) -> None:
    assert module.send(b"A" * 1000) == b""
    assert module.send(b"\rZ5\r") == ERROR + MAC_REPLY


def test_set_and_query_replies(module: EmulatorHarness) -> None:
    assert module.send(b"P0=3\r") == OK
    assert module.send(b"P0\r") == b"\r\n3\r\nOK\r\n> "
    assert module.send(b"I?\r") == (
        b"\r\nISM43362-M3G-L44,C6.2.1.11,v6.2.1,v2.0.3,v9.0.0,120000000,Inventek eS-WiFi"
        b"\r\nOK\r\n> "
    )
    assert module.send(b"MR\r") == ERROR  # no message queue on the UART build


def test_join_failures(module: EmulatorHarness) -> None:
    failed = b"\r\n[JOIN   ] eswifi-lab\r\n[JOIN   ] Failed\r\nERROR\r\n> "
    assert module.send(b"C1=eswifi-lab\rC2=wrong\rC3=3\r") == OK * 3
    assert module.send(b"C0\r") == failed
    assert module.send(b"CS\r") == b"\r\n0\r\nOK\r\n> "
    retried = b"\r\n[JOIN   ] nowhere" + b"\r\n[JOIN   ] Retrying" * 5 + failed[-29:]
    assert module.send(b"C1=nowhere\rC0\r") == OK + retried
    assert module.send(b"C1=eswifi-open\rC3=0\rC0\r") == (
        OK * 2 + b"\r\n[JOIN   ] eswifi-open,127.0.0.1,0,0\r\nOK\r\n> "
    )
    assert module.send(b"C?\r") == (
        b"\r\neswifi-open,wrong,0,1,0,127.0.0.1,255.0.0.0,127.0.0.1,127.0.0.1,0.0.0.0,"
        b"5,0,0,US,1\r\nOK\r\n> "
    )
    assert module.send(b"CR\r") == b"\r\n-67\r\nOK\r\n> "


@given(st.binary(max_size=200))
def test_escape_round_trips(data: bytes) -> None:
    text = escape(data)
    assert text.isprintable()
    assert unescape(text) == data


def test_control_bytes_are_echoed_in_order_around_a_command(module: EmulatorHarness) -> None:
    assert module.send(b"\x01\x02Z\x1b\x1b5\n\r\x03") == b"[01][02][1B][1B]" + MAC_REPLY + b"[03]"


def test_a_run_of_control_bytes_costs_one_reply_not_one_per_byte(module: EmulatorHarness) -> None:
    """1 MiB of 0x01 is answered in time linear in its length: one write per run."""
    engine = module.engine
    engine.receive_host(b"\x01" * 65536, now=0)
    writes = engine.drain_effects()
    assert len(writes) == 1
    assert writes[0].data == b"[01]" * 65536
