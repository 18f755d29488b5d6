"""Test kit: a client link wired straight to an in-process emulated module.

:class:`EngineLink` implements the client's :class:`~eswifi.client.link.Link` protocol on
top of an :class:`~eswifi.testing.EmulatorHarness` (engine + in-memory network + manual
clock). Nothing runs in the background: a write runs the engine until it is idle, and a
read that finds nothing advances the *virtual* clock to the next engine or network
deadline (R2/S2 timeouts, keep-alive), never further than asked. The client reads time
from :meth:`EngineLink.monotonic`, so socket timeouts run in virtual time too: a test
of a 5-second timeout takes microseconds and no sleep::

    link = EngineLink()
    module = Module(link)
    module.join("eswifi-lab", "eswifi-pass")
    server = module.socket()
    server.bind(("", 8080))
    server.listen()
    peer = link.network.connect("127.0.0.1", 8080, source=("10.0.0.7", 40000))
    conn, address = server.accept()

The harness is not thread-safe; the client's command lock serialises every access made
through the link. Tests that drive fake peers while client threads run must do so before
starting or after joining the threads.
"""

from __future__ import annotations

from eswifi.emulator.backends.fake import FakeNetwork
from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.profile import SPI_C3525, UART_C6, FirmwareProfile, LinkProfile
from eswifi.errors import LinkClosed
from eswifi.testing.harness import EmulatorHarness


class EngineLink:
    """A :class:`~eswifi.client.link.Link` to an :class:`EmulatorHarness`, pumped synchronously.

    Args:
        harness: the emulated module; by default a fresh one with the UART (or, with
            ``spi=True``, the SPI) firmware profile.
        spi: pick the SPI firmware profile for the default harness.
        profile: firmware profile for the default harness (overrides ``spi``).
    """

    def __init__(
        self,
        harness: EmulatorHarness | None = None,
        *,
        spi: bool = False,
        profile: FirmwareProfile | None = None,
    ) -> None:
        if harness is None:
            chosen = profile if profile is not None else (SPI_C3525 if spi else UART_C6)
            harness = EmulatorHarness(ModuleEngine(profile=chosen))
        self.harness = harness
        self.spi = harness.engine.profile.link is LinkProfile.SPI
        """Whether the module is the SPI build; :class:`~eswifi.client.Module` follows it."""
        self._rx = bytearray(harness.attach())
        self._closed = False
        self.written = bytearray()
        """Every byte the client wrote (for assertions)."""

    @property
    def network(self) -> FakeNetwork:
        """The in-memory network: tests play remote peers through it."""
        return self.harness.network

    @property
    def engine(self) -> ModuleEngine:
        return self.harness.engine

    def write(self, data: bytes) -> None:
        self._check()
        self.written += data
        # Apply what test-driven peers did first, as a real network would have by now.
        self._rx += self.harness.output()
        self._rx += self.harness.send(bytes(data))

    def read(self, timeout: float) -> bytes:
        self._check()
        self._rx += self.harness.output()
        if not self._rx:
            self._rx += self._advance(max(0.0, timeout))
        data = bytes(self._rx)
        self._rx.clear()
        return data

    def monotonic(self) -> float:
        return self.harness.now

    def discard_input(self) -> None:
        self._rx += self.harness.output()
        self._rx.clear()

    def close(self) -> None:
        self._closed = True

    def _advance(self, timeout: float) -> bytes:
        engine = self.harness.engine
        network = self.harness.network
        due = [d for d in (engine.next_deadline(), network.next_deadline()) if d is not None]
        nearest = min(due, default=None)
        step = timeout if nearest is None else min(timeout, max(0.0, nearest - self.harness.now))
        return self.harness.advance(step)

    def _check(self) -> None:
        if self._closed:
            raise LinkClosed("the engine link is closed")
