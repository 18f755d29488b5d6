"""Module sockets as asyncio streams, servers and datagram endpoints.

A connected module socket is served by one *pump* task: it sends what the
:class:`asyncio.StreamWriter` buffered (``S3``, at most 1460 bytes a command) and reads
with ``R4``/``R0`` into the :class:`asyncio.StreamReader`. The module pushes no "data
arrived" message, so reading is polling: right away again after a read that brought data,
otherwise every :data:`POLL_INTERVAL` seconds. Each read waits at most :data:`READ_WAIT_MS`
on the module, so one idle socket never holds the link for long, and the channel's FIFO
lock makes the sockets take turns. When the reader's buffer is full the pump stops
reading (asyncio's own flow control), so the module's buffer and TCP hold the peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from eswifi.errors import ConnectionRefused, EsWifiError, LinkError

if TYPE_CHECKING:
    from eswifi.aio.module import Module

POLL_INTERVAL = 0.02
"""Seconds between two reads of an idle socket (and two MR polls of a server on SPI)."""
UART_ACCEPT_POLL = 1.0
"""On UART the module pushes ``Accepted``; a server still checks this often."""
READ_WAIT_MS = 1
"""``R2``: how long one read waits on the module for data."""
MAX_SEND = 1460
"""The largest ``S3`` payload."""
LOCAL_PORTS = (49152, 65535)
"""Where a client connection's local port (``P2``) is picked from."""
CONNECT_ATTEMPTS = 3
WRITE_HIGH_WATER = 64 * 1024
WRITE_LOW_WATER = 16 * 1024


@runtime_checkable
class Closable(Protocol):
    async def aclose(self) -> None: ...

    def lost(self) -> None: ...


class _ModuleTransport(asyncio.Transport):
    """The transport behind a module socket's reader and writer."""

    def __init__(
        self,
        module: Module,
        slot: int,
        protocol: asyncio.StreamReaderProtocol,
        extra: dict[str, Any],
        on_closed: Callable[[], Awaitable[None]],
    ) -> None:
        super().__init__(extra)
        self._module = module
        self._slot = slot
        self._protocol = protocol
        self._on_closed = on_closed
        self._out = bytearray()
        self._closing = False
        self._aborted = False
        self._gone = False
        self._reading_paused = False
        self._writing_paused = False
        self._wake = asyncio.Event()
        self.done = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._pump(), name=f"eswifi-aio socket {slot}")

    # ------------------------------------------------------------------ asyncio.Transport

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing:
            raise RuntimeError("write after close")
        if self._gone:
            return
        self._out += data
        self._wake.set()
        if not self._writing_paused and len(self._out) > WRITE_HIGH_WATER:
            self._writing_paused = True
            self._protocol.pause_writing()

    def can_write_eof(self) -> bool:
        return False  # the module cannot half-close a connection

    def get_write_buffer_size(self) -> int:
        return len(self._out)

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._closing = True
        self._wake.set()

    def abort(self) -> None:
        self._aborted = True
        self.close()

    def pause_reading(self) -> None:
        self._reading_paused = True

    def resume_reading(self) -> None:
        self._reading_paused = False
        self._wake.set()

    def is_reading(self) -> bool:
        return not self._reading_paused

    def lost(self) -> None:
        """The module was reset or left the network: the connection is gone."""
        self._gone = True
        self._wake.set()

    async def aclose(self) -> None:
        self.close()
        await asyncio.shield(self.done)

    # ------------------------------------------------------------------ the pump

    async def _pump(self) -> None:
        error: Exception | None = None
        eof = False
        try:
            while not self._gone:
                if self._out and not self._aborted:
                    await self._send()
                    continue
                if self._closing:
                    break
                if eof or self._reading_paused:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                data, eof = await self._module.read_once(self._slot, READ_WAIT_MS)
                if data:
                    self._protocol.data_received(data)
                if eof:
                    self._protocol.eof_received()
                elif not data:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(POLL_INTERVAL):
                            await self._wake.wait()
        except (EsWifiError, OSError) as exc:
            error = exc
        finally:
            self._closing = True
            with contextlib.suppress(EsWifiError, OSError):
                if not self._gone and not self._module.channel.closed:
                    await self._on_closed()
            self._module.release_slot(self._slot)
            self._protocol.connection_lost(error)
            if not self.done.done():
                self.done.set_result(None)

    async def _send(self) -> None:
        chunk = bytes(self._out[:MAX_SEND])
        sent = await self._module.send_once(self._slot, chunk)
        if sent < 0:
            self._gone = True
            self._out.clear()
            raise ConnectionResetError(errno.ECONNRESET, "Connection reset by peer (module: -1)")
        del self._out[:sent]
        if self._writing_paused and len(self._out) <= WRITE_LOW_WATER:
            self._writing_paused = False
            self._protocol.resume_writing()


