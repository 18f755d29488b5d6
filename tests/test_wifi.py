"""Wi-Fi commands against the virtual radio, in memory: join, status, DHCP, scan."""

from __future__ import annotations

import re

import pytest
from conftest import ERROR, JOIN, OK

from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.profile import SPI_C3525, UART_C6
from eswifi.emulator.radio import (
    DEFAULT_RADIO,
    AccessPoint,
    Lease,
    LinkAction,
    Radio,
    RadioEvent,
    Security,
)
from eswifi.testing import EmulatorHarness

JOINED_LINE = b"\r\n[JOIN   ] eswifi-lab,127.0.0.1,0,0\r\nOK\r\n> "
SCAN_LINE = re.compile(
    rb'^#(\d{3}),"([^"]*)",((?:[0-9A-F]{2}:){5}[0-9A-F]{2}),(-?\d+),(\d+\.\d),'
    rb"Infrastructure,([A-Za-z0-9 ]+),2\.4GHz,(\d+)$"
)


def value(text: bytes) -> bytes:
    return b"\r\n" + text + b"\r\nOK\r\n> "


def parse_scan(reply: bytes) -> list[dict[str, object]]:
    """Parse an F0 reply by the spec's §3.1 format: one ``\\r\\n#nnn,…`` line per AP, then OK."""
    assert reply.endswith(b"\r\nOK\r\n> ")
    body = reply[: -len(b"\r\nOK\r\n> ")]
    assert body.startswith(b"\r\n")
    if body == b"\r\n":  # nothing printed: the envelope's blank line
        return []
    result = []
    for line in body.split(b"\r\n")[1:]:
        match = SCAN_LINE.match(line)
        assert match, line
        index, ssid, bssid, rssi, rate, security, channel = match.groups()
        result.append(
            {
                "index": int(index),
                "ssid": ssid.decode(),
                "bssid": bssid.decode(),
                "rssi": int(rssi),
                "rate": float(rate),
                "security": security.decode(),
                "channel": int(channel),
            }
        )
    return result


def harness(radio: Radio = DEFAULT_RADIO, profile=UART_C6) -> EmulatorHarness:
    return EmulatorHarness(ModuleEngine(profile=profile, radio=radio))


# ----------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        (b"C1=\r", ERROR),
        (b"C1=" + b"x" * 33 + b"\r", ERROR),
        (b"C2=" + b"x" * 65 + b"\r", ERROR),
        (b"C3=6\r", ERROR),
        (b"C4=2\r", ERROR),
        (b"C5=1\r", ERROR),
        (b"C6=1.2.3\r", ERROR),
        (b"C7=255.255.255.256\r", ERROR),
        (b"CB=11\r", ERROR),
        (b"CC=4\r", ERROR),
        (b"CE=2\r", ERROR),
        (b"CN=us\r", ERROR),
        (b"CN=USA\r", ERROR),
        (b"CN=US/2\r", ERROR),
        (b"C1=lab\r", OK),
        (b"C2=\r", OK),
        (b"C3=0005\r", OK),
        (b"C5=0\r", OK),
        (b"C6=10.0.0.9\r", OK),
        (b"CB=0\r", OK),
        (b"CC=3\r", OK),
        (b"CE=1\r", OK),
        (b"CN=DE\r", OK),
        (b"CN=FR/0\r", OK),
    ],
)
def test_settings_validation(module: EmulatorHarness, command: bytes, reply: bytes) -> None:
    assert module.send(command) == reply


def test_settings_show_in_c_query(module: EmulatorHarness) -> None:
    sent = b"C1=my net\rC2=secret\rC3=4\rC4=0\rC6=10.1.2.3\rC7=255.255.0.0\rC8=10.1.0.1\r"
    sent += b"C9=10.1.0.53\rCA=9.9.9.9\rCB=2\rCC=1\rCE=1\rCN=JP\r"
    assert module.send(sent) == OK * 13
    assert module.send(b"C?\r") == value(
        b"my net,secret,4,0,0,10.1.2.3,255.255.0.0,10.1.0.1,10.1.0.53,9.9.9.9,2,1,1,JP,0"
    )
    assert module.send(b"CN\r") == value(b"JP")


def test_bad_value_leaves_settings_unchanged(module: EmulatorHarness) -> None:
    module.send(b"C3=2\r")
    assert module.send(b"C3=9\r") == ERROR
    assert module.send(b"C?\r").split(b",")[2] == b"2"


