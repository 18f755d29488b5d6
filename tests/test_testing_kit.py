"""The user-facing testing kit: its documented example and the in-process client link."""

from __future__ import annotations

import doctest

import pytest

import eswifi.testing
from eswifi.client import Module
from eswifi.errors import ProtocolError
from eswifi.testing import EmulatorHarness, EngineLink


def test_the_package_docstring_example_runs() -> None:
    result = doctest.testmod(eswifi.testing, raise_on_error=False, verbose=False)
    assert result.attempted >= 5
    assert result.failed == 0


def test_the_harness_is_importable_from_the_package() -> None:
    assert EmulatorHarness.__module__ == "eswifi.testing.harness"


@pytest.mark.parametrize("spi", [False, True])
def test_module_follows_the_link_kind_of_an_engine_link(spi: bool) -> None:
    link = EngineLink(spi=spi)
    assert link.spi is spi
    module = Module(link)
    assert module.channel.spi is spi
    assert module.join("eswifi-lab", "eswifi-pass") == "127.0.0.1"
    server = module.socket()
    server.bind(("", 8080))
    server.listen()
    peer = link.network.connect("127.0.0.1", 8080, source=("10.0.0.7", 40000))
    peer.send(b"hi")
    conn, address = server.accept()
    assert address == ("10.0.0.7", 40000)
    assert conn.recv(10) == b"hi"
    module.close()


def test_an_explicit_link_kind_still_wins() -> None:
    module = Module(EngineLink(spi=True), spi=False)
    with pytest.raises(ProtocolError):
        module.join("eswifi-lab", "eswifi-pass")
