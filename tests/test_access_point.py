"""Soft AP in memory: settings, start/stop messages, clients, servers in AP mode."""

from __future__ import annotations

from conftest import ERROR, OK

from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.profile import SPI_C3525
from eswifi.emulator.radio import DEFAULT_RADIO, Radio, Station
from eswifi.testing import EmulatorHarness


def test_zephyr_ap_sequence(module: EmulatorHarness) -> None:
    sent = b"A1=3\rA2=ap-secret\rAS=0,Zephyr AP\rAC=6\rZ6=127.0.0.1\r"
    assert module.send(sent) == OK * 5
    assert module.send(b"AD\r") == (
        b"\r\n[AP     ] SSID: Zephyr AP, Channel: 6, 127.0.0.1"
        b"\r\n[WEB SVR] CSO Server started\r\nOK\r\n> "
    )
    assert module.send(b"AD\r") == ERROR
    assert module.send(b"AE\r") == b"\r\n[AP     ] Shutdown\r\nOK\r\n> "
    assert module.send(b"AE\r") == OK


def test_st_activate_ap_finds_its_join_line(module: EmulatorHarness) -> None:
    module.send(b"AS=0, st-ap\rA1=3\rA2=12345678\rAC=1\rAT=4\r")
    reply = module.send(b"A0\r")
    assert reply.endswith(b"\r\nOK\r\n> ")
    join = reply[reply.index(b"[JOIN   ]") :]
    ssid, ip = join[10:].split(b",")[:2]
    assert (ssid, ip) == (b" st-ap", b"127.0.0.1")


def test_default_ap_name_comes_from_the_mac(module: EmulatorHarness) -> None:
    assert b"SSID: eS-WiFi_AP_C47F51011231," in module.send(b"AD\r")


def test_keil_driver_finds_the_ip_after_two_commas(module: EmulatorHarness) -> None:
    reply = module.send(b"AD\r")
    line = reply[reply.index(b"[AP ") :].split(b"\r\n")[0]
    assert line.split(b",", 2)[2].strip() == b"127.0.0.1"


def test_ap_settings_validation(module: EmulatorHarness) -> None:
    for bad in (
        b"A1=1\r",
        b"A1=5\r",
        b"AS=2,x\r",
        b"AS=0\r",
        b"AC=14\r",
        b"AT=5\r",
        b"AT=0\r",
        b"AL=0\r",
        b"Z6=1.2.3.4.5\r",
        b"A2=" + b"p" * 64 + b"\r",
    ):
        assert module.send(bad) == ERROR
    assert module.send(b"AL=3600\rAT=1\r") == OK * 2


def test_stations_join_and_are_listed() -> None:
    radio = Radio(
        access_points=DEFAULT_RADIO.access_points,
        stations=(Station(mac="AC:72:89:55:CE:36", rssi=-40),),
    )
    module = EmulatorHarness(ModuleEngine(radio=radio))
    module.send(b"Z6=192.168.10.1\r")
    assert module.send(b"AD\r").endswith(
        b"[WEB SVR] CSO Server started\r\nOK\r\n> "
        b"\r\n[AP DHCP] Assigned AC:72:89:55:CE:36 has 192.168.10.100\r\n> "
    )
    assert module.engine.station_join("02:00:00:00:00:02", rssi=-61, now=module.now)
    assert module.output() == b"\r\n[AP DHCP] Assigned 02:00:00:00:00:02 has 192.168.10.101\r\n> "
    assert module.send(b"AR\r") == (
        b"\r\n0,AC:72:89:55:CE:36,-40\r\n1,02:00:00:00:00:02,-61\r\nOK\r\n> "
    )


def test_station_cannot_join_a_full_or_stopped_ap(module: EmulatorHarness) -> None:
    assert not module.engine.station_join("02:00:00:00:00:01", now=0)
    module.send(b"AT=1\rAD\r")
    assert module.engine.station_join("02:00:00:00:00:01", now=0)
    assert not module.engine.station_join("02:00:00:00:00:02", now=0)


def test_ap_events_are_queued_for_mr_on_spi() -> None:
    radio = Radio(access_points=(), stations=(Station(mac="02:00:00:00:00:05"),))
    module = EmulatorHarness(ModuleEngine(profile=SPI_C3525, radio=radio))
    module.send(b"A0\r")
    reply = module.send(b"MR\r").rstrip(b"\x15")
    # ST's WaitAPStateChange: tokens 4 and 6 (space separated) are the MAC and the IP.
    tokens = reply[2:].split(b"[EOMA]")[0].split(b" ")
    assert tokens[:3] == [b"[SOMA][AP", b"DHCP]", b"Assigned"]
    assert (tokens[3], tokens[5]) == (b"02:00:00:00:00:05", b"127.0.0.100")


def test_servers_work_in_ap_mode(module: EmulatorHarness) -> None:
    module.send(b"AD\r")
    assert module.send(b"P1=0\rP2=5024\rP5=1\r").endswith(
        b"Waiting on connection ...\r\n\r\nOK\r\n> "
    )
    peer = module.network.connect("127.0.0.1", 5024, source=("127.0.0.1", 40300))
    assert module.output() == b"\r\n[TCP SVR] Accepted 127.0.0.1:5024\r\n> "
    peer.send(b"hi")
    assert module.send(b"R0\r") == b"\r\nhi\r\nOK\r\n> "
    assert module.send(b"CS\r") == b"\r\n0\r\nOK\r\n> "  # the station is not joined
    module.send(b"AE\r")
    assert peer.closed_by_module
