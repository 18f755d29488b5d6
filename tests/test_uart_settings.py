"""UART settings: U? / U2 / U0 on the UART build, their errors, and the SPI build's answer."""

from __future__ import annotations

import pytest
import serial
from conftest import ERROR, OK

from eswifi.cli.term import completions
from eswifi.emulator import messages as m
from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.profile import SPI_C3525
from eswifi.testing import EmulatorHarness, EmulatorProcess
from eswifi.wire.commands import COMMANDS

OK_END = b"\r\nOK\r\n> "


def value(text: bytes) -> bytes:
    return b"\r\n" + text + OK_END


def st_uart_config(reply: bytes) -> dict[str, int]:
    """What ST's ES_WIFI_GetUARTConfig makes of a U? reply (six numbers after the CRLF)."""
    assert OK_END in reply
    names = ("port", "baud", "data_width", "parity", "stop_bits", "mode")
    fields = reply[2:].split(b"\r")[0].split(b",")
    assert len(fields) == len(names)
    return {name: int(field) for name, field in zip(names, fields, strict=True)}


def test_power_up_settings_as_st_reads_them(module: EmulatorHarness) -> None:
    reply = module.send(b"U?\r")
    assert reply == value(b"0,115200,8,0,1,0")
    assert st_uart_config(reply) == {
        "port": 0,
        "baud": 115200,
        "data_width": 8,
        "parity": 0,
        "stop_bits": 1,
        "mode": 0,
    }


def test_u2_stores_the_rate_and_u0_applies_it_after_its_reply(module: EmulatorHarness) -> None:
    # ST's ES_WIFI_SetUARTBaudRate: U2=<baud>, then U0, each needing OK.
    assert module.send(b"U2=921600\r") == OK
    assert st_uart_config(module.send(b"U?\r"))["baud"] == 921600
    assert module.line_rates == []  # U2 alone changes nothing on the line
    assert module.send(b"U0\r") == OK
    assert module.line_rates == [921600]
    assert module.send(b"U0\r") == OK  # already at that rate: nothing changes
    assert module.line_rates == [921600]
    assert module.send(b"I?\r").endswith(OK_END)


def test_the_new_rate_follows_u0s_reply_in_effect_order() -> None:
    engine = ModuleEngine()
    engine.receive_host(b"U2=9600\rU0\rU?\r", now=0.0)
    effects = engine.drain_effects()
    assert effects == [
        m.HostWrite(data=OK),
        m.HostWrite(data=OK),
        m.LinkRateChanged(baud=9600),
        m.HostWrite(data=value(b"0,9600,8,0,1,0")),
    ]


def test_rate_range_and_bad_arguments(module: EmulatorHarness) -> None:
    for good in (b"U2=1200\r", b"U2=3916800\r", b"U2=0115200\r"):
        assert module.send(good) == OK
    for bad in (
        b"U2=1199\r",
        b"U2=3916801\r",
        b"U2=-9600\r",
        b"U2=fast\r",
        b"U2\r",
        b"U2=9600,1\r",
        b"U0=1\r",
    ):
        assert module.send(bad) == ERROR, bad
    assert st_uart_config(module.send(b"U?\r"))["baud"] == 115200  # the last good one
    assert module.send(b"MT=0\r") == OK
    assert module.send(b"U2=1199\r") == (
        b"\r\n\r\nERROR: Bad Argument\r\nUsage: U2 <1200 - 3916800>\r\n> "
    )
    assert module.line_rates == []


def test_a_reset_brings_the_power_up_rate_back() -> None:
    engine = ModuleEngine()
    engine.receive_host(b"U2=57600\rU0\rZR\r", now=0.0)
    assert engine.drain_effects()[-2:] == [
        m.LinkRateChanged(baud=57600),
        m.HostWrite(data=b"\r\nReset"),  # still at the rate U0 set
    ]
    deadline = engine.next_deadline()
    assert deadline is not None
    engine.handle_timer(now=deadline)
    # Back to 115200 before the module's first byte after the reset.
    assert engine.drain_effects() == [
        m.LinkRateChanged(baud=115200),
        m.HostWrite(data=b"\r\n> "),
    ]
    engine.receive_host(b"U?\r", now=deadline)
    assert engine.drain_effects() == [m.HostWrite(data=value(b"0,115200,8,0,1,0"))]


def test_reset_at_the_power_up_rate_changes_nothing() -> None:
    module = EmulatorHarness()
    assert module.send(b"U2=9600\rZR\r") == OK + b"\r\nReset"  # U2 without U0
    assert module.advance(0.5) == b"\r\n> "
    assert module.line_rates == []


def test_spi_build_answers_a_plain_error() -> None:
    module = EmulatorHarness(ModuleEngine(profile=SPI_C3525))
    module.attach()
    for command in (b"U?\r", b"U2=9600\r", b"U0\r"):
        assert module.send(command).rstrip(b"\x15") == ERROR
    assert module.send(b"MT=0\r").rstrip(b"\x15") == OK
    assert module.send(b"U?\r").rstrip(b"\x15") == (
        b"\r\n\r\nERROR: Unknown Error\r\nUsage: U? \r\n> "
    )
    assert module.line_rates == []


def test_the_command_table_knows_them() -> None:
    assert {code: COMMANDS[code].group for code in ("U?", "U2", "U0")} == dict.fromkeys(
        ("U?", "U2", "U0"), "uart"
    )
    assert COMMANDS["U2"].usage == "<1200 - 3916800>"
    assert [code for code, _ in completions("u")] == ["U0", "U2", "U?"]  # eswifi term


@pytest.mark.subprocess
def test_fast_timing_ignores_the_new_rate_over_a_real_console() -> None:
    with EmulatorProcess("--listen", "127.0.0.1:0") as emulator:
        with serial.serial_for_url(emulator.url, timeout=10) as console:
            for command, reply in (
                (b"U2=9600\r", OK),
                (b"U0\r", OK),
                (b"U?\r", value(b"0,9600,8,0,1,0")),
            ):
                console.write(command)
                assert console.read_until(b"> ") == reply
        assert emulator.stop() == 0
        assert emulator.errors() == ""
