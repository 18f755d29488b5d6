"""D0 and T0–T3 in memory, against the fake network's scripted resolver and pings."""

from __future__ import annotations

from conftest import ERROR, OK

from eswifi.testing import EmulatorHarness

NOT_FOUND = b"\r\n[DNS  LU] Host not found %s:-6\r\nERROR\r\n> "


def value(text: bytes) -> bytes:
    return b"\r\n" + text + b"\r\nOK\r\n> "


def test_resolve_stores_into_p3(joined: EmulatorHarness) -> None:
    joined.send(b"P0=2\r")
    assert joined.send(b"D0=localhost\r") == value(b"127.0.0.1")
    assert joined.send(b"P?\r").split(b",")[3] == b"127.0.0.1"
    joined.send(b"P0=0\r")
    assert joined.send(b"P?\r").split(b",")[3] == b"0.0.0.0"


def test_resolve_answer_is_what_zephyr_and_st_parse(joined: EmulatorHarness) -> None:
    joined.network.hosts["example.test"] = "192.0.2.10"
    reply = joined.send(b"D0=example.test\r")
    # Zephyr takes everything between the leading CRLF and "\r\nOK" as the address.
    assert reply[2 : reply.index(b"\r\nOK")] == b"192.0.2.10"


def test_resolve_a_literal_address_without_the_network(joined: EmulatorHarness) -> None:
    joined.network.hosts.clear()
    assert joined.send(b"D0=10.1.2.3\r") == value(b"10.1.2.3")


def test_unknown_name(joined: EmulatorHarness) -> None:
    assert joined.send(b"D0=no-such-host.invalid\r") == NOT_FOUND % b"no-such-host.invalid"
    assert joined.send(b"P?\r").split(b",")[3] == b"0.0.0.0"


def test_resolver_that_never_answers_is_bounded(joined: EmulatorHarness) -> None:
    joined.network.silent_resolver = True
    assert joined.send(b"D0=slow.example\r") == b""
    assert joined.advance(4.999) == b""
    assert joined.advance(0.001) == NOT_FOUND % b"slow.example"


def test_resolve_needs_a_network_and_a_name(module: EmulatorHarness) -> None:
    assert module.send(b"D0=localhost\r") == ERROR
    module.send(b"C1=eswifi-lab\rC2=eswifi-pass\rC0\r")
    assert module.send(b"D0\r") == ERROR
    assert module.send(b"D0=" + b"a" * 65 + b"\r") == ERROR


def test_resolve_uses_the_error_code_of_the_profile(joined: EmulatorHarness) -> None:
    joined.send(b"MT=0\r")
    assert joined.send(b"D0=nowhere.invalid\r") == (
        b"\r\n[DNS  LU] Host not found nowhere.invalid:-6"
        b"\r\nERROR: Unknown Error\r\nUsage: D0 <host name>\r\n> "
    )


def test_ping_loopback(joined: EmulatorHarness) -> None:
    assert joined.send(b"T1=127.0.0.1\rT2=3\rT3=100\r") == OK * 3
    assert joined.send(b"T0=\r") == b""
    assert joined.advance(0.199) == b""
    assert joined.advance(0.001) == b"\r\n127.0.0.1,0\r\n127.0.0.1,0\r\n127.0.0.1,0\r\nOK\r\n> "


def test_ping_output_parsed_as_st_does(joined: EmulatorHarness) -> None:
    joined.network.ping_times["127.0.0.1"] = 12.4
    joined.send(b"T1=127.0.0.1\rT2=2\rT3=0\r")
    reply = joined.send(b"T0=\r")
    lines = reply.split(b"\r\n")[1:-2]
    assert [line.split(b",") for line in lines] == [[b"127.0.0.1", b"12"]] * 2


def test_ping_timeout(joined: EmulatorHarness) -> None:
    joined.send(b"T1=192.0.2.1\rT2=2\rT3=0\r")
    assert joined.send(b"T0\r") == b""
    assert joined.advance(1.0) == b""
    assert joined.advance(1.0) == b"\r\n192.0.2.1,Timeout\r\n192.0.2.1,Timeout\r\nOK\r\n> "


def test_ping_settings_validation(joined: EmulatorHarness) -> None:
    assert joined.send(b"T0\r") == ERROR  # no target yet
    for bad in (b"T1=localhost\r", b"T2=0\r", b"T2=101\r", b"T3=60001\r", b"T0=1\r"):
        assert joined.send(bad) == ERROR


def test_ping_needs_a_network(module: EmulatorHarness) -> None:
    assert module.send(b"T1=127.0.0.1\rT0\r") == OK + ERROR
