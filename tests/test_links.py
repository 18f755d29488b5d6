"""Host links: the TCP console, the pty and stdio, with real sockets, ptys and pipes."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import select
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from eswifi.emulator.links import BUSY_MESSAGE, HostSession, StdioLink, TcpConsoleLink

pytestmark = pytest.mark.timeout(30)

WAIT = 10.0


def async_test(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


async def within(awaitable: Any) -> Any:
    return await asyncio.wait_for(awaitable, WAIT)


class Reading:
    """Starts a session and collects what its host sends."""

    def __init__(self, session: HostSession | None) -> None:
        assert session is not None
        self.session = session
        self.data = bytearray()
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()
        self._arrived = asyncio.Event()
        session.start(self._on_data, self._on_lost)

    def _on_data(self, data: bytes) -> None:
        assert not self.lost.done(), "bytes after the host detached"
        self.data += data
        self._arrived.set()

    def _on_lost(self, error: Exception | None) -> None:
        assert not self.lost.done(), "detached twice"
        self.lost.set_result(error)

    async def exactly(self, count: int) -> bytes:
        async with asyncio.timeout(WAIT):
            while len(self.data) < count:
                assert not self.lost.done(), f"detached after {self.data!r}"
                self._arrived.clear()
                await self._arrived.wait()
        data = bytes(self.data[:count])
        del self.data[:count]
        return data


# --------------------------------------------------------------------------- TCP console


class Host:
    """A host program on the console's other end."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, link: TcpConsoleLink) -> Host:
        return cls(*await asyncio.open_connection(*link.address))

    async def read_exactly(self, count: int) -> bytes:
        return await within(self.reader.readexactly(count))

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


@async_test
async def test_console_listens_on_a_free_port_and_names_its_url() -> None:
    link = await TcpConsoleLink.open("127.0.0.1", 0)
    try:
        host, port = link.address
        assert host == "127.0.0.1" and port > 0
        assert link.name == f"socket://127.0.0.1:{port}"
    finally:
        await link.aclose()


@async_test
async def test_console_carries_raw_bytes_both_ways() -> None:
    link = await TcpConsoleLink.open()
    try:
        host = await Host.connect(link)
        reading = Reading(await within(link.attach()))
        everything = bytes(range(256))
        host.writer.write(everything)
        assert await reading.exactly(256) == everything
        reading.session.write(b"\r\nOK\r\n> " + everything)
        assert await host.read_exactly(264) == b"\r\nOK\r\n> " + everything
        await host.close()
    finally:
        await link.aclose()


@async_test
async def test_second_console_host_is_refused_and_the_first_is_undisturbed() -> None:
    link = await TcpConsoleLink.open()
    try:
        first = await Host.connect(link)
        reading = Reading(await within(link.attach()))
        second = await Host.connect(link)
        assert await within(second.reader.read()) == BUSY_MESSAGE  # then end of stream
        await second.close()
        first.writer.write(b"I?\r")
        assert await reading.exactly(3) == b"I?\r"
        reading.session.write(b"still here")
        assert await first.read_exactly(10) == b"still here"
        await first.close()
    finally:
        await link.aclose()


@async_test
async def test_console_waits_for_the_next_host_after_a_detach() -> None:
    link = await TcpConsoleLink.open()
    try:
        first = await Host.connect(link)
        reading = Reading(await within(link.attach()))
        await first.close()
        assert await within(reading.lost) is None
        reading.session.write(b"nobody listens")  # dropped, no error
        attaching = asyncio.create_task(link.attach())
        second = await Host.connect(link)
        next_session = await within(attaching)
        assert next_session is not None and next_session is not reading.session
        next_reading = Reading(next_session)
        second.writer.write(b"hello")
        assert await next_reading.exactly(5) == b"hello"
        await second.close()
    finally:
        await link.aclose()


@async_test
async def test_closing_the_console_detaches_the_host_and_ends_attach() -> None:
    link = await TcpConsoleLink.open()
    host = await Host.connect(link)
    reading = Reading(await within(link.attach()))
    attaching = asyncio.create_task(link.attach())
    await link.aclose()
    assert await within(attaching) is None
    assert await within(host.reader.read()) == b""
    assert await within(reading.lost) is None
    await host.close()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(*link.address)


# --------------------------------------------------------------------------- pty


def _read_fd(fd: int, count: int) -> bytes:
    data = b""
    while len(data) < count:
        assert select.select([fd], [], [], WAIT)[0], f"no data after {data!r}"
        data += os.read(fd, count - len(data))
    return data


