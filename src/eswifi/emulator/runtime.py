"""The module-side asyncio driver: runs one engine between a host link and a network.

:class:`ModuleRuntime` is the only asyncio code around the sans-I/O engine. One task feeds
the engine: it waits for input (host bytes, a host attaching or detaching, network
events) or for the engine's next deadline, applies it with ``now=time.monotonic()``, and
executes the effects the engine asks for, in order. Host bytes go to a writer task, network
requests to the backend. Helper tasks read the host link and write to it; all of them,
and the backend's work, live in one :class:`asyncio.TaskGroup`.

Buffers stay bounded: the host link is not read while the engine holds more than
``host_backlog_limit`` unprocessed host bytes, and the network backend is told to stop
reading by the engine itself. Output for a host that does not read is dropped past
``output_limit`` bytes, as a UART's bytes are lost when nobody listens; with no host
attached at all, output is dropped at once.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from eswifi.emulator import messages as m
from eswifi.emulator.backends.asyncio_net import AsyncioNetwork
from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.links import HostLink, HostSession
from eswifi.emulator.trace import TO_HOST, TO_MODULE, TraceHook

HOST_BACKLOG_LIMIT = 64 * 1024
"""Unprocessed host bytes above which the host link is not read."""
OUTPUT_LIMIT = 1024 * 1024
"""Bytes queued for a host that is not reading, beyond which output is dropped."""
DATAGRAM_BACKLOG = 1024
"""Received datagrams waiting for the engine beyond which new ones are dropped, as a
full network stack drops UDP; TCP needs no such bound (the engine pauses reading)."""

Post = Callable[[m.NetEvent], None]
"""How a network backend reports an event to the runtime."""


class NetworkBackend(Protocol):
    """What the runtime needs from a network backend."""

    def execute(self, effect: m.Effect) -> None:
        """Start one network request without blocking; its result comes back through post."""
        ...

    async def aclose(self) -> None:
        """Close every socket and stop every pending operation."""
        ...


NetworkFactory = Callable[[Post, asyncio.TaskGroup], NetworkBackend]
"""Builds the network backend, given where to post events and the runtime's task group."""


def asyncio_network(post: Post, task_group: asyncio.TaskGroup) -> NetworkBackend:
    """The default backend: real host sockets."""
    return AsyncioNetwork(post, task_group=task_group)


@dataclass(frozen=True, slots=True)
class _HostAttached:
    session: HostSession


@dataclass(frozen=True, slots=True)
class _HostDetached:
    session: HostSession


@dataclass(frozen=True, slots=True)
class _HostData:
    data: bytes


@dataclass(frozen=True, slots=True)
class _LinkGone:
    """No host can attach any more (stdin reached its end)."""


@dataclass(frozen=True, slots=True)
class _Call:
    """Work submitted from outside the engine task (a control channel)."""

    action: Callable[[float], object]


_Input = _HostAttached | _HostDetached | _HostData | _LinkGone | _Call | m.NetEvent

SaveSettings = Callable[[Mapping[str, Any] | None], None]
"""Persists the module's saved settings (``Z1``/``Z2``/``Z3``)."""


