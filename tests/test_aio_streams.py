"""Stream conformance: one set of test bodies run against asyncio's own streams on loopback
and against eswifi.aio over `eswifi emulate` (TCP console and pty, UART and SPI builds)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Protocol

import pytest
from test_cli_emulate import free_port

import eswifi.aio
from eswifi.testing import EmulatorProcess

pytestmark = [pytest.mark.timeout(60), pytest.mark.subprocess]

HOST = "127.0.0.1"
WAIT = 20.0
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Net(Protocol):
    """What a test body uses: asyncio's stream functions, or a module's."""

    async def open_connection(
        self, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]: ...

    async def start_server(self, handler: Handler, port: int, backlog: int) -> Any: ...


class HostNet:
    async def open_connection(
        self, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(host, port)

    async def start_server(self, handler: Handler, port: int, backlog: int) -> Any:
        return await asyncio.start_server(handler, HOST, port, backlog=backlog)


class ModuleNet:
    def __init__(self, module: eswifi.aio.Module) -> None:
        self.module = module

    async def open_connection(
        self, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await self.module.open_connection(host, port)

    async def start_server(self, handler: Handler, port: int, backlog: int) -> Any:
        return await self.module.start_server(handler, port, backlog=backlog)


KINDS = ["asyncio", "uart-tcp", "spi-tcp", "uart-pty", "spi-pty"]


@pytest.fixture(scope="module", params=KINDS)
def kind(request: pytest.FixtureRequest) -> Iterator[tuple[str, EmulatorProcess | None]]:
    name: str = request.param
    if name == "asyncio":
        yield name, None
        return
    link, transport = name.split("-")
    where = ["--listen", f"{HOST}:0"] if transport == "tcp" else ["--pty"]
    with EmulatorProcess(*where, "--link", link) as emulator:
        yield link, emulator


@contextlib.asynccontextmanager
async def network(kind: tuple[str, EmulatorProcess | None]) -> AsyncIterator[Net]:
    link, emulator = kind
    if emulator is None:
        yield HostNet()
        return
    module = await eswifi.aio.Module.open(emulator.url, link="spi" if link == "spi" else "uart")
    async with module:
        await module.join("eswifi-lab", "eswifi-pass")
        yield ModuleNet(module)


def run(kind: tuple[str, EmulatorProcess | None], body: Callable[[Net], Awaitable[None]]) -> None:
    async def main() -> None:
        async with asyncio.timeout(WAIT * 2), network(kind) as net:
            await body(net)

    asyncio.run(main())


@contextlib.asynccontextmanager
async def echo_server() -> AsyncIterator[int]:
    """A host echo server on loopback; yields its port. On exit every connection is closed."""
    writers: list[asyncio.StreamWriter] = []

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, HOST, 0)
    async with server:
        yield server.sockets[0].getsockname()[1]
    for writer in writers:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


# ---------------------------------------------------------------------------- bodies


def test_echo_client(kind: tuple[str, EmulatorProcess | None]) -> None:
    async def body(net: Net) -> None:
        async with echo_server() as port:
            reader, writer = await net.open_connection(HOST, port)
            for line in (b"hello\n", b"\r\nOK\r\n> binary \x00\x15\xff\n"):
                writer.write(line)
                await writer.drain()
                assert await reader.readexactly(len(line)) == line
            writer.close()
            await writer.wait_closed()

    run(kind, body)


def test_peer_close_is_eof(kind: tuple[str, EmulatorProcess | None]) -> None:
    async def body(net: Net) -> None:
        async def say_bye(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"bye")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(say_bye, HOST, 0)
        async with server:
            reader, writer = await net.open_connection(HOST, server.sockets[0].getsockname()[1])
            with pytest.raises(asyncio.IncompleteReadError) as caught:
                await reader.readexactly(10)
            assert caught.value.partial == b"bye"
            assert await reader.read(10) == b""
            assert reader.at_eof()
            writer.close()
            await writer.wait_closed()

    run(kind, body)


def test_server_serves_three_clients(kind: tuple[str, EmulatorProcess | None]) -> None:
    async def body(net: Net) -> None:
        served: list[bytes] = []

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            line = await reader.readline()
            served.append(line)
            writer.write(b"echo: " + line)
            await writer.drain()
            writer.close()
            await writer.wait_closed()

        async def client(number: int) -> bytes:
            reader, writer = await asyncio.open_connection(HOST, port)
            writer.write(b"client %d\n" % number)
            await writer.drain()
            reply = await reader.read()
            writer.close()
            return reply

        port = free_port()
        server = await net.start_server(handler, port, 3)
        try:
            replies = await asyncio.gather(*(client(n) for n in range(3)))
        finally:
            server.close()
            await server.wait_closed()
        assert sorted(replies) == [b"echo: client %d\n" % n for n in range(3)]
        assert sorted(served) == [b"client %d\n" % n for n in range(3)]

    run(kind, body)


def test_read_timeout_then_the_stream_goes_on(kind: tuple[str, EmulatorProcess | None]) -> None:
    async def body(net: Net) -> None:
        async with echo_server() as port:
            reader, writer = await net.open_connection(HOST, port)
            # A read cancelled by its timeout loses nothing: later bytes still arrive.
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(reader.read(10), 0.2)
            writer.write(b"later\n")
            await writer.drain()
            assert await reader.readline() == b"later\n"
            writer.close()
            await writer.wait_closed()

    run(kind, body)


def test_cancelled_drain_loses_no_bytes(kind: tuple[str, EmulatorProcess | None]) -> None:
    async def body(net: Net) -> None:
        received = hashlib.sha256()
        count = 0
        done = asyncio.Event()

        async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal count
            while data := await reader.read(65536):
                received.update(data)
                count += len(data)
            done.set()
            writer.close()

        payload = os.urandom(300_000)
        server = await asyncio.start_server(sink, HOST, 0)
        async with server:
            _, writer = await net.open_connection(HOST, server.sockets[0].getsockname()[1])
            writer.write(payload)
            drain = asyncio.create_task(writer.drain())
            await asyncio.sleep(0)
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain
            await writer.drain()
            writer.close()
            await writer.wait_closed()
            await asyncio.wait_for(done.wait(), WAIT)
        assert count == len(payload)
        assert received.hexdigest() == hashlib.sha256(payload).hexdigest()

    run(kind, body)


def test_one_megabyte_each_way(kind: tuple[str, EmulatorProcess | None]) -> None:
    async def body(net: Net) -> None:
        payload = os.urandom(1 << 20)
        async with echo_server() as port:
            reader, writer = await net.open_connection(HOST, port)

            async def send() -> None:
                writer.write(payload)
                await writer.drain()

            sending = asyncio.create_task(send())
            echoed = await reader.readexactly(len(payload))
            await sending
            writer.close()
            await writer.wait_closed()
        assert hashlib.sha256(echoed).digest() == hashlib.sha256(payload).digest()

    run(kind, body)


def test_refused_connection(kind: tuple[str, EmulatorProcess | None]) -> None:
    async def body(net: Net) -> None:
        with pytest.raises(ConnectionRefusedError):
            await net.open_connection(HOST, free_port())

    run(kind, body)


def test_two_sockets_share_the_link(kind: tuple[str, EmulatorProcess | None]) -> None:
    async def body(net: Net) -> None:
        async with echo_server() as port:
            streams = [await net.open_connection(HOST, port) for _ in range(2)]

            async def talk(number: int) -> None:
                reader, writer = streams[number]
                for round_ in range(20):
                    line = b"%d:%d\n" % (number, round_)
                    writer.write(line)
                    await writer.drain()
                    assert await reader.readline() == line

            await asyncio.gather(talk(0), talk(1))
            for _, writer in streams:
                writer.close()
                await writer.wait_closed()

    run(kind, body)