def test_spi_profile_accepts_only_its_country_codes() -> None:
    module = harness(profile=SPI_C3525)
    module.attach()
    for code in (b"CA", b"FR/0", b"US", b"JP"):
        assert module.send(b"CN=" + code + b"\r").rstrip(b"\x15") == OK
    assert module.send(b"CN=DE\r").rstrip(b"\x15") == ERROR
    assert module.send(b"CN\r").rstrip(b"\x15") == value(b"JP")


def test_verbose_errors_name_the_command(module: EmulatorHarness) -> None:
    module.send(b"MT=0\r")
    assert module.send(b"C3=9\r") == (
        b"\r\n\r\nERROR: Bad Argument\r\nUsage: C3 "
        b"<0=Open/1=WEP/2=WPA/3=WPA2-AES/4=WPA/WPA2/5=WPA2-TKIP>\r\n> "
    )
    assert module.send(b"C6=x\r").startswith(b"\r\n\r\nERROR: Bad Address Value\r\n")


# ----------------------------------------------------------------------------- join


def test_join_reply_and_status(joined: EmulatorHarness) -> None:
    assert joined.send(b"CS\r") == value(b"1")
    assert joined.send(b"CR\r") == value(b"-48")
    assert joined.send(b"CV\r") == value(b"54")
    assert joined.send(b"C0\r") == b"\r\nAlready connected!\r\nERROR\r\n> "
    assert joined.send(b"C?\r") == value(
        b"eswifi-lab,eswifi-pass,3,1,0,127.0.0.1,255.0.0.0,127.0.0.1,127.0.0.1,0.0.0.0,5,0,0,US,1"
    )


def test_join_parsed_as_drivers_do(module: EmulatorHarness) -> None:
    reply = module.send(JOIN)[len(OK) * 3 :]
    # ST skips "\r\n[JOIN   ] " (12 bytes) and splits on commas.
    ssid, ip, *_ = reply[12:].split(b"\r\n")[0].split(b",")
    assert (ssid, ip) == (b"eswifi-lab", b"127.0.0.1")
    # Zephyr: the four numbers after "<ssid>,".
    start = reply.index(b"eswifi-lab") + len(b"eswifi-lab") + 1
    assert [int(x) for x in re.findall(rb"\d+", reply[start:])[:4]] == [127, 0, 0, 1]
    # Mbed: reads lines until one contains OK, failing on a JOIN line with "Failed".
    lines = reply.split(b"\n")
    assert not any(b"JOIN" in line and b"Failed" in line for line in lines)
    assert any(b"OK" in line for line in lines)


def test_join_wrong_passphrase_is_not_retried(module: EmulatorHarness) -> None:
    assert module.send(b"C1=eswifi-lab\rC2=nope\rC3=3\rCB=3\rC0\r") == OK * 4 + (
        b"\r\n[JOIN   ] eswifi-lab\r\n[JOIN   ] Failed\r\nERROR\r\n> "
    )


def test_join_security_must_fit(module: EmulatorHarness) -> None:
    failed = b"\r\n[JOIN   ] eswifi-open\r\n[JOIN   ] Failed\r\nERROR\r\n> "
    assert module.send(b"C1=eswifi-open\rC3=3\rC0\r") == OK * 2 + failed
    assert module.send(b"C3=0\rC0\r").endswith(b"[JOIN   ] eswifi-open,127.0.0.1,0,0\r\nOK\r\n> ")


def test_join_retries_count_from_cb(module: EmulatorHarness) -> None:
    reply = module.send(b"C1=nowhere\rCB=2\rC0\r")
    assert reply == OK * 2 + (
        b"\r\n[JOIN   ] nowhere\r\n[JOIN   ] Retrying\r\n[JOIN   ] Retrying"
        b"\r\n[JOIN   ] Failed\r\nERROR\r\n> "
    )


def test_join_takes_the_radio_join_time() -> None:
    module = harness(Radio(access_points=DEFAULT_RADIO.access_points, join_time_ms=1500))
    assert module.send(JOIN) == OK * 3
    assert module.send(b"CS\r") == b""  # queued behind the running C0
    assert module.advance(1.499) == b""
    assert module.advance(0.001) == JOINED_LINE + value(b"1")


