"""The module-side asyncio driver: runs one engine between a host link and a network.

:class:`ModuleRuntime` is the only asyncio code around the sans-I/O engine. Inputs (host
bytes, a host attaching or detaching, network events, the engine's deadline, control
calls) are applied the moment they arrive, in the event loop callback that delivers them,
with ``now=time.monotonic()``; the effects the engine asks for are carried out in order
before the callback returns: host bytes are written to the link (once per batch of
inputs), network requests go to the backend. An input posted while another is being
applied (a backend reporting ``Sent`` from inside a request) waits its turn in an inbox.
A command therefore costs no task switch: the reply leaves from the same callback that
read the command. One task waits for hosts to attach; it and the backend's work live in
one :class:`asyncio.TaskGroup`.

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
from eswifi.emulator.eventlog import EventLog
from eswifi.emulator.links import ATTACH_POLL, HostLink, HostSession
from eswifi.emulator.pacing import LineRate, PacedQueue, uart_rate
from eswifi.emulator.trace import TO_HOST, TO_MODULE, TraceHook

HOST_BACKLOG_LIMIT = 64 * 1024
"""Unprocessed host bytes above which the host link is not read."""
OUTPUT_LIMIT = 1024 * 1024
"""Bytes queued for a host that is not reading, beyond which output is dropped."""
ATTACH_CATCH_UP = 1.0
"""Seconds a control command waits for a host that opened the link to be attached."""
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
class _Tick:
    """The engine's deadline may have passed."""


@dataclass(frozen=True, slots=True)
class _Call:
    """Work submitted from outside the engine (a control channel)."""

    action: Callable[[float], object]


_Input = _HostAttached | _HostDetached | _HostData | _Tick | _Call | m.NetEvent

