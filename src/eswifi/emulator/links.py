"""Host links: the wire between the emulated module and the host that drives it.

A link (:class:`HostLink`) waits for hosts to attach; each attached host is a
:class:`HostSession`. Sessions push: once started, the host's bytes are handed to a
callback straight from the event loop's I/O callback, and writes go out at once (what the
host has not read yet waits in the session's buffer), so a command costs no task switch.
Three links exist:

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
import errno
import logging
import os
import select
import sys
from collections.abc import Callable
from typing import Protocol

from eswifi.errors import LinkError

logger = logging.getLogger(__name__)

READ_SIZE = 64 * 1024
"""Largest chunk one read hands over."""
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

OnData = Callable[[bytes], None]
"""Receives the host's bytes, in order."""
OnLost = Callable[[Exception | None], None]
"""Called once when the host detached (None) or the link failed (the error)."""


class HostSession(Protocol):
    """One attached host."""

    def start(self, on_data: OnData, on_lost: OnLost) -> None:
        """Hand the host's bytes to ``on_data`` from now on; ``on_lost`` once it detaches."""
        ...

    def pause_reading(self) -> None:
        """Stop reading the host until :meth:`resume_reading` (the host's sends back up)."""
        ...

    def resume_reading(self) -> None:
        """Read the host again."""
        ...

    def write(self, data: bytes) -> None:
        """Send bytes to the host without blocking (dropped if it has detached)."""
        ...

    @property
    def write_backlog(self) -> int:
        """Bytes written but not yet taken by the host."""
        ...

    async def drained(self) -> None:
        """Return once everything written went out (or the host is gone)."""
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

    def host_present(self) -> bool:
        """A host has the link open now, though :meth:`attach` may not have returned it yet."""
        ...

    async def aclose(self) -> None:
        """Detach the host, if any, and release the link."""
        ...


# --------------------------------------------------------------------------- TCP console