def test_join_retry_finds_an_access_point_that_came_back() -> None:
    radio = Radio(
        access_points=(
            AccessPoint(
                ssid="late", bssid="02:00:00:00:00:09", security=Security.OPEN, present=False
            ),
        ),
        join_time_ms=1000,
        events=(RadioEvent(at=1.5, ssid="late", action=LinkAction.APPEAR),),
    )
    module = harness(radio)
    assert module.send(b"C1=late\rC3=0\rCB=3\rC0\r") == OK * 3
    assert module.advance(1.999) == b""
    assert module.advance(0.001) == (
        b"\r\n[JOIN   ] late\r\n[JOIN   ] Retrying\r\n[JOIN   ] late,127.0.0.1,0,0\r\nOK\r\n> "
    )


def test_static_ip_join(module: EmulatorHarness) -> None:
    sent = b"C4=0\rC6=192.168.7.20\rC7=255.255.255.0\rC8=192.168.7.1\rC9=192.168.7.1\r"
    assert module.send(sent) == OK * 5
    assert module.send(JOIN).endswith(b"[JOIN   ] eswifi-lab,192.168.7.20,0,0\r\nOK\r\n> ")
    fields = module.send(b"C?\r")[2:].split(b",")
    assert fields[5:10] == [
        b"192.168.7.20",
        b"255.255.255.0",
        b"192.168.7.1",
        b"192.168.7.1",
        b"0.0.0.0",
    ]


def test_access_point_dhcp_lease() -> None:
    lease = Lease(ip="10.0.0.42", netmask="255.255.255.0", gateway="10.0.0.1", dns1="10.0.0.1")
    ap = AccessPoint(ssid="office", bssid="02:00:00:00:00:07", security=Security.OPEN, dhcp=lease)
    module = harness(Radio(access_points=(ap,)))
    assert module.send(b"C1=office\rC3=0\rC0\r").endswith(
        b"[JOIN   ] office,10.0.0.42,0,0\r\nOK\r\n> "
    )
    assert module.send(b"C?\r")[2:].split(b",")[5:10] == [
        b"10.0.0.42",
        b"255.255.255.0",
        b"10.0.0.1",
        b"10.0.0.1",
        b"0.0.0.0",
    ]


def test_host_address_lease_on_a_lan_address() -> None:
    module = EmulatorHarness(ModuleEngine(host_address="127.0.0.5"))
    assert module.send(JOIN).endswith(b"[JOIN   ] eswifi-lab,127.0.0.5,0,0\r\nOK\r\n> ")


def test_disconnect_clears_the_address_and_sockets(joined: EmulatorHarness) -> None:
    joined.send(b"P1=0\rP2=5024\rP5=1\r")
    peer = joined.network.connect("127.0.0.1", 5024, source=("127.0.0.1", 40000))
    joined.output()
    assert joined.send(b"CD\r") == OK
    assert peer.closed_by_module
    assert joined.network.listening_ports() == []
    assert joined.send(b"CS\r") == value(b"0")
    assert joined.send(b"CR\r") == value(b"0")
    assert joined.send(b"CV\r") == value(b"0")
    assert joined.send(b"C?\r")[2:].split(b",")[5] == b"0.0.0.0"
    assert joined.send(b"R0\r") == b"\r\n-1\r\nERROR\r\n> "
    assert joined.send(b"CD\r") == OK


def test_auto_connect_after_reset(module: EmulatorHarness) -> None:
    module.send(JOIN + b"CC=1\rZ1\rZR\r")
    module.advance(1)
    assert module.send(b"CS\r") == value(b"1")


# ----------------------------------------------------------------------------- scan

MORE_APS = Radio(
    access_points=(
        *DEFAULT_RADIO.access_points,
        AccessPoint(
            ssid="cafe",
            bssid="0a:1b:2c:3d:4e:5f",
            security=Security.WPA_WPA2,
            rssi=-80,
            channel=1,
            max_rate=72.2,
        ),
        AccessPoint(ssid="gone", bssid="02:00:00:00:00:99", security=Security.WEP, present=False),
    )
)


def test_scan_lists_visible_access_points() -> None:
    module = harness(MORE_APS)
    found = parse_scan(module.send(b"F0\r"))
    assert [ap["ssid"] for ap in found] == ["eswifi-lab", "eswifi-open", "cafe"]
    assert [ap["index"] for ap in found] == [1, 2, 3]
    assert found[0] == {
        "index": 1,
        "ssid": "eswifi-lab",
        "bssid": "02:E5:00:00:00:01",
        "rssi": -48,
        "rate": 54.0,
        "security": "WPA2 AES",
        "channel": 6,
    }
    assert found[1]["security"] == "Open"
    assert found[2]["rate"] == 72.2
    assert found[2]["bssid"] == "0A:1B:2C:3D:4E:5F"