class ModuleRuntime:
    """Drives a :class:`ModuleEngine` with a host link and a network backend.

    Args:
        engine: the module to run.
        link: where hosts attach.
        network: builds the network backend (default: real sockets).
        trace: called with every byte that crosses the host link, both ways.
        save_settings: persists what the module saves (default: kept in memory only).
        host_backlog_limit: see :data:`HOST_BACKLOG_LIMIT`.
        output_limit: see :data:`OUTPUT_LIMIT`.
        datagram_backlog: see :data:`DATAGRAM_BACKLOG`.
    """

    def __init__(
        self,
        engine: ModuleEngine,
        link: HostLink,
        *,
        network: NetworkFactory = asyncio_network,
        trace: TraceHook | None = None,
        save_settings: SaveSettings | None = None,
        host_backlog_limit: int = HOST_BACKLOG_LIMIT,
        output_limit: int = OUTPUT_LIMIT,
        datagram_backlog: int = DATAGRAM_BACKLOG,
    ) -> None:
        self.engine = engine
        self.link = link
        self._network_factory = network
        self._trace = trace
        self._save_settings = save_settings
        self._backlog_limit = host_backlog_limit
        self._output_limit = output_limit
        self._datagram_limit = datagram_backlog
        self._datagrams_waiting = 0
        self._network: NetworkBackend | None = None
        self._inbox: deque[_Input] = deque()
        self._wake = asyncio.Event()
        self._host_ready = asyncio.Event()
        self._host_ready.set()
        self._host_paused = False
        self._session: HostSession | None = None
        self._output: deque[tuple[HostSession, bytes]] = deque()
        self._output_bytes = 0
        self._output_wake = asyncio.Event()
        self._output_idle = asyncio.Event()
        self._output_idle.set()
        self._pin_watchers: list[Callable[[m.PinChanged], None]] = []
        self.dropped_output = 0
        self.dropped_datagrams = 0
        """Datagrams dropped because :data:`DATAGRAM_BACKLOG` were already waiting."""
        """Host output bytes dropped because the attached host did not read them."""

    @property
    def host_attached(self) -> bool:
        """A host is attached to the link."""
        return self._session is not None

    def submit(self, action: Callable[[float], object]) -> None:
        """Run ``action(now)`` on the engine task between two inputs, then carry out the
        effects it caused (control channels change the radio this way)."""
        self._post(_Call(action))

    def watch_pins(self, watcher: Callable[[m.PinChanged], None]) -> Callable[[], None]:
        """Call ``watcher`` with every pin edge from now on; returns how to stop."""
        self._pin_watchers.append(watcher)
        return lambda: self._pin_watchers.remove(watcher) if watcher in self._pin_watchers else None

    @property
    def host_reading_paused(self) -> bool:
        """The host link is not being read because the engine's host backlog is full."""
        return self._host_paused

    async def run(self) -> None:
        """Run until the link can have no more hosts, or until cancelled.

        Every socket the module opened is closed on the way out; the link itself belongs
        to the caller.
        """
        async with asyncio.TaskGroup() as tasks:
            network = self._network_factory(self._post, tasks)
            self._network = network
            helpers = [
                tasks.create_task(self._read_host()),
                tasks.create_task(self._write_host()),
            ]
            try:
                await self._feed_engine()
                await self._output_idle.wait()
            finally:
                for helper in helpers:
                    helper.cancel()
                await network.aclose()

    # ------------------------------------------------------------------ engine task

    async def _feed_engine(self) -> None:
        engine = self.engine
        faults = engine.faults
        while True:
            await self._wait_for_input(_earliest(engine.next_deadline(), faults.next_deadline()))
            while self._inbox:
                item = self._inbox.popleft()
                if isinstance(item, m.DatagramReceived):
                    self._datagrams_waiting -= 1
                if isinstance(item, _LinkGone):
                    return
                self._apply(item)
                self._execute(engine.drain_effects())
            held = faults.next_deadline()
            if held is not None and time.monotonic() >= held:
                self._to_network(faults.due(time.monotonic()))
            deadline = engine.next_deadline()
            if deadline is not None and time.monotonic() >= deadline:
                engine.handle_timer(now=time.monotonic())
                self._execute(engine.drain_effects())
            self._host_paused = engine.host_backlog >= self._backlog_limit
            if self._host_paused:
                self._host_ready.clear()
            else:
                self._host_ready.set()

    async def _wait_for_input(self, deadline: float | None) -> None:
        if self._inbox:
            return
        self._wake.clear()
        delay = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            async with asyncio.timeout(delay):
                await self._wake.wait()
        except TimeoutError:
            pass

    def _post(self, item: _Input) -> None:
        if isinstance(item, m.DatagramReceived):
            if self._datagrams_waiting >= self._datagram_limit:
                self.dropped_datagrams += 1
                return
            self._datagrams_waiting += 1
        self._inbox.append(item)
        self._wake.set()

    def _apply(self, item: _Input) -> None:
        engine = self.engine
        now = time.monotonic()
        match item:
            case _HostData(data=data):
                if self._trace is not None:
                    self._trace(TO_MODULE, data)
                engine.receive_host(data, now=now)
            case _HostAttached(session=session):
                self._session = session
                engine.host_attached(now=now)
            case _HostDetached(session=session):
                if self._session is session:
                    self._session = None
                self._drop_output(session)
            case _Call(action=action):
                action(now)
            case m.NetEvent():
                routed = engine.faults.observe(item)
                self._to_network(routed.effects)
                for event in routed.events:
                    engine.receive_net(event, now=now)

    def _execute(self, effects: list[m.Effect]) -> None:
        faults = self.engine.faults
        for effect in effects:
            if isinstance(effect, m.HostWrite):
                self._send_to_host(effect.data)
            elif isinstance(effect, m.SaveSettings):
                if self._save_settings is not None:
                    self._save_settings(effect.snapshot)
            elif isinstance(effect, m.PinChanged):
                for watcher in list(self._pin_watchers):
                    watcher(effect)
            elif isinstance(effect, m.LinkRateChanged):
                pass  # the link is not paced: bytes go as fast as the host takes them
            else:
                routed = faults.route(effect, now=time.monotonic())
                self._to_network(routed.effects)
                for event in routed.events:
                    self._post(event)

    def _to_network(self, effects: Iterable[m.Effect]) -> None:
        network = self._network
        assert network is not None
        for effect in effects:
            network.execute(effect)

    # ------------------------------------------------------------------ host side

    def _send_to_host(self, data: bytes) -> None:
        session = self._session
        if session is None:
            return  # nobody attached: an unplugged UART
        if self._output_bytes + len(data) > self._output_limit:
            self.dropped_output += len(data)
            return
        if self._trace is not None:
            self._trace(TO_HOST, data)
        self._output.append((session, data))
        self._output_bytes += len(data)
        self._output_idle.clear()
        self._output_wake.set()

    def _drop_output(self, session: HostSession) -> None:
        kept = deque(item for item in self._output if item[0] is not session)
        self._output_bytes = sum(len(data) for _, data in kept)
        self._output = kept
        if not kept:
            self._output_idle.set()

    async def _write_host(self) -> None:
        while True:
            while self._output:
                session, data = self._output.popleft()
                chunks = [data]
                while self._output and self._output[0][0] is session:
                    chunks.append(self._output.popleft()[1])
                data = b"".join(chunks)
                self._output_bytes -= len(data)
                if self.engine.faults.fragment_max:
                    for chunk, pause in self.engine.faults.fragments(data):
                        await session.write(chunk)
                        if pause:
                            await asyncio.sleep(pause)
                else:
                    await session.write(data)
            self._output_idle.set()
            self._output_wake.clear()
            await self._output_wake.wait()

    async def _read_host(self) -> None:
        while True:
            session = await self.link.attach()
            if session is None:
                self._post(_LinkGone())
                return
            self._post(_HostAttached(session))
            while True:
                await self._host_ready.wait()
                data = await session.read()
                if not data:
                    break
                # One chunk in flight: the engine task decides when the next may be read.
                self._host_ready.clear()
                self._post(_HostData(data))
            self._post(_HostDetached(session))


def _earliest(*deadlines: float | None) -> float | None:
    return min((d for d in deadlines if d is not None), default=None)
