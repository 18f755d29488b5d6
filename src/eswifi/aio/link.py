"""Byte links for the asyncio client: the emulator's TCP console and serial devices.

``socket://HOST:PORT`` opens a TCP connection (the emulator's console, or a serial server);
a device path (``/dev/ttyUSB0``, ``/dev/pts/5``) is opened in raw mode, 8N1, with asyncio's
own pipe transports, which accept character devices. Both give an
:class:`asyncio.StreamReader` / :class:`asyncio.StreamWriter` pair.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import termios
import tty
from dataclasses import dataclass

from eswifi.errors import LinkError

DEFAULT_BAUDRATE = 115200
READ_SIZE = 64 * 1024


@dataclass(slots=True)
class AioLink:
    """An open byte link: read what arrives, write bytes, close."""

    name: str
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    read_transport: asyncio.BaseTransport | None = None
    """The device's separate read side (a serial device has one transport each way)."""

    async def read(self) -> bytes:
        """What has arrived (at least one byte); ``b""`` once the link closed."""
        try:
            return await self.reader.read(READ_SIZE)
        except (ConnectionError, OSError):
            return b""

    def write(self, data: bytes) -> None:
        if self.writer.is_closing():
            raise LinkError(f"the link {self.name} is closed")
        self.writer.write(data)

    async def drain(self) -> None:
        try:
            await self.writer.drain()
        except (ConnectionError, OSError) as exc:
            raise LinkError(f"writing to {self.name} failed: {exc}") from exc

    async def aclose(self) -> None:
        if self.read_transport is not None:
            self.read_transport.close()
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


async def open_link(url: str, *, baudrate: int = DEFAULT_BAUDRATE) -> AioLink:
    """Open ``socket://HOST:PORT`` or a serial device path.

    Raises:
        LinkError: the link cannot be opened (with what to do about it).
    """
    if url.startswith("socket://"):
        host, sep, port = url.removeprefix("socket://").rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        if not sep or not host or not port.isdigit():
            raise LinkError(f"expected socket://HOST:PORT, got {url!r}")
        try:
            reader, writer = await asyncio.open_connection(host, int(port))
        except OSError as exc:
            raise LinkError(
                f"cannot connect to {url}: {exc.strerror or exc} "
                "(is `eswifi emulate --listen` running there?)"
            ) from exc
        return AioLink(url, reader, writer)
    if url.startswith("/"):
        return await _open_device(url, baudrate)
    if ":" in url and "://" not in url:
        raise LinkError(f"{url!r} is not a link: did you mean socket://{url}?")
    raise LinkError(f"the asyncio client opens socket://HOST:PORT or a device path, not {url!r}")


async def _open_device(path: str, baudrate: int) -> AioLink:
    loop = asyncio.get_running_loop()
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError as exc:
        raise LinkError(f"cannot open {path}: {exc.strerror}") from exc
    try:
        tty.setraw(fd)
        speed = getattr(termios, f"B{baudrate}", None)
        if speed is not None:
            attrs = termios.tcgetattr(fd)
            attrs[4] = attrs[5] = speed
            termios.tcsetattr(fd, termios.TCSANOW, attrs)
        termios.tcflush(fd, termios.TCIFLUSH)
        write_fd = os.dup(fd)
    except OSError as exc:
        os.close(fd)
        raise LinkError(f"cannot set up {path}: {exc}") from exc
    reader = asyncio.StreamReader()
    read_protocol = asyncio.StreamReaderProtocol(reader)
    read_transport, _ = await loop.connect_read_pipe(
        lambda: read_protocol, os.fdopen(fd, "rb", buffering=0)
    )
    write_protocol = asyncio.StreamReaderProtocol(asyncio.StreamReader())
    transport, _ = await loop.connect_write_pipe(
        lambda: write_protocol, os.fdopen(write_fd, "wb", buffering=0)
    )
    writer = asyncio.StreamWriter(transport, write_protocol, None, loop)
    return AioLink(path, reader, writer, read_transport)
