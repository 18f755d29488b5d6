"""eswifi.aio's module calls against `eswifi emulate`: queries, join, cancellation that
leaves the link in step, per-call timeouts, datagrams, four sockets, clear link errors."""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from test_cli_emulate import free_port

import eswifi.aio
from eswifi.errors import LinkError, SocketError
from eswifi.testing import EmulatorProcess

pytestmark = [pytest.mark.timeout(60), pytest.mark.subprocess]

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[1]
WAIT = 20.0


@pytest.fixture(scope="module", params=["uart", "spi"])
def emulator(request: pytest.FixtureRequest) -> Iterator[tuple[str, EmulatorProcess]]:
    with EmulatorProcess("--listen", f"{HOST}:0", "--link", request.param) as process:
        yield request.param, process


async def open_module(link: str, process: EmulatorProcess) -> eswifi.aio.Module:
    return await eswifi.aio.Module.open(process.url, link="spi" if link == "spi" else "uart")


def run_with(
    emulator: tuple[str, EmulatorProcess],
    body: Callable[[eswifi.aio.Module], Awaitable[None]],
) -> None:
    link, process = emulator

    async def main() -> None:
        async with asyncio.timeout(WAIT * 2):
            module = await eswifi.aio.Module.open(
                process.url, link="spi" if link == "spi" else "uart"
            )
            async with module:
                await body(module)

    asyncio.run(main())


def test_queries_and_join_twice(emulator: tuple[str, EmulatorProcess]) -> None:
    async def body(module: eswifi.aio.Module) -> None:
        info = await module.info()
        assert info.product.startswith("ISM43362")
        assert re.fullmatch(r"[0-9A-F]{2}(:[0-9A-F]{2}){5}", await module.mac())
        assert await module.join("eswifi-lab", "eswifi-pass") == "127.0.0.1"
        assert await module.join("eswifi-lab", "eswifi-pass") == "127.0.0.1"  # already on it
        assert await module.is_joined()
        assert "eswifi-lab" in {ap.ssid for ap in await module.scan()}
        assert await module.resolve("127.0.0.1") == "127.0.0.1"

    run_with(emulator, body)


def test_cancelled_command_leaves_the_link_in_step(emulator: tuple[str, EmulatorProcess]) -> None:
    async def body(module: eswifi.aio.Module) -> None:
        for _ in range(20):
            task = asyncio.create_task(module.info())
            await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            # The cancelled I? still took its reply: Z5 gets its own.
            assert re.fullmatch(r"[0-9A-F]{2}(:[0-9A-F]{2}){5}", await module.mac())

    run_with(emulator, body)


def test_per_call_timeout_with_asyncio_timeout(emulator: tuple[str, EmulatorProcess]) -> None:
    async def body(module: eswifi.aio.Module) -> None:
        await module.join("eswifi-lab", "eswifi-pass")
        reader, writer = await module.open_connection(HOST, port)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await reader.read(1)  # the peer says nothing
        writer.write(b"ping\n")
        await writer.drain()
        assert await reader.readline() == b"ping\n"
        writer.close()
        await writer.wait_closed()

    peers: list[asyncio.StreamWriter] = []

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer)
        writer.write(await reader.readline())
        await writer.drain()
        await reader.read()
        writer.close()

    async def main() -> None:
        nonlocal port
        server = await asyncio.start_server(echo, HOST, 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            link, process = emulator
            module = await eswifi.aio.Module.open(
                process.url, link="spi" if link == "spi" else "uart"
            )
            async with module:
                await body(module)
        for peer in peers:
            peer.close()
            with contextlib.suppress(ConnectionError):
                await peer.wait_closed()

    port = 0
    asyncio.run(main())


def test_datagram_endpoint(emulator: tuple[str, EmulatorProcess]) -> None:
    class Echo(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            self.transport.sendto(b"echo " + data, addr)  # type: ignore[attr-defined]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(Echo, local_addr=(HOST, 0))
        port = transport.get_extra_info("sockname")[1]
        link, process = emulator
        try:
            module = await eswifi.aio.Module.open(
                process.url, link="spi" if link == "spi" else "uart"
            )
            async with module:
                await module.join("eswifi-lab", "eswifi-pass")
                async with await module.open_datagram(HOST, port) as endpoint:
                    await endpoint.send(b"one")
                    assert await endpoint.recv(timeout=WAIT) == b"echo one"
        finally:
            transport.close()

    asyncio.run(main())


def test_a_fifth_socket_is_refused(emulator: tuple[str, EmulatorProcess]) -> None:
    async def body(module: eswifi.aio.Module) -> None:
        await module.join("eswifi-lab", "eswifi-pass")
        servers = [await module.start_server(lambda r, w: None, free_port()) for _ in range(4)]
        with pytest.raises(SocketError) as caught:
            await module.start_server(lambda r, w: None, free_port())
        assert caught.value.errno == 24
        for server in servers:
            server.close()
            await server.wait_closed()

    run_with(emulator, body)


def test_link_errors_say_what_to_do() -> None:
    async def main() -> None:
        with pytest.raises(LinkError, match=re.escape("did you mean socket://127.0.0.1:7000")):
            await eswifi.aio.Module.open("127.0.0.1:7000")
        with pytest.raises(LinkError, match="running there"):
            await eswifi.aio.Module.open(f"socket://{HOST}:{free_port()}")
        with pytest.raises(ValueError):
            await eswifi.aio.Module.open(f"socket://{HOST}:1", link="usb")  # type: ignore[arg-type]

    asyncio.run(main())


def test_client_doc_asyncio_example_runs_twice() -> None:
    section = (ROOT / "docs" / "client.md").read_text().split("## asyncio (`eswifi.aio`)", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None
    with EmulatorProcess("--listen", f"{HOST}:0") as process:
        code = match.group(1).replace("socket://127.0.0.1:7000", process.url)
        for _ in range(2):
            result = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, timeout=WAIT * 2
            )
            assert result.returncode == 0, result.stderr
            assert result.stdout.splitlines() == [
                "joined as 127.0.0.1",
                "b'hello host\\n'",
                "b'hello module\\n'",
            ]
