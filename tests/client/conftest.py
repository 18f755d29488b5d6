"""Fixtures for client tests: a client wired to an in-process module in virtual time."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from eswifi.client import Module
from eswifi.testing_link import EngineLink


@pytest.fixture(params=["uart", "spi"])
def link_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def link(link_kind: str) -> EngineLink:
    return EngineLink(spi=link_kind == "spi")


@pytest.fixture
def module(link: EngineLink, link_kind: str) -> Iterator[Module]:
    """A joined module (``eswifi-lab``) over an in-memory link."""
    mod = Module(link, spi=link_kind == "spi")
    mod.join("eswifi-lab", "eswifi-pass")
    yield mod
    mod.close()
