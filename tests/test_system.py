"""System commands in memory: identity, saved settings, reset, human mode, MT/MS/MR."""

from __future__ import annotations

import json

import pytest
from conftest import ERROR, JOIN, OK

from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.profile import SPI_C3525, UART_C6
from eswifi.emulator.radio import DEFAULT_RADIO, Radio
from eswifi.emulator.settings import StoredSettings
from eswifi.errors import ConfigError
from eswifi.testing import EmulatorHarness

UART_INFO = b"ISM43362-M3G-L44,C6.2.1.11,v6.2.1,v2.0.3,v9.0.0,120000000,Inventek eS-WiFi"
SPI_INFO = b"ISM43362-M3G-L44-SPI,C3.5.2.5.STM,v3.5.2,v1.4.0.rc1,v8.2.1,120000000,Inventek eS-WiFi"


def value(text: bytes) -> bytes:
    return b"\r\n" + text + b"\r\nOK\r\n> "


def spi() -> EmulatorHarness:
    module = EmulatorHarness(ModuleEngine(profile=SPI_C3525))
    assert module.attach() == b"\x15\x15\r\n> "
    return module


def test_info_line_per_profile(module: EmulatorHarness) -> None:
    assert module.send(b"I?\r\n") == value(UART_INFO)
    assert spi().send(b"I?\r\n").rstrip(b"\x15") == value(SPI_INFO)


def test_info_parsed_as_st_and_mbed_do() -> None:
    reply = spi().send(b"I?\r\n")
    fields = reply[2:].split(b"\r")[0].split(b",")
    assert fields[1] == b"C3.5.2.5.STM"
    version = [int(x) for x in fields[1][1:].split(b".")[:4]]
    assert version >= [3, 5, 2, 5]  # ST: F0=2 + MR
    assert int(fields[1].lstrip(b"C").replace(b".", b"").rstrip(b"STM")) == 3525  # Mbed
    assert int(fields[5]) == 120000000


def test_product_name_and_mac(module: EmulatorHarness) -> None:
    assert module.send(b"ZN=Bench unit 7\r") == OK
    assert module.send(b"I?\r") == value(UART_INFO.replace(b"Inventek eS-WiFi", b"Bench unit 7"))
    assert module.send(b"Z5\r") == value(b"C4:7F:51:01:12:31")
    assert module.send(b"Z4=A:B:C:D:E:F\r") == OK  # ST sends %X without zero padding
    assert module.send(b"Z5\r") == value(b"0A:0B:0C:0D:0E:0F")
    assert module.send(b"Z?\r") == value(
        b"0,12345670,0,0,0A:0B:0C:0D:0E:0F,127.0.0.1,0,0,0,0,Bench unit 7"
    )
    for bad in (
        b"Z4=1:2:3:4:5\r",
        b"Z4=GG:0:0:0:0:0\r",
        b"Z4\r",
        b"ZN\r",
        b"ZN=" + b"n" * 33 + b"\r",
    ):
        assert module.send(bad) == ERROR


def test_radio_names_the_module() -> None:
    module = EmulatorHarness(
        ModuleEngine(radio=Radio(access_points=(), mac="02:11:22:33:44:55", name="Lab board"))
    )
    assert module.send(b"Z5\r") == value(b"02:11:22:33:44:55")
    assert module.send(b"I?\r").endswith(b",Lab board\r\nOK\r\n> ")


def test_zephyr_parses_the_mac(module: EmulatorHarness) -> None:
    text = module.send(b"Z5\r")[2:].split(b"\r\n")[0]
    assert [int(part, 16) for part in text.split(b":")] == [0xC4, 0x7F, 0x51, 0x01, 0x12, 0x31]
    assert all(len(part) == 2 for part in text.split(b":"))


# ----------------------------------------------------------------------------- settings


def test_save_restore_across_reset(module: EmulatorHarness) -> None:
    assert module.send(b"C1=kept\rZN=Saved\rZ1\r") == OK * 3
    assert module.saved_settings is not None
    assert module.send(b"C1=not saved\rZR\r") == OK + b"\r\nReset"
    module.advance(1)
    assert module.send(b"C?\r").startswith(b"\r\nkept,")
    assert module.send(b"I?\r").endswith(b",Saved\r\nOK\r\n> ")


def test_snapshot_restores_in_a_new_engine(module: EmulatorHarness) -> None:
    module.send(b"C1=lab\rC2=pw\rC3=4\rZ4=02:00:00:00:00:01\rAS=0,myap\rZ1\r")
    snapshot = json.loads(json.dumps(module.saved_settings))
    engine = ModuleEngine()
    stored = StoredSettings.from_dict(snapshot, factory=engine.factory_settings)
    again = EmulatorHarness(ModuleEngine(stored_settings=stored))
    assert again.send(b"C?\r").startswith(b"\r\nlab,pw,4,")
    assert again.send(b"Z5\r") == value(b"02:00:00:00:00:01")


def test_factory_defaults_and_erase(module: EmulatorHarness) -> None:
    module.send(b"C1=lab\rZ1\rZ0\r")
    assert module.send(b"C?\r").startswith(b"\r\n,,3,1,")
    module.send(b"ZR\r")
    module.advance(1)
    assert module.send(b"C?\r").startswith(b"\r\nlab,")
    assert module.send(b"Z2\r") == b"\r\n[EEPROM ] Erasing\r\n[EEPROM ] Complete\r\nOK\r\n> "
    assert module.saved_settings["spaces"] == [None, None]
    module.send(b"ZR\r")
    module.advance(1)
    assert module.send(b"C?\r").startswith(b"\r\n,,3,1,")