def pty_test(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """An async test that needs a Linux pty (packet mode, hang-up on the master)."""
    needs_linux = pytest.mark.skipif(sys.platform != "linux", reason="needs a Linux pty")
    return pytest.mark.pty(needs_linux(async_test(test)))


@pty_test
async def test_pty_is_raw_and_attaches_each_host_that_opens_it() -> None:
    import termios

    from eswifi.emulator.links import PtyLink

    link = PtyLink()
    try:
        assert link.name.startswith("/dev/")
        attaching = asyncio.create_task(link.attach())
        await asyncio.sleep(0.05)
        assert not attaching.done()  # nobody has the device open yet
        for round in range(2):
            host = os.open(link.name, os.O_RDWR | os.O_NOCTTY)
            try:
                reading = Reading(await within(attaching))
                lflag = termios.tcgetattr(host)[3]
                assert not lflag & (termios.ICANON | termios.ECHO)
                os.write(host, b"AT\r\n\x03\x00")  # no echo, no translation, no signals
                assert await reading.exactly(6) == b"AT\r\n\x03\x00"
                reading.session.write(b"\r\nOK\r\n> ")  # the host spoke: not held
                assert _read_fd(host, 8) == b"\r\nOK\r\n> "
            finally:
                os.close(host)
            assert await within(reading.lost) is None  # closing the device detaches
            attaching = asyncio.create_task(link.attach())
            if round == 0:
                await asyncio.sleep(0.05)
                assert not attaching.done()
    finally:
        await link.aclose()
    assert await within(attaching) is None


@pty_test
async def test_pty_output_waits_for_the_hosts_open_time_flush() -> None:
    """pyserial opens, configures, then flushes its input: the greeting comes after."""
    import termios

    from eswifi.emulator.links import PtyLink

    link = PtyLink()
    try:
        host = os.open(link.name, os.O_RDWR | os.O_NOCTTY)
        try:
            reading = Reading(await within(link.attach()))
            reading.session.write(b"\x15\x15\r\n> ")
            assert reading.session.write_backlog == 6  # held: the host is still opening
            termios.tcflush(host, termios.TCIFLUSH)
            await within(reading.session.drained())
            assert await asyncio.to_thread(_read_fd, host, 6) == b"\x15\x15\r\n> "
            os.write(host, b"I?\r")
            assert await reading.exactly(3) == b"I?\r"
            termios.tcflush(host, termios.TCIFLUSH)  # after speaking: still the same host
            os.write(host, b"P0\r")
            assert await reading.exactly(3) == b"P0\r"
            assert not reading.lost.done()
        finally:
            os.close(host)
    finally:
        await link.aclose()


@pty_test
async def test_pty_flush_after_the_greeting_starts_a_new_session() -> None:
    """A host that flushes before its first byte discarded what it was sent: it attaches
    again, so the module presents its greeting again."""
    import termios

    from eswifi.emulator.links import PtyLink

    link = PtyLink()
    try:
        host = os.open(link.name, os.O_RDWR | os.O_NOCTTY)
        try:
            reading = Reading(await within(link.attach()))
            reading.session.write(b"greeting")
            await within(reading.session.drained())  # released after ATTACH_SETTLE
            termios.tcflush(host, termios.TCIFLUSH)
            assert await within(reading.lost) is None
            again = Reading(await within(link.attach()))
            assert again.session is not reading.session
            again.session.write(b"greeting")
            await within(again.session.drained())
            assert _read_fd(host, 8) == b"greeting"
        finally:
            os.close(host)
    finally:
        await link.aclose()


# --------------------------------------------------------------------------- stdio


@async_test
async def test_stdio_carries_bytes_and_detaches_for_good_at_end_of_input() -> None:
    to_module, from_host = os.pipe()
    to_host, from_module = os.pipe()
    try:
        link = StdioLink(read_fd=to_module, write_fd=from_module)
        assert link.name == "stdio"
        assert await within(link.attach()) is link
        reading = Reading(link)
        os.write(from_host, b"I?\r")
        assert await reading.exactly(3) == b"I?\r"
        host_reads = asyncio.create_task(asyncio.to_thread(_read_fd, to_host, 100_000))
        link.write(b"x" * 100_000)  # more than a pipe holds: written as it drains
        assert link.write_backlog > 0
        await within(link.drained())
        assert await within(host_reads) == b"x" * 100_000
        os.close(from_host)
        from_host = -1
        assert await within(reading.lost) is None
        assert await link.attach() is None
        await link.aclose()
    finally:
        for fd in (to_module, from_host, to_host, from_module):
            if fd >= 0:
                os.close(fd)
