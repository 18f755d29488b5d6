"""Host links: the wire between the emulated module and the host that drives it.

A link (:class:`HostLink`) waits for hosts to attach; each attached host is a
:class:`HostSession` with ``read``/``write`` of raw bytes. ``read`` returning ``b""``
means that host detached. Three links exist:

* :class:`TcpConsoleLink` - a TCP server, one host at a time (pyserial ``socket://``);
  a second host is told the console is busy and is closed;
* :class:`PtyLink` - a pseudo-terminal in raw mode (``/dev/pts/N``); a host attaches when
  it opens the device and detaches when it closes it;
* :class:`StdioLink` - the process's stdin/stdout; end of input detaches for good.

Attaching and the boot output. A host that has just attached is still opening the port:
pyserial's ``open()`` ends by flushing its input (``tcflush`` on a serial device, a
drain of the socket on ``socket://``), which would throw away a greeting written at the
moment of the attach. So each new session holds its output until the host is ready for it:

* on the TCP console, until the host sends its first byte or :data:`ATTACH_SETTLE` passed
  since the connection was accepted (pyserial drains the socket right after connecting);
* on the pty, until the host flushes its input, sends its first byte, or
  :data:`ATTACH_SETTLE` passed since it opened the device. The pty runs in packet mode, so
  the emulator sees the host's input flushes; a flush before the host's first byte, once the
  output was released, starts a new session (the module presents its greeting again,
  since the flush discarded it).

The stdio link is its own (only) session and holds nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import select
import sys
from typing import Protocol

from eswifi.errors import LinkError

READ_SIZE = 64 * 1024
"""Largest chunk one ``read`` returns."""
BUSY_MESSAGE = b"eswifi: console busy, another host is attached\r\n"
"""What a second console host reads before it is disconnected."""
_WRITE_CHUNK = getattr(select, "PIPE_BUF", 512)
"""A write of at most this many bytes to a ready pipe never blocks."""
ATTACH_SETTLE = 0.25
"""Seconds a new host's output is held unless the host shows sooner that it is ready."""
ATTACH_POLL = 0.01
"""Seconds between two looks at a pty nobody has open (has a host opened it?)."""
_FLUSHREAD = 1
"""``TIOCPKT_FLUSHREAD``: the status bit of a packet-mode pty whose host flushed its input."""


class HostSession(Protocol):
    """One attached host."""

    async def read(self) -> bytes:
        """Bytes from the host; ``b""`` once the host has detached."""
        ...

    async def write(self, data: bytes) -> None:
        """Send bytes to the host (dropped if it has detached)."""
        ...

    async def aclose(self) -> None:
        """Detach this host."""
        ...


class HostLink(Protocol):
    """Where hosts attach."""

    @property
    def name(self) -> str:
        """How a host reaches the link: a pyserial URL or a device path."""
        ...

    async def attach(self) -> HostSession | None:
        """Wait for the next host; None once no host can ever attach again."""
        ...

    async def aclose(self) -> None:
        """Detach the host, if any, and release the link."""
        ...


# --------------------------------------------------------------------------- TCP console