def _streams(
    module: Module,
    slot: int,
    limit: int,
    extra: dict[str, Any],
    on_closed: Callable[[], Awaitable[None]],
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, _ModuleTransport]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit)
    protocol = asyncio.StreamReaderProtocol(reader)
    transport = _ModuleTransport(module, slot, protocol, extra, on_closed)
    protocol.connection_made(transport)
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    return reader, writer, transport


# ---------------------------------------------------------------------------- clients


async def open_connection(
    module: Module, ip: str, port: int, *, limit: int, timeout: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    placeholder = object()
    slot = module.take_slot(placeholder)
    try:
        async with module.sequence_lock:
            await module.set(slot, "P1", 0)
            await module.set(slot, "P3", ip)
            await module.set(slot, "P4", port)
            for _attempt in range(CONNECT_ATTEMPTS):
                # A local port of its own: the emulator's stack shares the host's ports.
                await module.set(slot, "P2", random.randint(*LOCAL_PORTS))
                await module.select(slot)
                reply = await module.run("P6", 1, check=False, timeout=timeout)
                if reply.ok:
                    break
    except BaseException:
        module.release_slot(slot)
        raise
    if not reply.ok:
        module.release_slot(slot)
        detail = reply.text.strip().replace("\r\n", " / ")
        raise ConnectionRefused(errno.ECONNREFUSED, f"Connection refused ({detail})")

    async def close_client() -> None:
        async with module.sequence_lock:
            await module.select(slot)
            await module.run("P6", 0, check=False)

    extra = {"peername": (ip, port), "socket": None}
    reader, writer, transport = _streams(module, slot, limit, extra, close_client)
    module._slots[slot] = transport
    return reader, writer


# ---------------------------------------------------------------------------- servers

ClientConnected = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None] | None]


