"""The runtime between an in-memory link and a scripted network (no sockets)."""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from eswifi.emulator import messages as m
from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.links import HostSession
from eswifi.emulator.profile import SPI_C3525
from eswifi.emulator.runtime import ModuleRuntime, Post
from eswifi.emulator.trace import TO_HOST, TO_MODULE

pytestmark = pytest.mark.timeout(30)

WAIT = 10.0
OK = b"\r\n\r\nOK\r\n> "
JOIN = b"C1=eswifi-lab\rC2=eswifi-pass\rC3=3\rC0\r"


def async_test(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


async def until(condition: Callable[[], bool]) -> None:
    """Let in-memory tasks run until ``condition`` holds (no clock involved)."""
    for _ in range(100_000):
        if condition():
            return
        await asyncio.sleep(0)
    pytest.fail("condition never held")


class FakeHost:
    """An attached host: the test feeds its bytes and reads what the module wrote.

    Bytes the test feeds wait in :attr:`incoming` and are delivered one chunk per loop
    turn while the module reads, as a transport does.
    """

    def __init__(self) -> None:
        self.incoming: deque[bytes] = deque()
        self.output = bytearray()
        self._wrote = asyncio.Event()
        self._on_data: Callable[[bytes], None] | None = None
        self._on_lost: Callable[[Exception | None], None] | None = None
        self._reading = False
        self._scheduled = False

    def feed(self, data: bytes) -> None:
        """The host sends ``data`` (``b""``: it detaches)."""
        self.incoming.append(data)
        self._schedule()

    def start(
        self, on_data: Callable[[bytes], None], on_lost: Callable[[Exception | None], None]
    ) -> None:
        self._on_data, self._on_lost = on_data, on_lost
        self.resume_reading()

    def pause_reading(self) -> None:
        self._reading = False

    def resume_reading(self) -> None:
        self._reading = True
        self._schedule()

    def write(self, data: bytes) -> None:
        self.output += data
        self._wrote.set()

    @property
    def write_backlog(self) -> int:
        return 0

    async def drained(self) -> None:
        pass

    async def aclose(self) -> None:
        self.feed(b"")

    def _schedule(self) -> None:
        if self._reading and self.incoming and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._deliver)

    def _deliver(self) -> None:
        self._scheduled = False
        if not (self._reading and self.incoming):
            return
        data = self.incoming.popleft()
        if not data:
            self._reading = False
            assert self._on_lost is not None
            self._on_lost(None)
            return
        assert self._on_data is not None
        self._on_data(data)
        self._schedule()

    async def reply(self, ending: bytes = b"> ") -> bytes:
        """Wait for output ending with ``ending``; return and forget it."""
        async with asyncio.timeout(WAIT):
            while not self.output.endswith(ending):
                self._wrote.clear()
                await self._wrote.wait()
        data = bytes(self.output)
        self.output.clear()
        return data

    async def command(self, data: bytes, ending: bytes = b"> ") -> bytes:
        self.feed(data)
        return await self.reply(ending)


class FakeLink:
    name = "fake"

    def __init__(self) -> None:
        self.hosts: asyncio.Queue[HostSession | None] = asyncio.Queue()

    async def attach(self) -> HostSession | None:
        return await self.hosts.get()

    def host_present(self) -> bool:
        return False

    async def aclose(self) -> None:
        pass


class ScriptedNetwork:
    """Records the engine's requests; the test posts the answers."""

    def __init__(self) -> None:
        self.requests: list[m.Effect] = []
        self.post: Post = lambda event: None
        self.closed = False

    def factory(self, post: Post, task_group: asyncio.TaskGroup) -> ScriptedNetwork:
        self.post = post
        return self

    def execute(self, effect: m.Effect) -> None:
        self.requests.append(effect)

    async def aclose(self) -> None:
        self.closed = True

    def last(self, kind: type[m.Effect]) -> Any:
        return next(r for r in reversed(self.requests) if isinstance(r, kind))


class Running:
    """A runtime running in the background for one test."""

    def __init__(self, engine: ModuleEngine | None = None, **options: Any) -> None:
        self.link = FakeLink()
        self.network = ScriptedNetwork()
        self.runtime = ModuleRuntime(
            engine or ModuleEngine(), self.link, network=self.network.factory, **options
        )
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Running:
        self.task = asyncio.create_task(self.runtime.run())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self.task is None:  # the test awaited run() itself
            return
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task
        assert self.network.closed

    async def attach(self) -> FakeHost:
        host = FakeHost()
        self.link.hosts.put_nowait(host)
        await until(lambda: self.runtime.host_attached)
        return host


@async_test
async def test_commands_are_answered_on_the_link() -> None:
    async with Running() as running:
        host = await running.attach()
        assert await host.command(b"P0=1\r") == OK
        assert await host.command(b"P0\r") == b"\r\n1\r\nOK\r\n> "


@async_test
async def test_attaching_tells_the_engine_so_the_spi_build_greets() -> None:
    async with Running(ModuleEngine(profile=SPI_C3525)) as running:
        host = await running.attach()
        assert await host.reply() == b"\x15\x15\r\n> "


@async_test
async def test_the_engine_deadline_fires_without_any_input() -> None:
    async with Running() as running:
        host = await running.attach()
        assert await host.command(b"S2=20\r") == OK
        # Two payload bytes of five: after S2 the module gives up waiting for the rest.
        reply = await host.command(b"S3=5\rab")
        assert reply == b"\r\n-1\r\nERROR\r\n> "  # not joined


