"""The in-process module: an engine wired to the in-memory network under a manual clock.

No I/O and no background work: every call runs the engine and the network until both are
idle. The example in :mod:`eswifi.testing` shows a complete exchange.
"""

from __future__ import annotations

from eswifi.emulator import messages as m
from eswifi.emulator.backends.fake import FakeNetwork
from eswifi.emulator.control import run_control_command
from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.fault_commands import FaultControls
from eswifi.emulator.pins import Pin


class ManualClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start


class EmulatorHarness(FaultControls):
    """Engine + :class:`FakeNetwork` + :class:`ManualClock`, pumped synchronously.

    Every call runs the engine and the network until neither has anything left to do, so
    a test sees the complete consequence of each input. Faults go through the engine's
    :class:`~eswifi.emulator.faults.Faults`, as in a live run; :meth:`control` runs a
    control-channel command (``fault connect refuse``, ``vanish eswifi-lab`` …) and the
    fault methods (:meth:`refuse_connects`, :meth:`hang` …) are shortcuts for them.
    """

    MAX_ROUNDS = 10_000

    def __init__(
        self,
        engine: ModuleEngine | None = None,
        *,
        network: FakeNetwork | None = None,
        clock: ManualClock | None = None,
    ) -> None:
        self.engine = engine if engine is not None else ModuleEngine()
        self.network = network if network is not None else FakeNetwork()
        self.clock = clock if clock is not None else ManualClock()
        self._output = bytearray()
        self.saved_settings: object = None
        """The last snapshot the engine asked to persist (``SaveSettings``), if any."""
        self.edges: list[m.PinChanged] = []
        """Every pin edge so far, oldest first (see :meth:`take_edges`)."""
        self.line_rates: list[int] = []
        """Every rate the module switched its UART to (``LinkRateChanged``), in order."""

    @property
    def now(self) -> float:
        return self.clock.now

    def send(self, data: bytes) -> bytes:
        """Feed host bytes; return everything the module wrote back meanwhile."""
        self.engine.receive_host(data, now=self.now)
        self.pump()
        return self.take_output()

    def attach(self) -> bytes:
        """Tell the engine a host attached; return what it wrote (the SPI greeting)."""
        self.engine.host_attached(now=self.now)
        self.pump()
        return self.take_output()

    def control(self, line: str) -> str:
        """Run one control-channel command now; its host output waits in :meth:`output`."""
        answer = run_control_command(self.engine, line, now=self.now)
        self.pump()
        return answer

    def reset(self) -> bytes:
        """Pulse RESET; return what the module wrote (its boot output, once booted)."""
        self.engine.pulse_reset(now=self.now)
        return self.output()

    def hold_reset(self) -> bytes:
        """Hold RESET low: the module is dead until :meth:`release_reset`."""
        self.engine.hold_reset(now=self.now)
        return self.output()

    def release_reset(self) -> bytes:
        """Release RESET; the module boots after its boot time (move the clock)."""
        self.engine.release_reset(now=self.now)
        return self.output()

    @property
    def ready(self) -> int:
        """The DATA-READY level (SPI builds; 0 on the UART build)."""
        return self.engine.pins.level(Pin.READY)

    def take_edges(self) -> list[tuple[str, int, float]]:
        """Return and forget the pin edges so far, as ``(pin, level, time)``."""
        edges = [(e.pin, e.level, e.at) for e in self.edges]
        self.edges.clear()
        return edges

    def output(self) -> bytes:
        """Pump, then return and forget the host bytes written so far."""
        self.pump()
        return self.take_output()

    def take_output(self) -> bytes:
        data = bytes(self._output)
        self._output.clear()
        return data

    def advance(self, seconds: float) -> bytes:
        """Move the clock forward, firing every deadline on the way in order."""
        target = self.now + seconds
        for _ in range(self.MAX_ROUNDS):
            faults = self.engine.faults
            deadlines = (
                self.engine.next_deadline(),
                self.network.next_deadline(),
                faults.next_deadline(),
            )
            due = [d for d in deadlines if d is not None]
            nearest = min(due, default=None)
            if nearest is None or nearest > target:
                break
            self.clock.now = max(self.now, nearest)
            for effect in faults.due(self.now):
                self.network.execute(effect, now=self.now)
            self.network.handle_timer(now=self.now)
            self.pump()
            self.engine.handle_timer(now=self.now)
            self.pump()
        else:  # pragma: no cover - a timer that keeps re-arming in the past
            raise RuntimeError("timers did not settle")
        self.clock.now = target
        return self.take_output()

    def pump(self) -> None:
        """Move effects and events between engine and network until both are idle."""
        faults = self.engine.faults
        for _ in range(self.MAX_ROUNDS):
            effects = self.engine.drain_effects()
            events: list[m.NetEvent] = []
            for effect in effects:
                if isinstance(effect, m.HostWrite):
                    self._output += effect.data
                elif isinstance(effect, m.SaveSettings):
                    self.saved_settings = effect.snapshot
                    self.engine.receive_net(m.SettingsSaved(request=effect.request), now=self.now)
                elif isinstance(effect, m.PinChanged):
                    self.edges.append(effect)
                elif isinstance(effect, m.LinkRateChanged):
                    self.line_rates.append(effect.baud)
                else:
                    routed = faults.route(effect, now=self.now)
                    for forwarded in routed.effects:
                        self.network.execute(forwarded, now=self.now)
                    events += routed.events
            events += self.network.drain_events()
            for event in events:
                observed = faults.observe(event)
                for effect in observed.effects:
                    self.network.execute(effect, now=self.now)
                for delivered in observed.events:
                    self.engine.receive_net(delivered, now=self.now)
            if not effects and not events:
                return
        raise RuntimeError("engine and network did not settle")  # pragma: no cover
