"""Fixtures for client tests: a client wired to an in-process module in virtual time."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from eswifi.client import Module
from eswifi.testing.link import EngineLink


@pytest.fixture(params=["uart", "spi"])
def link_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def link(link_kind: str) -> EngineLink:
    return EngineLink(spi=link_kind == "spi")


class Recorder:
    """A trace hook keeping the command line of every transfer the client wrote."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []

    def __call__(self, direction: str, data: bytes) -> None:
        if direction == "tx":
            self.lines.append(data.split(b"\r", 1)[0])


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def module(link: EngineLink, link_kind: str, recorder: Recorder) -> Iterator[Module]:
    """A joined module (``eswifi-lab``) over an in-memory link."""
    mod = Module(link, spi=link_kind == "spi", trace=recorder)
    mod.join("eswifi-lab", "eswifi-pass")
    yield mod
    mod.close()
