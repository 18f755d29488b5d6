"""RESET, DATA-READY and WAKEUP in memory, with the manual clock (no sleeping)."""

from __future__ import annotations

from dataclasses import replace

from conftest import JOIN, OK

from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.profile import SPI_C3525
from eswifi.emulator.radio import DEFAULT_RADIO
from eswifi.emulator.timing import REAL
from eswifi.testing import EmulatorHarness

GREETING = b"\x15\x15\r\n> "
BOOT_PROMPT = b"\r\n> "


def value(text: bytes) -> bytes:
    return b"\r\n" + text + b"\r\nOK\r\n> "


def spi(**options: object) -> EmulatorHarness:
    module = EmulatorHarness(ModuleEngine(profile=SPI_C3525, **options))  # type: ignore[arg-type]
    assert module.attach() == GREETING
    return module


def test_held_in_reset_the_module_is_dead(joined: EmulatorHarness) -> None:
    joined.send(b"P1=0\rP2=5024\rP5=11\r")
    peer = joined.network.connect("127.0.0.1", 5024, source=("127.0.0.1", 40100))
    joined.output()
    assert joined.hold_reset() == b""
    assert peer.closed_by_module
    assert joined.network.listening_ports() == []
    assert joined.send(b"CS\rP0\r") == b""
    assert joined.advance(60) == b""
    assert joined.engine.pins.discarded == 6
    assert not joined.engine.wifi.joined_ssid
    assert joined.release_reset() == BOOT_PROMPT
    assert joined.send(b"CS\r") == value(b"0")


def test_a_reset_pulse_boots_once_from_the_saved_settings(module: EmulatorHarness) -> None:
    module.send(b"ZN=saved-name\rCC=1\r" + JOIN)
    assert module.send(b"Z1\r") == OK
    module.send(b"ZN=lost-name\r")
    assert module.reset() == BOOT_PROMPT
    assert module.output() == b""  # exactly once
    assert module.send(b"CS\r") == value(b"1")  # auto-connect from the saved settings
    assert module.send(b"I?\r").split(b",")[-1] == b"saved-name\r\nOK\r\n> "


def test_reset_pulse_abandons_a_half_read_payload(joined: EmulatorHarness) -> None:
    joined.send(b"P1=0\rP3=127.0.0.1\rP4=7000\r")
    server = joined.network.serve("127.0.0.1", 7000)
    assert joined.send(b"P6=1\r").endswith(OK[-7:])
    assert joined.send(b"S3=10\rabc") == b""
    assert joined.reset() == BOOT_PROMPT
    assert joined.send(b"P0\r") == value(b"0")  # a command again, not payload bytes
    assert server.peers[0].closed_by_module
    assert server.peers[0].received == b""


def test_release_waits_for_the_boot_time() -> None:
    module = spi(timing=REAL)
    module.take_edges()
    assert module.hold_reset() == b""
    assert module.release_reset() == b""
    assert module.ready == 0
    assert module.send(b"I?\r") == b""  # booting: discarded
    assert module.advance(0.499) == b""
    assert module.advance(0.001) == GREETING
    assert module.ready == 1
    assert module.take_edges() == [
        ("reset", 0, 0.0),
        ("ready", 0, 0.0),
        ("reset", 1, 0.0),
        ("ready", 1, 0.5),
    ]
    assert module.engine.pins.discarded == 3


def test_data_ready_falls_while_a_command_runs_and_rises_with_its_reply() -> None:
    module = spi()
    module.take_edges()
    assert module.send(b"P0\r\n").rstrip(b"\x15") == value(b"0")
    assert [(pin, level) for pin, level, _ in module.take_edges()] == [("ready", 0), ("ready", 1)]
    assert module.ready == 1


def test_data_ready_stays_low_while_a_command_waits() -> None:
    engine = ModuleEngine(profile=SPI_C3525, radio=replace(DEFAULT_RADIO, join_time_ms=2000))
    module = EmulatorHarness(engine)
    module.send(b"C1=eswifi-lab\rC2=eswifi-pass\rC3=3\r\n")
    module.take_edges()
    assert module.send(b"C0\r\n") == b""
    assert module.ready == 0
    assert module.advance(1.0) == b""
    assert module.ready == 0
    assert module.advance(1.0).startswith(b"\r\n[JOIN   ] eswifi-lab,")
    assert module.ready == 1
    assert module.take_edges() == [("ready", 0, 0.0), ("ready", 1, 2.0)]


def test_data_ready_is_high_while_a_payload_is_read() -> None:
    module = spi()
    module.take_edges()
    assert module.send(b"S3=0004\r") == b""  # no connection yet: waits for the payload
    assert module.ready == 1
    assert module.send(b"abcd") == b"\r\n-1\r\nERROR\r\n> \x15"
    assert [(p, lvl) for p, lvl, _ in module.take_edges()] == [
        ("ready", 0),
        ("ready", 1),
        ("ready", 0),
        ("ready", 1),
    ]


def test_zr_drops_data_ready_until_the_greeting() -> None:
    module = spi()
    module.take_edges()
    assert module.send(b"ZR\r\n") == b"\r\nReset\x15"
    assert module.ready == 0
    assert module.send(b"P0\r\n") == b""  # pipelined after ZR: discarded
    assert module.advance(0.5) == GREETING
    assert module.ready == 1
    assert module.send(b"P0\r\n").rstrip(b"\x15") == value(b"0")


def test_uart_build_does_not_drive_data_ready(module: EmulatorHarness) -> None:
    module.send(b"P0\r")
    module.reset()
    assert module.ready == 0
    assert [pin for pin, _, _ in module.take_edges()] == ["reset", "reset"]


def test_wakeup_is_recorded_and_changes_nothing(module: EmulatorHarness) -> None:
    engine = module.engine
    assert engine.set_wakeup(1, now=module.now)
    assert not engine.set_wakeup(1, now=module.now)  # no edge: already high
    assert module.output() == b""
    assert module.take_edges() == [("wakeup", 1, 0.0)]
    assert engine.pins.line() == "reset=1 wakeup=1 ready=0 power=running discarded=0"
    assert module.send(b"P0\r") == value(b"0")


def test_hold_and_release_are_idempotent(module: EmulatorHarness) -> None:
    engine = module.engine
    assert not engine.release_reset(now=0.0)  # not held
    assert engine.hold_reset(now=0.0)
    assert not engine.hold_reset(now=0.0)
    assert engine.pins.line().startswith("reset=0 ")
    assert engine.release_reset(now=0.0)
    assert module.output() == BOOT_PROMPT


def test_attaching_while_held_greets_only_at_boot() -> None:
    module = spi()
    module.hold_reset()
    assert module.attach() == b""
    assert module.release_reset() == GREETING