@async_test
async def test_network_requests_go_to_the_backend_and_events_come_back() -> None:
    async with Running() as running:
        host = await running.attach()
        await host.command(JOIN, b"0,0\r\nOK\r\n> ")
        host.feed(b"P5=11\r")
        await until(lambda: any(isinstance(r, m.Listen) for r in running.network.requests))
        listen = running.network.last(m.Listen)
        assert (listen.host, listen.port) == ("127.0.0.1", 5024)
        running.network.post(m.Listening(listener=listen.listener, port=5024))
        assert (await host.reply()).endswith(b"Waiting on connection ...\r\n\r\nOK\r\n> ")
        accept = running.network.last(m.AcceptNext)
        running.network.post(
            m.Accepted(
                listener=accept.listener, conn=accept.conn, peer_host="127.0.0.9", peer_port=4
            )
        )
        assert await host.reply() == b"\r\n[TCP SVR] Accepted 127.0.0.9:4\r\n> "
        running.network.post(m.Received(conn=accept.conn, data=b"hi"))
        assert await host.command(b"R0\r") == b"\r\nhi\r\nOK\r\n> "


@async_test
async def test_host_reading_pauses_while_the_engine_is_busy_and_its_backlog_full() -> None:
    async with Running(host_backlog_limit=16 * 1024) as running:
        host = await running.attach()
        await host.command(JOIN, b"0,0\r\nOK\r\n> ")
        host.feed(b"P5=1\r")  # waits for the network, which says nothing yet
        await until(lambda: any(isinstance(r, m.Listen) for r in running.network.requests))
        for _ in range(40):
            host.feed(b"\n" * 1024)  # ignored bytes: no replies
        await until(lambda: running.runtime.host_reading_paused)
        for _ in range(100):  # and it stays paused, with the rest left unread
            await asyncio.sleep(0)
        backlog = running.runtime.engine.host_backlog
        assert 16 * 1024 <= backlog <= 17 * 1024
        assert len(host.incoming) == 40 - backlog // 1024
        listen = running.network.last(m.Listen)
        running.network.post(m.Listening(listener=listen.listener, port=5024))
        await host.reply(b"OK\r\n> ")
        await until(
            lambda: (
                not host.incoming
                and running.runtime.engine.host_backlog == 0
                and not running.runtime.host_reading_paused
            )
        )


@async_test
async def test_output_is_dropped_while_no_host_is_attached() -> None:
    async with Running() as running:
        first = await running.attach()
        assert await first.command(b"P0=2\r") == OK
        first.feed(b"")  # detached
        await until(lambda: not running.runtime.host_attached)
        second = await running.attach()
        assert await second.command(b"P0\r") == b"\r\n2\r\nOK\r\n> "  # state kept
        assert first.output == b""


@async_test
async def test_output_for_a_host_that_does_not_read_is_bounded() -> None:
    class StuckHost(FakeHost):
        """Takes every write into its buffer and never sends any of it."""

        stuck = 0

        def write(self, data: bytes) -> None:
            self.stuck += len(data)

        @property
        def write_backlog(self) -> int:
            return self.stuck

    async with Running(output_limit=100) as running:
        host = StuckHost()
        running.link.hosts.put_nowait(host)
        await until(lambda: running.runtime.host_attached)
        for _ in range(20):
            host.feed(b"P0\r")  # 11-byte replies
        await until(lambda: not host.incoming and running.runtime.engine.host_backlog == 0)
        await until(lambda: running.runtime.dropped_output > 0)
        assert running.runtime.dropped_output % 11 == 0  # whole writes are dropped


@async_test
async def test_run_ends_when_no_host_can_attach_any_more() -> None:
    link = FakeLink()
    network = ScriptedNetwork()
    runtime = ModuleRuntime(ModuleEngine(), link, network=network.factory)
    host = FakeHost()
    link.hosts.put_nowait(host)
    host.feed(b"Z5\r")
    host.feed(b"")
    link.hosts.put_nowait(None)
    await asyncio.wait_for(runtime.run(), WAIT)
    assert network.closed


@async_test
async def test_trace_sees_every_byte_both_ways() -> None:
    seen: list[tuple[str, bytes]] = []
    async with Running(trace=lambda direction, data: seen.append((direction, data))) as running:
        host = await running.attach()
        await host.command(b"P0=3\r")
    assert seen == [(TO_MODULE, b"P0=3\r"), (TO_HOST, OK)]


@async_test
async def test_datagrams_the_engine_has_not_taken_yet_are_bounded() -> None:
    async with Running(datagram_backlog=8) as running:
        host = await running.attach()

        def flood(now: float) -> None:
            # Posted while the engine applies this call: they wait in the inbox.
            for number in range(20):
                running.network.post(
                    m.DatagramReceived(conn=99, data=b"%d" % number, host="127.0.0.1", port=9)
                )
            assert running.runtime.dropped_datagrams == 12

        running.runtime.submit(flood)
        assert running.runtime.dropped_datagrams == 12
        await host.command(b"P0\r")
        running.network.post(m.DatagramReceived(conn=99, data=b"x", host="127.0.0.1", port=9))
        assert running.runtime.dropped_datagrams == 12  # room again once the engine caught up


@async_test
async def test_an_engine_failure_stops_run_with_the_error() -> None:
    async with Running() as running:
        host = await running.attach()

        def broken(now: float) -> None:
            raise RuntimeError("engine bug")

        running.runtime.submit(broken)
        assert running.task is not None
        with pytest.raises(ExceptionGroup) as caught:
            await asyncio.wait_for(running.task, WAIT)
        assert caught.group_contains(RuntimeError, match="engine bug")
        assert host.output == b""
        running.task = None