class _ConsoleHost:
    """A host attached to the TCP console."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        console: TcpConsoleLink,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._console = console
        self._closed = False
        self._ready = asyncio.Event()
        self._settle = asyncio.get_running_loop().call_later(ATTACH_SETTLE, self._ready.set)

    async def read(self) -> bytes:
        if self._closed:
            return b""
        try:
            data = await self._reader.read(READ_SIZE)
        except ConnectionError:
            data = b""
        self._ready.set()
        if not data:
            await self.aclose()
        return data

    async def write(self, data: bytes) -> None:
        await self._ready.wait()
        if self._closed or self._writer.is_closing():
            return
        self._writer.write(data)
        with contextlib.suppress(ConnectionError):
            await self._writer.drain()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._settle.cancel()
        self._ready.set()
        self._console._release(self)
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()


class TcpConsoleLink:
    """A TCP server that carries the host link as raw bytes, one host at a time.

    Create it with :meth:`open`. A host that connects while another is attached reads
    :data:`BUSY_MESSAGE` and is disconnected; the attached host is not disturbed.
    """

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._address = ("", 0)
        self._attached: _ConsoleHost | None = None
        self._arrived = asyncio.Event()
        self._refusals: set[asyncio.Task[None]] = set()
        self._closed = False

    @classmethod
    async def open(cls, host: str = "127.0.0.1", port: int = 0) -> TcpConsoleLink:
        """Start listening on ``host:port`` (port 0: any free port)."""
        link = cls()
        link._server = await asyncio.start_server(link._on_client, host, port)
        link._address = (host, link._server.sockets[0].getsockname()[1])
        return link

    @property
    def address(self) -> tuple[str, int]:
        """The host and the port really listened on."""
        return self._address

    @property
    def name(self) -> str:
        host, port = self.address
        return f"socket://[{host}]:{port}" if ":" in host else f"socket://{host}:{port}"

    async def attach(self) -> HostSession | None:
        while not self._closed:
            if self._attached is not None and self._arrived.is_set():
                self._arrived.clear()
                return self._attached
            self._arrived.clear()
            await self._arrived.wait()
        return None

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._arrived.set()
        if self._server is not None:
            self._server.close()
        if self._attached is not None:
            await self._attached.aclose()
        for task in list(self._refusals):
            task.cancel()
        await asyncio.gather(*self._refusals, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._closed or self._attached is not None:
            task = asyncio.current_task()
            assert task is not None
            self._refusals.add(task)
            try:
                writer.write(BUSY_MESSAGE)
                writer.close()
                with contextlib.suppress(ConnectionError):
                    await writer.wait_closed()
            finally:
                self._refusals.discard(task)
            return
        self._attached = _ConsoleHost(reader, writer, self)
        self._arrived.set()

    def _release(self, host: _ConsoleHost) -> None:
        if self._attached is host:
            self._attached = None


# --------------------------------------------------------------------------- file descriptors


class _FdLink:
    """Reads and writes a pair of file descriptors without blocking the event loop.

    Descriptors may be blocking (stdio): they are read or written only once the loop
    reports them ready, and writes go in chunks of at most ``PIPE_BUF`` bytes.
    """

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self._read_fd = read_fd
        self._write_fd = write_fd
        self._loop = asyncio.get_running_loop()
        self._waits: dict[tuple[str, int], asyncio.Future[None]] = {}
        self._handed_out = False
        self._eof = False
        self._closed = False

    async def attach(self) -> HostSession | None:
        # The link is its one and only host session.
        if self._handed_out or self._closed:
            return None
        self._handed_out = True
        return self

    async def read(self) -> bytes:
        while not (self._closed or self._eof):
            await self._ready("read", self._read_fd)
            if self._closed:
                break
            try:
                data = os.read(self._read_fd, READ_SIZE)
            except BlockingIOError:
                continue
            except OSError as exc:
                if exc.errno != errno.EIO:  # EIO: the far end of a pty is gone
                    raise LinkError(f"reading the host link failed: {exc}") from exc
                data = b""
            if not data:
                self._eof = True
                break
            return data
        return b""

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view and not self._closed:
            await self._ready("write", self._write_fd)
            if self._closed:
                return
            try:
                written = os.write(self._write_fd, view[:_WRITE_CHUNK])
            except BlockingIOError:
                continue
            except OSError as exc:
                if exc.errno in (errno.EIO, errno.EPIPE):
                    return  # nobody is reading: like an unplugged cable
                raise LinkError(f"writing the host link failed: {exc}") from exc
            view = view[written:]

    async def _ready(self, kind: str, fd: int) -> None:
        future = self._loop.create_future()
        key = (kind, fd)
        add, remove = (
            (self._loop.add_reader, self._loop.remove_reader)
            if kind == "read"
            else (self._loop.add_writer, self._loop.remove_writer)
        )
        try:
            add(fd, _set_once, future)
        except PermissionError:
            return  # a regular file: always ready, never blocks
        self._waits[key] = future
        try:
            await future
        finally:
            if self._waits.get(key) is future:
                del self._waits[key]
                remove(fd)

    def _stop_waits(self) -> None:
        self._closed = True
        for (kind, fd), future in self._waits.items():
            if kind == "read":
                self._loop.remove_reader(fd)
            else:
                self._loop.remove_writer(fd)
            _set_once(future)
        self._waits.clear()


def _set_once(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _PtyHost(_FdLink):
    """A host that has the pty open. The master is in packet mode: each read is one packet,
    a status byte (0: data follows) and the data."""

    def __init__(self, master: int) -> None:
        super().__init__(master, master)
        self._handed_out = True
        self._released = asyncio.Event()
        self._settle = self._loop.call_later(ATTACH_SETTLE, self._released.set)
        self._heard = False
        self.flushed_before_speaking = False
        """The session ended because the host flushed its input before its first byte."""

    async def read(self) -> bytes:
        while True:
            packet = await super().read()
            if not packet:
                break
            status, data = packet[0], packet[1:]
            if status == 0:
                if data:
                    self._heard = True
                    self._released.set()
                    return data
            elif status & _FLUSHREAD and not self._heard:
                if not self._released.is_set():
                    self._released.set()  # the host's open is over: the greeting is safe
                else:
                    self.flushed_before_speaking = True  # it threw away what we wrote
                    break
        self.end()
        return b""

    async def write(self, data: bytes) -> None:
        await self._released.wait()
        await super().write(data)

    def end(self) -> None:
        """Stop this session (the pty itself stays open)."""
        self._settle.cancel()
        self._released.set()
        self._stop_waits()

    async def aclose(self) -> None:
        self.end()


class PtyLink:
    """A pseudo-terminal: hosts open :attr:`name` (e.g. ``/dev/pts/5``) as a serial port.

    The slave side is put in raw mode before its path is known, then closed: a host
    attaches when it opens the device (the master stops reporting a hang-up) and detaches
    when it closes it. Hosts may open and close the device any number of times.
    """

    def __init__(self) -> None:
        import fcntl
        import struct
        import termios
        import tty

        master, slave = os.openpty()
        try:
            tty.setraw(slave)
            self._name = os.ttyname(slave)
            fcntl.ioctl(master, termios.TIOCPKT, struct.pack("i", 1))
            os.set_blocking(master, False)
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        self._master = master
        self._poll = select.poll()
        self._poll.register(master, select.POLLIN)
        self._session: _PtyHost | None = None
        self._closed = False

    @property
    def name(self) -> str:
        return self._name

    async def attach(self) -> HostSession | None:
        previous = self._session
        restart = previous is not None and previous.flushed_before_speaking
        while not self._closed:
            if restart or not self._hung_up():
                self._session = _PtyHost(self._master)
                return self._session
            await asyncio.sleep(ATTACH_POLL)
        return None

    def _hung_up(self) -> bool:
        return any(events & select.POLLHUP for _, events in self._poll.poll(0))

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._session is not None:
            self._session.end()
        os.close(self._master)


class StdioLink(_FdLink):
    """The process's standard input and output as the host link (binary, unchanged)."""

    def __init__(self, read_fd: int | None = None, write_fd: int | None = None) -> None:
        super().__init__(
            sys.stdin.fileno() if read_fd is None else read_fd,
            sys.stdout.fileno() if write_fd is None else write_fd,
        )

    @property
    def name(self) -> str:
        return "stdio"

    async def aclose(self) -> None:
        self._stop_waits()
