"""Shared fixtures: an in-memory module (engine + fake network + manual clock), and a guard
that keeps every test's name lookups on this machine."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from eswifi.testing import EmulatorHarness

pytest_plugins = ["pytester"]

# No per-example deadline: on a loaded machine an example's wall time says nothing about
# the code, and a deadline would make the suite depend on timing it does not control.
settings.register_profile(
    "ci",
    max_examples=200,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=100)
settings.load_profile("ci")

OK = b"\r\n\r\nOK\r\n> "
ERROR = b"\r\n\r\nERROR\r\n> "
JOIN = b"C1=eswifi-lab\rC2=eswifi-pass\rC3=3\rC0\r"


@pytest.fixture
def module(eswifi_harness: EmulatorHarness) -> EmulatorHarness:
    """A fresh in-memory module, not joined (the plugin's ``eswifi_harness``)."""
    return eswifi_harness


@pytest.fixture
def joined(module: EmulatorHarness) -> EmulatorHarness:
    """A module joined to the built-in ``eswifi-lab`` network."""
    reply = module.send(JOIN)
    assert reply.endswith(b"\r\n[JOIN   ] eswifi-lab,127.0.0.1,0,0\r\nOK\r\n> ")
    return module


LOCAL_NAMES = frozenset({"localhost"})
"""Names the host resolver answers from /etc/hosts, with no DNS query (on every system)."""


def is_local(host: object) -> bool:
    """Whether looking ``host`` up stays on this machine and leads only to loopback.

    Loopback and wildcard (bind) literals, and the ``localhost`` names, are local.
    """
    if host is None or host in ("", b""):
        return True
    text = host.decode("ascii", "replace") if isinstance(host, bytes) else str(host)
    if text.lower().removesuffix(".") in LOCAL_NAMES:
        return True
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


class ResolverGuard:
    """Records every ``socket.getaddrinfo`` call; refuses names that are not local."""

    def __init__(self) -> None:
        self.asked: list[object] = []
        self.refused: list[object] = []


@pytest.fixture(autouse=True)
def resolver_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[ResolverGuard]:
    """No test may send a DNS query: a non-local name fails the test (and is not looked up).

    ``socket.getaddrinfo`` is what ``loop.getaddrinfo``, ``socket.create_connection`` and
    pyserial's ``socket://`` all end in. Subprocesses (the CLI tests) are not covered;
    they use loopback addresses, ``localhost`` and radio files with ``forward = false``.
    """
    guard = ResolverGuard()
    real = socket.getaddrinfo

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        guard.asked.append(host)
        if not is_local(host):
            guard.refused.append(host)
            raise socket.gaierror(socket.EAI_NONAME, f"test guard: no lookup of {host!r}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield guard
    assert not guard.refused, f"a test tried to resolve non-local names: {guard.refused}"