def test_settings_spaces(module: EmulatorHarness) -> None:
    module.send(b"C1=first\rZ1\rZ3=1\rC1=second\rZ1\r")
    assert module.send(b"Z3\r") == value(b"1")
    module.send(b"ZR\r")
    module.advance(1)
    assert module.send(b"C?\r").startswith(b"\r\nsecond,")
    module.send(b"Z3=0\rZR\r")
    module.advance(1)
    assert module.send(b"C?\r").startswith(b"\r\nfirst,")
    assert module.send(b"Z3=2\r") == ERROR


@pytest.mark.parametrize(
    "snapshot",
    [
        {},
        {"version": 99, "selected": 0, "spaces": [None, None]},
        {"version": 1, "selected": 3, "spaces": [None, None]},
        {"version": 1, "selected": 0, "spaces": [{"wifi": {"ssid": 5}}, None]},
        {"version": 1, "selected": 0, "spaces": [{"wifi": []}, None]},
    ],
)
def test_bad_snapshot_is_a_config_error(snapshot: dict) -> None:
    with pytest.raises(ConfigError):
        StoredSettings.from_dict(snapshot, factory=ModuleEngine().factory_settings)


# ----------------------------------------------------------------------------- reset


def test_reset_closes_sockets_and_greets_again_uart(joined: EmulatorHarness) -> None:
    joined.send(b"P1=0\rP2=5024\rP5=11\r")
    peer = joined.network.connect("127.0.0.1", 5024, source=("127.0.0.1", 40100))
    joined.output()
    assert joined.send(b"ZR\r") == b"\r\nReset"
    assert peer.closed_by_module
    assert joined.network.listening_ports() == []
    assert joined.send(b"CS\r") == b""  # dropped: the module is rebooting
    assert joined.advance(0.499) == b""
    assert joined.advance(0.001) == b"\r\n> "
    assert joined.send(b"CS\r") == value(b"0")
    assert joined.send(b"P0\r") == value(b"0")


def test_reset_on_spi_sends_the_greeting() -> None:
    module = spi()
    assert module.send(b"ZR\r") == b"\r\nReset\x15"
    assert module.advance(0.5) == b"\x15\x15\r\n> "


def test_reset_restores_power_up_modes(module: EmulatorHarness) -> None:
    module.send(b"MT=0\rMS=3\r$$$\rF3=4\rT1=127.0.0.1\r")
    module.send(b"ZR\r")
    module.advance(1)
    assert module.send(b"C3=9\r") == ERROR
    assert module.send(b"F?\r") == value(b"1,0,0,00:00:00:00:00:00,")
    assert module.engine.message_suppression == 0


def test_human_mode(module: EmulatorHarness) -> None:
    assert module.send(b"$$$\r") == value(b"Entering CMD mode...")
    assert module.send(b"ZR\r") == b"\r\n[MODULE ] Resetting...\r\nOK\r\n> "
    assert module.advance(0.5) == b"\r\n> "
    assert not module.engine.human_mode
    module.send(b"$$$\r")
    assert module.send(b"---\r") == value(b"Exiting CMD mode...")
    assert module.send(b"ZR\r") == b"\r\nReset"


def test_mongoose_start_up(module: EmulatorHarness) -> None:
    replies = [module.send(c) for c in (b"---\r", b"I?\r", b"Z5\r", b"MT=1\r", b"PK=1,20000\r")]
    for reply in replies:
        assert reply.split(b"\r\n")[-2] == b"OK"
        assert reply.endswith(b"> ")
    for command in (
        b"CD\r",
        b"AE\r",
        b"C1=eswifi-lab\r",
        b"C2=eswifi-pass\r",
        b"C3=4\r",
        b"C4=1\r",
        b"C5=0\r",
        b"CB=1\r",
    ):
        assert module.send(command).split(b"\r\n")[-2] == b"OK"


# ----------------------------------------------------------------------------- MT/MS/MR


def test_message_type(module: EmulatorHarness) -> None:
    assert module.send(b"MT\r") == ERROR
    assert module.send(b"MT=2\r") == ERROR
    assert module.send(b"MT=0\rMT\r") == OK + (
        b"\r\n\r\nERROR: Unknown Error\r\nUsage: MT <0=Normal/1=Simple>\r\n> "
    )


def test_message_suppression_hides_accepted() -> None:
    module = spi()
    module.send(JOIN + b"MS=2\rP1=0\rP2=5024\rP5=1\r")
    module.network.connect("127.0.0.1", 5024, source=("127.0.0.1", 40200))
    assert module.send(b"MR\r").rstrip(b"\x15") == b"\r\n[SOMA][EOMA]\r\nOK\r\n> "
    assert module.send(b"MS=4\r").rstrip(b"\x15") == ERROR


def test_mr_is_an_error_on_the_uart_build() -> None:
    module = EmulatorHarness(ModuleEngine(profile=UART_C6, radio=DEFAULT_RADIO))
    assert module.send(b"MR\r") == ERROR