SaveSettings = Callable[[Mapping[str, Any] | None], None]
"""Persists the module's saved settings (``Z1``/``Z2``/``Z3``); raises OSError when it
cannot, and the command that saved answers ERROR."""


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
        line_rate: pace the host link at this rate, both ways (``--timing real``);
            None: bytes go as fast as the host takes them.
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
        line_rate: LineRate | None = None,
    ) -> None:
        self.engine = engine
        self.link = link
        self._events = EventLog()
        self._network_factory = network
        self._trace = trace
        self._save_settings = save_settings
        self._backlog_limit = host_backlog_limit
        self._output_limit = output_limit
        self._datagram_limit = datagram_backlog
        self._datagrams_waiting = 0
        self._network: NetworkBackend | None = None
        self._inbox: deque[_Input] = deque()
        self._busy = False
        self._failure: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._host_paused = False
        self._session: HostSession | None = None
        self._input_stopped = False
        self._output: list[bytes] = []
        self._output_bytes = 0
        self._fragments: deque[tuple[bytes, float]] = deque()
        """Output cut by the fragment fault, waiting for its pauses."""
        self._fragment_bytes = 0
        self._fragment_timer: asyncio.TimerHandle | None = None
        self._pin_watchers: list[Callable[[m.PinChanged], None]] = []
        self._paced_out: PacedQueue | None = None
        self._paced_in: PacedQueue | None = None
        if line_rate is not None:
            self._paced_out = PacedQueue(
                line_rate, self._write_paced, replies=True, on_rate=self._input_rate
            )
            self._paced_in = PacedQueue(line_rate, self._host_data_paced)
        self.dropped_output = 0
        """Host output bytes dropped because the attached host did not read them."""
        self.dropped_datagrams = 0
        """Datagrams dropped because :data:`DATAGRAM_BACKLOG` were already waiting."""

    @property
    def host_attached(self) -> bool:
        """A host is attached to the link."""
        return self._session is not None

    async def host_caught_up(self, limit: float = ATTACH_CATCH_UP) -> None:
        """Wait (at most ``limit`` seconds) until a host that has the link open is attached.

        A host may open the link and pulse RESET on the control channel at once; the
        attach must reach the engine first, or the boot output would go to nobody.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while self._session is None and self.link.host_present() and loop.time() < deadline:
            await asyncio.sleep(ATTACH_POLL)

    def submit(self, action: Callable[[float], object]) -> None:
        """Run ``action(now)`` on the engine between two inputs, then carry out the
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
        self._failure = asyncio.get_running_loop().create_future()
        async with asyncio.TaskGroup() as tasks:
            network = self._network_factory(self._post, tasks)
            self._network = network
            hosts = tasks.create_task(self._serve_hosts())
            try:
                done, _ = await asyncio.wait(
                    (hosts, self._failure), return_when=asyncio.FIRST_COMPLETED
                )
                if self._failure in done:
                    self._failure.result()  # raises what broke the engine
            finally:
                hosts.cancel()
                self._cancel_timer()
                self._drop_fragments()
                self._drop_paced()
                await network.aclose()

    # ------------------------------------------------------------------ input

    async def _serve_hosts(self) -> None:
        while True:
            session = await self.link.attach()
            if session is None:
                return
            gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()

            def lost(
                error: Exception | None,
                session: HostSession = session,
                gone: asyncio.Future[None] = gone,
            ) -> None:
                if error is not None:
                    self._fail(error)
                self._post(_HostDetached(session))
                if not gone.done():
                    gone.set_result(None)

            self._post(_HostAttached(session))
            session.start(self._host_data, lost)
            await gone
            await session.drained()

    def _host_data(self, data: bytes) -> None:
        if self._input_stopped:
            return
        if self._paced_in is not None:
            self._paced_in.put(data)  # reaches the engine as it crosses the line
            if not self._host_paused and self._paced_in.queued >= self._backlog_limit:
                session = self._session
                if session is not None:
                    session.pause_reading()
                    self._host_paused = True
            return
        if self._busy or self._inbox:
            self._post(_HostData(data))
            return
        # The common case, kept short: host bytes with nothing else waiting.
        self._busy = True
        try:
            if self._trace is not None:
                self._trace(TO_MODULE, data)
            engine = self.engine
            engine.receive_host(data, now=time.monotonic())
            self._execute(engine.drain_effects())
            self._settle()
        except Exception as exc:
            self._fail(exc)
        finally:
            self._busy = False

    def stop_input(self) -> None:
        """Stop reading the host: the emulator is shutting down, and a host that keeps
        writing must not delay that."""
        self._input_stopped = True
        if self._session is not None:
            self._session.pause_reading()

    def _post(self, item: _Input) -> None:
        """Apply one input now, or after the one being applied (effects can post events)."""
        if isinstance(item, m.DatagramReceived):
            if self._datagrams_waiting >= self._datagram_limit:
                self.dropped_datagrams += 1
                return
            self._datagrams_waiting += 1
        self._inbox.append(item)
        if self._busy:
            return
        self._busy = True
        try:
            self._settle()
        except Exception as exc:
            self._fail(exc)
        finally:
            self._busy = False

    def _settle(self) -> None:
        """Apply what waits in the inbox, write the output, arm the timer."""
        engine = self.engine
        inbox = self._inbox
        while inbox:
            item = inbox.popleft()
            if isinstance(item, m.DatagramReceived):
                self._datagrams_waiting -= 1
            self._apply(item)
            self._execute(engine.drain_effects())
        self._flush_output()
        self._after_input()

    def _fail(self, exc: Exception) -> None:
        """Stop :meth:`run` with ``exc`` (inputs arrive in loop callbacks, not in a task)."""
        self._inbox.clear()
        if self._failure is None:
            raise exc
        if not self._failure.done():
            self._failure.set_exception(exc)

    def _apply(self, item: _Input) -> None:
        engine = self.engine
        now = time.monotonic()
        match item:
            case _HostData(data=data):
                if self._trace is not None:
                    self._trace(TO_MODULE, data)
                engine.receive_host(data, now=now)
            case _Tick():
                held = engine.faults.next_deadline()
                if held is not None and now >= held:
                    self._to_network(engine.faults.due(now))
                deadline = engine.next_deadline()
                if deadline is not None and now >= deadline:
                    engine.handle_timer(now=now)
            case _HostAttached(session=session):
                self._session = session
                self._host_paused = False
                self._events.host_attached(self.link.name)
                engine.host_attached(now=now)
            case _HostDetached(session=session):
                self._events.host_detached(self.link.name)
                if self._session is session:
                    self._output.clear()  # nobody reads it any more
                    self._output_bytes = 0
                    self._drop_fragments()
                    self._drop_paced()
                    self._session = None
            case _Call(action=action):
                action(now)
            case m.NetEvent():
                self._events.event(item)
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
                self._post(self._save(effect))
            elif isinstance(effect, m.PinChanged):
                for watcher in list(self._pin_watchers):
                    watcher(effect)
            elif isinstance(effect, m.LinkRateChanged):
                if self._paced_out is not None:  # unpaced, bytes go as fast as they can
                    self._flush_output()  # the reply to U0 still goes at the old rate
                    self._paced_out.change_rate(uart_rate(effect.baud))
            else:
                routed = faults.route(effect, now=time.monotonic())
                self._to_network(routed.effects)
                for event in routed.events:
                    self._post(event)

    def _to_network(self, effects: Iterable[m.Effect]) -> None:
        network = self._network
        assert network is not None
        for effect in effects:
            self._events.effect(effect)
            network.execute(effect)

    def _save(self, effect: m.SaveSettings) -> m.NetEvent:
        if self._save_settings is not None:
            try:
                self._save_settings(effect.snapshot)
            except OSError as exc:  # e.g. the state file's folder was removed
                return m.SettingsNotSaved(request=effect.request, reason=str(exc))
        return m.SettingsSaved(request=effect.request)

    def _after_input(self) -> None:
        """Arm the engine's timer and pause or resume reading the host."""
        deadline = self.engine.next_deadline()
        held = self.engine.faults.next_deadline()
        if held is not None and (deadline is None or held < deadline):
            deadline = held
        if deadline != self._timer_at:
            self._cancel_timer()
            if deadline is not None:
                delay = max(0.0, deadline - time.monotonic())
                self._timer = asyncio.get_running_loop().call_later(delay, self._tick)
                self._timer_at = deadline
        paused = self.engine.host_backlog >= self._backlog_limit or (
            self._paced_in is not None and self._paced_in.queued >= self._backlog_limit
        )
        session = self._session
        if self._input_stopped:
            paused = True
        if session is not None and paused != self._host_paused:
            if paused:
                session.pause_reading()
            else:
                session.resume_reading()
        self._host_paused = paused

    def _tick(self) -> None:
        self._timer = None
        self._timer_at = None
        self._post(_Tick())

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._timer_at = None

    # ------------------------------------------------------------------ host side

    def _send_to_host(self, data: bytes) -> None:
        session = self._session
        if session is None:
            return  # nobody attached: an unplugged UART
        queued = session.write_backlog + self._fragment_bytes + self._output_bytes
        if self._paced_out is not None:
            queued += self._paced_out.queued
        if queued + len(data) > self._output_limit:
            self.dropped_output += len(data)
            return
        if self._trace is not None:
            self._trace(TO_HOST, data)
        self._output.append(data)  # written once the inputs at hand are applied
        self._output_bytes += len(data)

    def _flush_output(self) -> None:
        if not self._output:
            return
        output = self._output
        data = output[0] if len(output) == 1 else b"".join(output)
        output.clear()
        self._output_bytes = 0
        if self._session is None:
            return
        if self._paced_out is not None:
            self._paced_out.put(data)  # written slice by slice as it crosses the line
            return
        if self._fragments or self.engine.faults.fragment_max:
            for chunk, pause in self.engine.faults.fragments(data):
                self._fragments.append((chunk, pause))
                self._fragment_bytes += len(chunk)
            if self._fragment_timer is None:
                self._write_fragments()
        else:
            self._session.write(data)

    def _write_fragments(self) -> None:
        """Write the fragmented output, pausing after each piece as the fault says."""
        self._fragment_timer = None
        while self._fragments and self._session is not None:
            chunk, pause = self._fragments.popleft()
            self._fragment_bytes -= len(chunk)
            self._session.write(chunk)
            if pause:
                loop = asyncio.get_running_loop()
                self._fragment_timer = loop.call_later(pause, self._write_fragments)
                return

    # ------------------------------------------------------------------ line-rate pacing

    def _write_paced(self, data: bytes) -> None:
        if self._session is not None:
            self._session.write(data)

    def _host_data_paced(self, data: bytes) -> None:
        self._post(_HostData(data))

    def _input_rate(self, rate: LineRate) -> None:
        """The host's side follows a rate change once the module's reply has gone."""
        if self._paced_in is not None:
            self._paced_in.pacer.rate = rate

    def _drop_paced(self) -> None:
        for queue in (self._paced_out, self._paced_in):
            if queue is not None:
                queue.clear()

    def _drop_fragments(self) -> None:
        if self._fragment_timer is not None:
            self._fragment_timer.cancel()
            self._fragment_timer = None
        self._fragments.clear()
        self._fragment_bytes = 0