def test_scan_exact_bytes(module: EmulatorHarness) -> None:
    assert module.send(b"F0\r") == (
        b'\r\n#001,"eswifi-lab",02:E5:00:00:00:01,-48,54.0,Infrastructure,WPA2 AES,2.4GHz,6'
        b'\r\n#002,"eswifi-open",02:E5:00:00:00:02,-67,54.0,Infrastructure,Open,2.4GHz,11'
        b"\r\nOK\r\n> "
    )


def test_scan_security_words_map_like_st_and_mbed() -> None:
    expected = {
        Security.OPEN: "Open",
        Security.WEP: "WEP",
        Security.WPA: "WPA",
        Security.WPA2_AES: "WPA2",
        Security.WPA_WPA2: "WPA2",
        Security.WPA2_TKIP: "WPA2 TKIP",
    }
    for security, word in expected.items():
        assert word in security.scan_label


def test_scan_filters(module: EmulatorHarness) -> None:
    module = harness(MORE_APS)
    assert module.send(b"F3=11\r") == OK
    assert [ap["ssid"] for ap in parse_scan(module.send(b"F0\r"))] == ["eswifi-open"]
    assert module.send(b"F3=0\rF4=a:1b:2c:3d:4e:50\r") == OK * 2
    assert [ap["ssid"] for ap in parse_scan(module.send(b"F0\r"))] == []
    assert module.send(b"F4=a:1b:2c:3d:4e:5f\r") == OK
    assert [ap["ssid"] for ap in parse_scan(module.send(b"F0\r"))] == ["cafe"]
    assert module.send(b"F?\r") == value(b"1,0,0,0A:1B:2C:3D:4E:5F,")
    assert module.send(b"F4\rF5=eswifi-lab\r") == OK * 2
    assert [ap["index"] for ap in parse_scan(module.send(b"F0\r"))] == [1]
    assert module.send(b"F1=3\rF2=200\rF?\r") == OK * 2 + value(
        b"3,200,0,00:00:00:00:00:00,eswifi-lab"
    )
    for bad in (b"F1=0\r", b"F3=14\r", b"F4=zz:00:00:00:00:00\r", b"F0=1\r", b"F0=2,2\r"):
        assert module.send(bad) == ERROR


def test_scan_takes_its_time() -> None:
    module = harness(Radio(access_points=DEFAULT_RADIO.access_points, scan_time_ms=300))
    module.send(b"F1=2\rF2=100\r")
    assert module.send(b"F0\r") == b""
    assert module.advance(0.699) == b""
    assert len(parse_scan(module.advance(0.001))) == 2


def test_async_scan_on_spi_one_access_point_per_reply() -> None:
    module = harness(MORE_APS, profile=SPI_C3525)
    module.attach()
    first = module.send(b"F0=2\r")
    assert first.rstrip(b"\x15") == (
        b'\r\n[SOMA]#001,"eswifi-lab",02:E5:00:00:00:01,-48,54.0,Infrastructure,WPA2 AES,'
        b"2.4GHz,6[EOMA]\r"
    )
    # ST's loop: MR until a reply that holds "\r\nOK\r\n> "; each other reply is one AP.
    replies = [first]
    while b"\r\nOK\r\n> " not in replies[-1]:
        replies.append(module.send(b"MR\r"))
        assert len(replies) < 10
    assert len(replies) == 4
    assert replies[-1].rstrip(b"\x15") == b"\r\nOK\r\n> "
    ssids = [r.split(b",")[1] for r in replies[:-1]]
    assert ssids == [b'"eswifi-lab"', b'"eswifi-open"', b'"cafe"']
    # Afterwards MR is the message queue again.
    assert module.send(b"MR\r").rstrip(b"\x15") == b"\r\n[SOMA][EOMA]\r\nOK\r\n> "


def test_async_scan_with_nothing_in_range_is_plain_ok() -> None:
    module = harness(Radio(access_points=()), profile=SPI_C3525)
    assert module.send(b"F0=2\r").rstrip(b"\x15") == OK


def test_async_scan_on_the_uart_build_is_one_reply(module: EmulatorHarness) -> None:
    assert module.send(b"F0=2\r") == (
        b'\r\n[SOMA]#001,"eswifi-lab",02:E5:00:00:00:01,-48,54.0,Infrastructure,WPA2 AES,'
        b"2.4GHz,6[EOMA]"
        b'\r\n[SOMA]#002,"eswifi-open",02:E5:00:00:00:02,-67,54.0,Infrastructure,Open,'
        b"2.4GHz,11[EOMA]\r\nOK\r\n> "
    )
