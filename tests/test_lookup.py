"""D0 and T0–T3 in memory, against the radio's DNS table and the fake network's scripted
resolver and pings (no host lookups: the resolver guard of ``conftest`` checks)."""

from __future__ import annotations

import socket
from dataclasses import replace

import pytest
from conftest import ERROR, JOIN, OK, ResolverGuard

from eswifi.emulator import messages as m
from eswifi.emulator.backends.fake import FakeNetwork
from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.radio import DEFAULT_RADIO, Dns
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


class RecordingNetwork(FakeNetwork):
    """The fake network, keeping every request the engine made."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[m.Effect] = []

    def execute(self, effect: m.Effect, *, now: float) -> None:
        self.requests.append(effect)
        super().execute(effect, now=now)

    def lookups(self) -> list[str]:
        return [e.name for e in self.requests if isinstance(e, m.Resolve)]


def with_dns(dns: Dns) -> tuple[EmulatorHarness, RecordingNetwork]:
    """A joined module whose radio has this DNS, on a network that records requests."""
    network = RecordingNetwork()
    module = EmulatorHarness(ModuleEngine(radio=replace(DEFAULT_RADIO, dns=dns)), network=network)
    assert module.send(JOIN).endswith(b"\r\nOK\r\n> ")
    return module, network


def test_static_name_answers_without_a_lookup() -> None:
    module, network = with_dns(Dns(hosts={"printer.lab": "127.0.0.5"}))
    network.hosts["printer.lab"] = "192.0.2.99"  # the table wins over the resolver
    module.send(b"P0=1\r")
    assert module.send(b"D0=printer.lab\r") == value(b"127.0.0.5")
    assert module.send(b"P?\r").split(b",")[3] == b"127.0.0.5"
    assert network.lookups() == []


def test_static_names_are_case_insensitive() -> None:
    module, network = with_dns(Dns(hosts={"NAS.Lab": "127.0.0.6"}, forward=False))
    for name in (b"nas.lab", b"NAS.LAB", b"Nas.Lab", b"nas.lab."):
        assert module.send(b"D0=" + name + b"\r") == value(b"127.0.0.6")
    assert network.lookups() == []


def test_without_forwarding_other_names_fail_at_once() -> None:
    module, network = with_dns(Dns(hosts={"printer.lab": "127.0.0.5"}, forward=False))
    assert module.send(b"D0=no-such-host.invalid\r") == NOT_FOUND % b"no-such-host.invalid"
    assert module.send(b"D0=localhost\r") == NOT_FOUND % b"localhost"  # not in the table
    assert module.send(b"D0=10.1.2.3\r") == value(b"10.1.2.3")  # literals still answer
    assert network.lookups() == []
    assert module.engine.next_deadline() is None  # nothing left waiting
    module.send(b"MT=0\r")
    assert module.send(b"D0=nowhere.invalid\r") == (
        b"\r\n[DNS  LU] Host not found nowhere.invalid:-6"
        b"\r\nERROR: Unknown Error\r\nUsage: D0 <host name>\r\n> "
    )


def test_with_forwarding_other_names_go_to_the_resolver() -> None:
    module, network = with_dns(Dns(hosts={"printer.lab": "127.0.0.5"}, forward=True))
    network.hosts["example.test"] = "192.0.2.10"
    assert module.send(b"D0=example.test\r") == value(b"192.0.2.10")
    assert module.send(b"D0=no-such-host.invalid\r") == NOT_FOUND % b"no-such-host.invalid"
    assert network.lookups() == ["example.test", "no-such-host.invalid"]
    [first, second] = [e for e in network.requests if isinstance(e, m.Resolve)]
    assert first.request != second.request and first.timeout_ms == 5000


def test_the_built_in_radio_forwards() -> None:
    assert DEFAULT_RADIO.dns == Dns(hosts=(), forward=True)


def test_a_fake_network_run_asks_the_host_nothing(
    joined: EmulatorHarness, resolver_guard: ResolverGuard
) -> None:
    joined.send(b"D0=localhost\rD0=no-such-host.invalid\rD0=10.1.2.3\r")
    joined.send(b"T1=192.0.2.1\rT2=1\rT0\r")
    joined.advance(6)
    assert resolver_guard.asked == []


def test_the_resolver_guard_refuses_names_that_would_leave_the_machine(
    resolver_guard: ResolverGuard,
) -> None:
    assert socket.getaddrinfo("localhost", 80)
    assert socket.getaddrinfo("127.0.0.1", 80) and socket.getaddrinfo(None, 80)
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("no-such-host.invalid", 80)
    assert resolver_guard.refused == ["no-such-host.invalid"]
    resolver_guard.refused.clear()  # this test made the refusal on purpose


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
