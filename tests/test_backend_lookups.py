"""The asyncio backend's name lookups and pings, on loopback only.

Only ``localhost`` goes to the host resolver (answered from /etc/hosts); failing and slow
lookups replace ``loop.getaddrinfo``, so no DNS query leaves the machine.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from eswifi.emulator import messages as m
from eswifi.emulator.backends import icmp
from eswifi.emulator.backends.asyncio_net import AsyncioNetwork

pytestmark = pytest.mark.timeout(30)


async def _ask(effect: m.Effect) -> m.NetEvent:
    events: asyncio.Queue[m.NetEvent] = asyncio.Queue()
    network = AsyncioNetwork(events.put_nowait)
    try:
        network.execute(effect)
        return await asyncio.wait_for(events.get(), 10)
    finally:
        await network.aclose()


def ask(effect: m.Effect) -> m.NetEvent:
    return asyncio.run(_ask(effect))


def test_resolve_localhost() -> None:
    assert ask(m.Resolve(request=7, name="localhost", timeout_ms=5000)) == m.Resolved(
        request=7, address="127.0.0.1"
    )


def test_resolve_unknown_name_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = []

    async def unknown(self, host, *args, **kwargs):  # the resolver's "no such name"
        asked.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", unknown)
    event = ask(m.Resolve(request=8, name="no-such-host.invalid", timeout_ms=5000))
    assert event == m.ResolveFailed(request=8, reason="Name or service not known")
    assert asked == ["no-such-host.invalid"]


def test_resolve_with_no_address_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    async def empty(self, *args, **kwargs):
        return []

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", empty)
    event = ask(m.Resolve(request=10, name="empty.invalid", timeout_ms=5000))
    assert event == m.ResolveFailed(request=10, reason="no address")


def test_resolve_is_bounded_in_time(monkeypatch: pytest.MonkeyPatch) -> None:
    async def slow(self, *args, **kwargs):  # a resolver that never answers
        await asyncio.sleep(60)

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", slow)
    event = ask(m.Resolve(request=9, name="slow.invalid", timeout_ms=50))
    assert isinstance(event, m.ResolveFailed) and event.request == 9


def test_ping_loopback() -> None:
    event = ask(m.Ping(request=3, host="127.0.0.1", timeout_ms=2000))
    assert isinstance(event, m.PingReply) and event.request == 3
    assert 0 <= event.rtt_ms < 2000


def test_ping_without_icmp_uses_a_tcp_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(icmp, "open_icmp_socket", lambda: None)
    event = ask(m.Ping(request=4, host="127.0.0.1", timeout_ms=2000))
    assert isinstance(event, m.PingReply) and event.request == 4


def test_tcp_probe_counts_an_accepting_host(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        monkeypatch.setattr(icmp, "PROBE_PORT", server.getsockname()[1])
        monkeypatch.setattr(icmp, "open_icmp_socket", lambda: None)
        event = ask(m.Ping(request=5, host="127.0.0.1", timeout_ms=2000))
    assert isinstance(event, m.PingReply)


def test_ping_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    async def silent(host: str) -> float:
        await asyncio.sleep(60)
        return 0.0

    monkeypatch.setattr(icmp, "echo", silent)
    event = ask(m.Ping(request=6, host="127.0.0.1", timeout_ms=50))
    assert isinstance(event, m.PingFailed) and event.request == 6


def test_checksum_of_a_known_packet() -> None:
    packet = icmp.echo_request(0x1234, 1)
    assert icmp.checksum(packet) == 0
    assert packet[:1] == b"\x08"
