"""The eswifi pytest plugin: fixtures for testing host code against an emulated module.

Installed with the package (a ``pytest11`` entry point), so a project that depends on
eswifi gets these fixtures without any ``conftest.py``:

- ``eswifi_emulator``: a running ``eswifi emulate`` subprocess (:class:`RunningEmulator`):
  its link URL, its control channel, its trace file (kept when the test fails);
- ``eswifi_harness``: an in-process :class:`~eswifi.testing.EmulatorHarness`;
- ``eswifi_module``: a client :class:`~eswifi.client.Module` on a fresh emulator
  subprocess, already joined to the built-in ``eswifi-lab`` network.

The module build is the UART one unless a test asks for the SPI one, with the marker
``@pytest.mark.eswifi(link="spi")`` or by indirect parametrisation
(``@pytest.mark.parametrize("eswifi_emulator", ["uart", "spi"], indirect=True)``). The
marker's ``options`` adds ``eswifi emulate`` options (``options=["--radio", "lab.toml"]``).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pytest

from eswifi.client import Module
from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.fault_commands import FaultControls
from eswifi.emulator.profile import SPI_C3525, UART_C6
from eswifi.testing.harness import EmulatorHarness
from eswifi.testing.launch import EmulatorProcess

if TYPE_CHECKING:
    import pluggy

LINK_KINDS = ("uart", "spi")
START_TIMEOUT = 30.0
"""Seconds an emulator subprocess has to start (generous: CI machines can be slow)."""
CONTROL_TIMEOUT = 10.0
LAB_NETWORK = ("eswifi-lab", "eswifi-pass")
"""The built-in network every emulator offers, and its passphrase."""

_FAILED = pytest.StashKey[bool]()
_EMULATORS = pytest.StashKey[list["RunningEmulator"]]()


class RunningEmulator(FaultControls):
    """An ``eswifi emulate`` subprocess started for one test.

    The fault methods (:meth:`refuse_connects`, :meth:`reset_after`, :meth:`hang` …, see
    ``docs/faults.md``) go through its control channel.

    Attributes:
        url: the host link, a pyserial URL (``socket://127.0.0.1:PORT``).
        link: ``"uart"`` or ``"spi"``: the module build.
        control_address: ``(host, port)`` of the control channel.
        trace: the file every host-link byte is written to.
        process: the :class:`~eswifi.testing.EmulatorProcess` itself.
    """

    def __init__(self, process: EmulatorProcess, *, link: str, trace: Path) -> None:
        self.process = process
        self.url = process.url
        self.link = link
        self.trace = trace
        assert process.control_address is not None  # started with --control
        self.control_address = process.control_address

    def open_module(self, *, timeout: float = 10.0) -> Module:
        """A client :class:`~eswifi.client.Module` on this emulator's link (not joined);
        ``reset(hard=True)`` pulses its RESET pin through the control channel."""
        kind: Literal["uart", "spi"] = "spi" if self.link == "spi" else "uart"
        return Module.open(self.url, kind, timeout=timeout, control=self.control_address)

    def control(self, command: str) -> str:
        """Send one control-channel command (``vanish eswifi-lab``, ``status``…); its answer."""
        return self.process.control(command, wait=CONTROL_TIMEOUT)

    def errors(self) -> str:
        """What the emulator wrote on stderr so far."""
        return self.process.errors()


def _link_kind(request: pytest.FixtureRequest) -> str:
    kind = getattr(request, "param", None)
    if kind is None:
        marker = request.node.get_closest_marker("eswifi")
        kind = marker.kwargs.get("link", "uart") if marker is not None else "uart"
    if kind not in LINK_KINDS:
        raise ValueError(f"eswifi marker: link must be 'uart' or 'spi', not {kind!r}")
    return str(kind)


def _extra_options(request: pytest.FixtureRequest) -> Sequence[str]:
    marker = request.node.get_closest_marker("eswifi")
    return tuple(marker.kwargs.get("options", ())) if marker is not None else ()


@pytest.fixture
def eswifi_emulator(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningEmulator]:
    """A running ``eswifi emulate`` on a free loopback port, with a control channel.

    The trace file is removed after a passing test and kept after a failing one; the
    failure report then names it and shows what the emulator wrote on stderr.
    """
    link = _link_kind(request)
    trace = tmp_path_factory.mktemp("eswifi") / "trace.txt"
    options = ("--listen", "127.0.0.1:0", "--control", "127.0.0.1:0", "--link", link)
    with EmulatorProcess(
        *options, "--trace", str(trace), *_extra_options(request), wait=START_TIMEOUT
    ) as process:
        emulator = RunningEmulator(process, link=link, trace=trace)
        request.node.stash.setdefault(_EMULATORS, []).append(emulator)
        yield emulator
        if not request.node.stash.get(_FAILED, False):
            process.close()
            trace.unlink(missing_ok=True)


@pytest.fixture
def eswifi_harness(request: pytest.FixtureRequest) -> EmulatorHarness:
    """A fresh in-process module (engine, in-memory network, manual clock), not joined."""
    profile = SPI_C3525 if _link_kind(request) == "spi" else UART_C6
    return EmulatorHarness(ModuleEngine(profile=profile))


@pytest.fixture
def eswifi_module(eswifi_emulator: RunningEmulator) -> Iterator[Module]:
    """A client module on a fresh emulator subprocess, joined to ``eswifi-lab``."""
    with eswifi_emulator.open_module() as module:
        module.join(*LAB_NETWORK)
        yield module


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "eswifi(link='uart'|'spi', options=[...]): the module build and extra 'eswifi emulate' "
        "options for the eswifi_emulator, eswifi_harness and eswifi_module fixtures",
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pluggy.Result[pytest.TestReport], None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not report.failed:
        return
    item.stash[_FAILED] = True
    for emulator in item.stash.get(_EMULATORS, []):
        try:
            errors = emulator.errors()
        except ValueError:  # the fixture has already closed the process and its stderr
            errors = "(closed)"
        report.sections.append(
            (
                f"eswifi emulator ({report.when})",
                f"link: {emulator.url} ({emulator.link})\ntrace kept: {emulator.trace}\n"
                f"stderr:\n{errors}",
            )
        )
