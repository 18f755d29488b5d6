"""Faults injected on purpose: seeded, reproducible, the same for tests and live runs.

:class:`Faults` holds what is switched on and the seeded random streams that decide the
details (which connect fails, after how many bytes a connection breaks, how the host's
output is cut). It lives on the engine (:attr:`ModuleEngine.faults`) and each layer reads
its own part:

* network faults (peer resets, refused, hanging or slow connects) are applied between the
  engine and the network backend by :meth:`Faults.route` (effects on their way out) and
  :meth:`Faults.observe` (events on their way in): the same code for the real sockets
  (:class:`~eswifi.emulator.runtime.ModuleRuntime`) and for :class:`FakeNetwork` in
  ``EmulatorHarness``;
* a DNS failure is asked by the lookup handler (:meth:`Faults.dns_fails`), so names from
  the radio's DNS table fail too;
* fragmented, delayed host output is cut by :meth:`Faults.fragments` in the runtime's link
  writer;
* a module hang is engine state (:meth:`ModuleEngine.hang`), released by any reset.

Each random choice comes from a stream seeded from :attr:`Faults.seed` and the stream's
name, so the same seed and the same inputs give the same faults. Pure: no clock, no I/O.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum

from eswifi.emulator import messages as m

RESET_REASON = "connection reset by peer"
REFUSED_REASON = "connection refused"
MAX_HELD = 64
"""Connects a ``connect delay`` fault holds at once; beyond it the oldest is dropped."""


class ConnectFault(Enum):
    """What happens to the module's TCP connects."""

    OFF = "off"
    REFUSE = "refuse"
    """Fails at once, as against a closed port (the module's failure reply)."""
    HANG = "hang"
    """Never completes, as against a peer that never accepts: the module's timeout answers."""
    DELAY = "delay"
    """Completes late, as against a slowly accepting peer."""


@dataclass(frozen=True, slots=True)
class Routed:
    """What to do with one effect or event after the faults looked at it."""

    effects: tuple[m.Effect, ...] = ()
    """Requests for the network backend, in order."""
    events: tuple[m.NetEvent, ...] = ()
    """Events for the engine, in order."""


