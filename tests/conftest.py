"""Shared fixtures: an in-memory module (engine + fake network + manual clock)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

from eswifi.testing import EmulatorHarness

settings.register_profile(
    "ci", max_examples=200, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=100)
settings.load_profile("ci")

OK = b"\r\n\r\nOK\r\n> "
ERROR = b"\r\n\r\nERROR\r\n> "
JOIN = b"C1=eswifi-lab\rC2=eswifi-pass\rC3=3\rC0\r"


@pytest.fixture
def module() -> EmulatorHarness:
    """A fresh in-memory module, not joined."""
    return EmulatorHarness()


@pytest.fixture
def joined(module: EmulatorHarness) -> EmulatorHarness:
    """A module joined to the built-in ``eswifi-lab`` network."""
    reply = module.send(JOIN)
    assert reply.endswith(b"\r\n[JOIN   ] eswifi-lab,127.0.0.1,0,0\r\nOK\r\n> ")
    return module