class Server:
    """A module server: like :class:`asyncio.Server`, one client at a time."""

    def __init__(
        self, module: Module, slot: int, callback: ClientConnected, port: int, limit: int
    ) -> None:
        self._module = module
        self._slot = slot
        self._callback = callback
        self.port = port
        self._limit = limit
        self._closed = asyncio.Event()
        self._task = asyncio.create_task(self._serve(), name=f"eswifi-aio server {port}")
        self._client: _ModuleTransport | None = None

    def is_serving(self) -> bool:
        return not self._closed.is_set()

    def close(self) -> None:
        """Stop accepting; the current client's connection is closed too."""
        self._task.cancel()

    async def wait_closed(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._closed.wait()

    async def aclose(self) -> None:
        self.close()
        await self.wait_closed()

    def lost(self) -> None:
        self.close()

    async def serve_forever(self) -> None:
        """Serve until :meth:`close` (or cancellation)."""
        try:
            await self._closed.wait()
        except asyncio.CancelledError:
            self.close()
            raise

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _serve(self) -> None:
        module = self._module
        interval = POLL_INTERVAL if module.channel.spi else UART_ACCEPT_POLL
        try:
            while True:
                peer = await self._accepted_peer()
                if peer is None:
                    await module.poll_messages(interval)
                    if module.channel.spi:
                        await asyncio.sleep(interval)
                    continue
                await self._serve_client(peer)
        finally:
            if self._client is not None:
                self._client.abort()
                await asyncio.shield(self._client.done)
            with contextlib.suppress(EsWifiError, OSError):
                if not module.channel.closed:
                    async with module.sequence_lock:
                        await module.select(self._slot)
                        await module.run("P5", 0, check=False)
            module.release_slot(self._slot)
            self._closed.set()

    async def _accepted_peer(self) -> tuple[str, int] | None:
        module = self._module
        module.channel.take_messages()
        async with module.sequence_lock:
            await module.select(self._slot)
            fields = (await module.run("P?")).value.split(",")
        if len(fields) < 5 or fields[1] in ("", "0.0.0.0"):
            return None
        try:
            return fields[1], int(fields[4])
        except ValueError:
            return None

    async def _serve_client(self, peer: tuple[str, int]) -> None:
        module = self._module

        async def next_client() -> None:
            async with module.sequence_lock:
                await module.select(self._slot)
                await module.run("P5", 10, check=False)

        extra = {"peername": peer, "sockname": (None, self.port), "socket": None}
        reader, writer, transport = _streams(module, self._slot, self._limit, extra, next_client)
        module._slots[self._slot] = self  # the slot stays the server's
        self._client = transport
        try:
            result = self._callback(reader, writer)
            if asyncio.iscoroutine(result):
                await result
        except Exception:  # a failing handler ends its connection, not the server
            pass
        finally:
            transport.close()
            await asyncio.shield(transport.done)
            module._slots[self._slot] = self
            self._client = None


async def start_server(
    module: Module, callback: ClientConnected, port: int, backlog: int, limit: int
) -> Server:
    placeholder = object()
    slot = module.take_slot(placeholder)
    try:
        async with module.sequence_lock:
            await module.set(slot, "P1", 0)
            await module.set(slot, "P2", port)
            await module.set(slot, "P8", max(1, min(backlog, 16)))
            await module.select(slot)
            reply = await module.run("P5", 11, check=False)
    except BaseException:
        module.release_slot(slot)
        raise
    if not reply.ok:
        module.release_slot(slot)
        detail = reply.text.strip().replace("\r\n", " / ") or "the module refused to listen"
        raise OSError(errno.EADDRINUSE, f"Address already in use ({detail})")
    server = Server(module, slot, callback, port, limit)
    module._slots[slot] = server
    return server


# ---------------------------------------------------------------------------- datagrams


class DatagramEndpoint:
    """A UDP socket of the module with a fixed destination: ``send`` and ``recv``."""

    def __init__(self, module: Module, slot: int, remote: tuple[str, int]) -> None:
        self._module = module
        self._slot = slot
        self.remote = remote
        self._closed = False

    async def send(self, data: bytes) -> None:
        """Send one datagram (at most 1460 bytes)."""
        if len(data) > MAX_SEND:
            raise ValueError(f"a datagram holds at most {MAX_SEND} bytes")
        self._check()
        if await self._module.send_once(self._slot, bytes(data)) < 0:
            raise LinkError("the module's UDP socket is gone")

    async def recv(self, timeout: float | None = None) -> bytes:
        """The next datagram; TimeoutError after ``timeout`` seconds."""
        self._check()
        async with asyncio.timeout(timeout):
            while True:
                data, gone = await self._module.read_once(self._slot, READ_WAIT_MS)
                if data:
                    return data
                if gone:
                    raise LinkError("the module's UDP socket is gone")
                await asyncio.sleep(POLL_INTERVAL)

    def lost(self) -> None:
        self._closed = True

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(EsWifiError, OSError):
            async with self._module.sequence_lock:
                await self._module.select(self._slot)
                await self._module.run("P6", 0, check=False)
        self._module.release_slot(self._slot)

    def _check(self) -> None:
        if self._closed:
            raise LinkError("the datagram endpoint is closed")

    async def __aenter__(self) -> DatagramEndpoint:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


async def open_datagram(module: Module, ip: str, port: int) -> DatagramEndpoint:
    placeholder = object()
    slot = module.take_slot(placeholder)
    try:
        async with module.sequence_lock:
            # The firmware's UDP source-port quirk: open with P4 = the local port, then
            # point P4 at the destination, so the local port is known either way.
            local = random.randint(*LOCAL_PORTS)
            await module.set(slot, "P1", 1)
            await module.set(slot, "P2", local)
            await module.set(slot, "P3", ip)
            await module.set(slot, "P4", local)
            await module.select(slot)
            reply = await module.run("P6", 1, check=False)
            if reply.ok:
                await module.set(slot, "P4", port)
    except BaseException:
        module.release_slot(slot)
        raise
    if not reply.ok:
        module.release_slot(slot)
        raise ConnectionRefused(errno.ENETUNREACH, "the module could not open the UDP socket")
    endpoint = DatagramEndpoint(module, slot, (ip, port))
    module._slots[slot] = endpoint
    return endpoint