@dataclass(slots=True)
class Faults:
    """The faults switched on for one module, with their seeded random streams."""

    seed: int = 0
    connect: ConnectFault = ConnectFault.OFF
    connect_percent: int = 100
    connect_delay_ms: tuple[int, int] = (0, 0)
    dns_percent: int = 0
    """Share of name lookups that fail (0: none)."""
    reset_after: tuple[int, int] | None = None
    """Each TCP connection breaks after a count of received bytes in this range."""
    fragment_max: int = 0
    """Host output goes out in chunks of 1..fragment_max bytes (0: as produced)."""
    fragment_delay_ms: int = 0
    """Each chunk is followed by a pause of 0..fragment_delay_ms."""
    _streams: dict[str, random.Random] = field(default_factory=dict, repr=False)
    _tcp: set[int] = field(default_factory=set, repr=False)
    """Connects that are TCP (only those break or are refused)."""
    _budgets: dict[int, int] = field(default_factory=dict, repr=False)
    """Live TCP connections: received bytes left before a reset (-1: no reset armed)."""
    _held: list[tuple[float, m.Connect]] = field(default_factory=list, repr=False)

    # ------------------------------------------------------------------ settings

    def reseed(self, seed: int) -> None:
        """Start every random stream again from ``seed``."""
        self.seed = seed
        self._streams.clear()

    def clear(self) -> None:
        """Switch every network, DNS and link fault off (a connect already held by a
        delay still waits out its delay; a hung module stays hung until reset)."""
        self.connect = ConnectFault.OFF
        self.connect_percent = 100
        self.dns_percent = 0
        self.reset_after = None
        self.fragment_max = 0
        self.fragment_delay_ms = 0
        for conn in self._budgets:
            self._budgets[conn] = -1

    def arm_reset(self, low: int, high: int) -> None:
        """Break every TCP connection, open now or later, after low..high received bytes."""
        self.reset_after = (low, high)
        for conn in self._budgets:
            self._budgets[conn] = self._pick("reset", low, high)

    def disarm_reset(self) -> None:
        self.reset_after = None
        for conn in self._budgets:
            self._budgets[conn] = -1

    @property
    def active(self) -> bool:
        return bool(
            self.connect is not ConnectFault.OFF
            or self.dns_percent
            or self.reset_after
            or self.fragment_max
        )

    def describe(self) -> str:
        """One line: the seed and each fault's setting."""
        connect = self.connect.value
        if self.connect is ConnectFault.DELAY:
            connect += " " + _span(self.connect_delay_ms) + "ms"
        if self.connect is not ConnectFault.OFF and self.connect_percent < 100:
            connect += f" {self.connect_percent}%"
        dns = "off" if not self.dns_percent else f"fail {self.dns_percent}%"
        reset = "off" if self.reset_after is None else "after " + _span(self.reset_after)
        fragment = "off"
        if self.fragment_max:
            fragment = f"{self.fragment_max} {self.fragment_delay_ms}ms"
        return f"seed={self.seed} connect={connect} dns={dns} reset={reset} fragment={fragment}"

    # ------------------------------------------------------------------ network side

    def route(self, effect: m.Effect, *, now: float) -> Routed:
        """Apply the faults to one request on its way to the network backend."""
        match effect:
            case m.Connect(transport=m.Transport.TCP, conn=conn):
                self._tcp.add(conn)
                if self.connect is ConnectFault.OFF or not self._hits(
                    "connect", self.connect_percent
                ):
                    return Routed(effects=(effect,))
                match self.connect:
                    case ConnectFault.REFUSE:
                        self._tcp.discard(conn)
                        return Routed(events=(m.ConnectFailed(conn=conn, reason=REFUSED_REASON),))
                    case ConnectFault.HANG:
                        self._tcp.discard(conn)
                        return Routed()
                    case _:
                        low, high = self.connect_delay_ms
                        self._held.append((now + self._pick("delay", low, high) / 1000, effect))
                        if len(self._held) > MAX_HELD:
                            del self._held[0]
                        return Routed()
            case m.CloseConnection(conn=conn):
                self._forget(conn)
                self._held = [(at, held) for at, held in self._held if held.conn != conn]
        return Routed(effects=(effect,))

    def observe(self, event: m.NetEvent) -> Routed:
        """Apply the faults to one event on its way to the engine."""
        match event:
            case m.Connected(conn=conn) if conn in self._tcp:
                self._budgets[conn] = self._new_budget()
            case m.Accepted(conn=conn):
                self._tcp.add(conn)
                self._budgets[conn] = self._new_budget()
            case m.Received(conn=conn, data=data):
                budget = self._budgets.get(conn, -1)
                if budget < 0:
                    return Routed(events=(event,))
                if len(data) < budget:
                    self._budgets[conn] = budget - len(data)
                    return Routed(events=(event,))
                head = (m.Received(conn=conn, data=data[:budget]),) if budget else ()
                return self._break(conn, head)
            case m.ConnectionLost(conn=conn) | m.ConnectFailed(conn=conn):
                self._forget(conn)
        return Routed(events=(event,))

    def reset_all(self) -> Routed:
        """Break every live TCP connection now, as if each peer sent RST."""
        effects: list[m.Effect] = []
        events: list[m.NetEvent] = []
        for conn in list(self._budgets):
            routed = self._break(conn, ())
            effects += routed.effects
            events += routed.events
        return Routed(effects=tuple(effects), events=tuple(events))

    @property
    def live_connections(self) -> int:
        """TCP connections the faults layer sees open (reset candidates)."""
        return len(self._budgets)

    def next_deadline(self) -> float | None:
        """When :meth:`due` has connects to let through."""
        if not self._held:
            return None
        return min(at for at, _ in self._held)

    def due(self, now: float) -> list[m.Effect]:
        """Held connects whose delay has passed, oldest first."""
        ready = [held for at, held in self._held if at <= now]
        self._held = [(at, held) for at, held in self._held if at > now]
        return list(ready)

    # ------------------------------------------------------------------ engine and link side

    def dns_fails(self) -> bool:
        """Whether the name lookup starting now fails."""
        return bool(self.dns_percent) and self._hits("dns", self.dns_percent)

    def fragments(self, data: bytes) -> Iterator[tuple[bytes, float]]:
        """Cut host output into (chunk, seconds to wait after it) pieces."""
        if not self.fragment_max:
            yield data, 0.0
            return
        stream = self._stream("fragment")
        start = 0
        while start < len(data):
            size = stream.randint(1, self.fragment_max)
            pause = (
                stream.randint(0, self.fragment_delay_ms) / 1000 if self.fragment_delay_ms else 0.0
            )
            yield data[start : start + size], pause
            start += size

    # ------------------------------------------------------------------ internals

    def _break(self, conn: int, head: tuple[m.NetEvent, ...]) -> Routed:
        self._forget(conn)
        lost = m.ConnectionLost(conn=conn, reason=RESET_REASON)
        return Routed(effects=(m.CloseConnection(conn=conn, abort=True),), events=(*head, lost))

    def _forget(self, conn: int) -> None:
        self._budgets.pop(conn, None)
        self._tcp.discard(conn)

    def _new_budget(self) -> int:
        if self.reset_after is None:
            return -1
        return self._pick("reset", *self.reset_after)

    def _hits(self, name: str, percent: int) -> bool:
        return percent >= 100 or self._stream(name).randrange(100) < percent

    def _pick(self, name: str, low: int, high: int) -> int:
        return low if high <= low else self._stream(name).randint(low, high)

    def _stream(self, name: str) -> random.Random:
        stream = self._streams.get(name)
        if stream is None:
            stream = self._streams[name] = random.Random(f"{self.seed}:{name}")
        return stream


def _span(values: tuple[int, int]) -> str:
    low, high = values
    return str(low) if high <= low else f"{low}-{high}"