class _ConsoleHost(asyncio.Protocol):
    """A host attached to the TCP console (an asyncio protocol: no task per host)."""

    def __init__(self, console: TcpConsoleLink) -> None:
        self._console = console
        self._transport: asyncio.Transport | None = None
        self._early = bytearray()
        self._on_data: OnData | None = None
        self._on_lost: OnLost | None = None
        self._refused = False
        self._lost = False
        loop = asyncio.get_running_loop()
        self._gone = loop.create_future()
        self._held = bytearray()
        """Output held until the host is ready for it (see the module docstring)."""
        self._ready = False
        self._settle = loop.call_later(ATTACH_SETTLE, self._release)

    # ---------------------------------------------------------------- asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        if not self._console._arrive(self):
            self._refused = True
            self._settle.cancel()
            logger.info("a second host was refused: the console is busy")
            transport.write(BUSY_MESSAGE)
            transport.close()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        self._release()
        if self._on_data is not None:
            self._on_data(data)
            return
        self._early += data  # arrived before the runtime started the session
        if len(self._early) >= READ_SIZE and self._transport is not None:
            self._transport.pause_reading()

    def eof_received(self) -> bool:
        return False  # the host closed its side: close ours, the host has detached

    def connection_lost(self, exc: Exception | None) -> None:
        self._settle.cancel()
        self._held.clear()
        self._console._release(self)
        if not self._gone.done():
            self._gone.set_result(None)
        self._lose()

    # ---------------------------------------------------------------- HostSession

    def start(self, on_data: OnData, on_lost: OnLost) -> None:
        self._on_data, self._on_lost = on_data, on_lost
        early, self._early = bytes(self._early), bytearray()
        if early:
            on_data(early)
        if self._gone.done():
            self._lose()
        else:
            self.resume_reading()

    def pause_reading(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()

    def write(self, data: bytes) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        if self._ready:
            self._transport.write(data)
        else:
            self._held += data

    @property
    def write_backlog(self) -> int:
        if self._transport is None or self._transport.is_closing():
            return 0
        return len(self._held) + self._transport.get_write_buffer_size()

    async def drained(self) -> None:
        return  # closing the console flushes what the host has not read yet

    async def aclose(self) -> None:
        transport = self._transport
        self._settle.cancel()
        self._held.clear()
        if transport is not None and not transport.is_closing():
            # A host that stopped reading must not hold the module up: drop its backlog.
            if transport.get_write_buffer_size():
                transport.abort()
            else:
                transport.close()
        if transport is not None:
            await self._gone

    def _release(self) -> None:
        """The host is ready for output: send what was held."""
        if self._ready:
            return
        self._ready = True
        self._settle.cancel()
        held, self._held = bytes(self._held), bytearray()
        if held:
            self.write(held)

    def _lose(self) -> None:
        if self._on_lost is not None and not self._lost:
            self._lost = True
            self._on_lost(None)


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
        self._closed = False

    @classmethod
    async def open(cls, host: str = "127.0.0.1", port: int = 0) -> TcpConsoleLink:
        """Start listening on ``host:port`` (port 0: any free port)."""
        link = cls()
        loop = asyncio.get_running_loop()
        link._server = await loop.create_server(lambda: _ConsoleHost(link), host, port)
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

    def host_present(self) -> bool:
        return self._attached is not None

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._arrived.set()
        if self._server is not None:
            self._server.close()
        if self._attached is not None:
            await self._attached.aclose()
        if self._server is not None:
            await self._server.wait_closed()

    def _arrive(self, host: _ConsoleHost) -> bool:
        """A host connected: attach it, or False when the console is busy or closed."""
        if self._closed or self._attached is not None:
            return False
        self._attached = host
        self._arrived.set()
        return True

    def _release(self, host: _ConsoleHost) -> None:
        if self._attached is host:
            self._attached = None


# --------------------------------------------------------------------------- file descriptors


class _FdLink:
    """Reads and writes a pair of file descriptors from the event loop's callbacks.

    Descriptors may be blocking (stdio): they are read or written only once the loop
    reports them ready, and writes to a blocking descriptor go in chunks of at most
    ``PIPE_BUF`` bytes. A non-blocking descriptor (the pty) is written at once.
    Regular files, which the loop cannot watch, are always ready.
    """

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self._read_fd = read_fd
        self._write_fd = write_fd
        self._loop = asyncio.get_running_loop()
        self._direct = not os.get_blocking(write_fd)
        self._on_data: OnData | None = None
        self._on_lost: OnLost | None = None
        self._reading = False
        self._paused = False
        self._out = bytearray()
        self._writing = False
        self._drained: asyncio.Future[None] | None = None
        self._handed_out = False
        self._eof = False
        self._closed = False

    def host_present(self) -> bool:
        return not (self._closed or self._eof)

    def start(self, on_data: OnData, on_lost: OnLost) -> None:
        self._on_data, self._on_lost = on_data, on_lost
        self._watch_reads()

    def pause_reading(self) -> None:
        self._paused = True
        self._unwatch_reads()

    def resume_reading(self) -> None:
        self._paused = False
        self._watch_reads()

    def write(self, data: bytes) -> None:
        if self._closed:
            return
        if not self._out and self._direct:
            written = self._write_some(data)
            if written is None or written == len(data):
                return
            data = data[written:]
        self._out += data
        self._watch_writes()

    @property
    def write_backlog(self) -> int:
        return len(self._out)

    async def drained(self) -> None:
        if not self._out or self._closed:
            return
        if self._drained is None:
            self._drained = self._loop.create_future()
        await self._drained

    # ---------------------------------------------------------------- reading

    def _watch_reads(self) -> None:
        if self._reading or self._paused or self._closed or self._eof or self._on_data is None:
            return
        try:
            self._loop.add_reader(self._read_fd, self._readable)
        except PermissionError:  # a regular file: always ready, never blocks
            self._loop.call_soon(self._read_file)
            return
        self._reading = True

    def _unwatch_reads(self) -> None:
        if self._reading:
            self._reading = False
            self._loop.remove_reader(self._read_fd)

    def _read_file(self) -> None:
        if not (self._paused or self._closed or self._eof):
            self._readable()
            self._loop.call_soon(self._read_file)

    def _readable(self) -> None:
        try:
            data = os.read(self._read_fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno != errno.EIO:  # EIO: the far end of a pty is gone
                self._end(LinkError(f"reading the host link failed: {exc}"))
                return
            data = b""
        if not data:
            self._end(None)
            return
        self._deliver(data)

    def _deliver(self, data: bytes) -> None:
        assert self._on_data is not None
        self._on_data(data)

    def _end(self, error: Exception | None) -> None:
        self._eof = True
        self._unwatch_reads()
        if self._on_lost is not None:
            on_lost, self._on_lost = self._on_lost, None
            on_lost(error)

    # ---------------------------------------------------------------- writing

    def _write_some(self, data: bytes | bytearray | memoryview) -> int | None:
        """Write what the descriptor takes now; None when the host is gone (output dropped)."""
        try:
            return os.write(self._write_fd, data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            if exc.errno in (errno.EIO, errno.EPIPE):
                self._out.clear()  # nobody is reading: like an unplugged cable
                self._settle_drained()
                return None
            raise LinkError(f"writing the host link failed: {exc}") from exc

    def _watch_writes(self) -> None:
        if self._writing:
            return
        try:
            self._loop.add_writer(self._write_fd, self._writable)
        except PermissionError:  # a regular file: write it all now
            while self._out:
                self._writable()
            return
        self._writing = True

    def _writable(self) -> None:
        chunk = self._out if self._direct else memoryview(self._out)[:_WRITE_CHUNK]
        written = self._write_some(chunk)
        if isinstance(chunk, memoryview):
            chunk.release()
        if written:
            del self._out[:written]
        if not self._out:
            if self._writing:
                self._writing = False
                self._loop.remove_writer(self._write_fd)
            self._settle_drained()

    def _settle_drained(self) -> None:
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        self._drained = None

    def _stop(self) -> None:
        self._closed = True
        self._unwatch_reads()
        if self._writing:
            self._writing = False
            self._loop.remove_writer(self._write_fd)
        self._out.clear()
        self._settle_drained()
        if not self._eof:
            self._end(None)


class _PtyHost(_FdLink):
    """A host that has the pty open. The master is in packet mode: each read is one packet,
    a status byte (0: data follows) and the data."""

    def __init__(self, master: int) -> None:
        super().__init__(master, master)
        self._handed_out = True
        self._released = asyncio.Event()
        self._held = bytearray()
        self._settle = self._loop.call_later(ATTACH_SETTLE, self._release)
        self._heard = False
        self.flushed_before_speaking = False
        """The session ended because the host flushed its input before its first byte."""

    def _deliver(self, packet: bytes) -> None:
        status, data = packet[0], packet[1:]
        if status == 0:
            if data:
                self._heard = True
                self._release()
                super()._deliver(data)
        elif status & _FLUSHREAD and not self._heard:
            if not self._released.is_set():
                self._release()  # the host's open is over: the greeting is safe
            else:
                self.flushed_before_speaking = True  # it threw away what we wrote
                self.end()

    def write(self, data: bytes) -> None:
        if self._released.is_set():
            super().write(data)
        elif not self._closed:
            self._held += data

    @property
    def write_backlog(self) -> int:
        return len(self._held) + super().write_backlog

    async def drained(self) -> None:
        await self._released.wait()
        await super().drained()

    def _release(self) -> None:
        if self._released.is_set():
            return
        self._released.set()
        self._settle.cancel()
        held, self._held = bytes(self._held), bytearray()
        if held:
            self.write(held)

    def end(self) -> None:
        """Stop this session (the pty itself stays open)."""
        self._settle.cancel()
        self._held.clear()
        self._released.set()
        self._stop()

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

    def host_present(self) -> bool:
        return not self._closed and not self._hung_up()

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

    async def attach(self) -> HostSession | None:
        # The link is its one and only host session.
        if self._handed_out or self._closed:
            return None
        self._handed_out = True
        return self

    async def aclose(self) -> None:
        self._stop()
