"""Host links and the command channel: the client's only I/O.

* :class:`Link` — the small protocol every host link implements (write bytes, read what
  is there within a timeout, tell the time).
* :class:`SerialLink` — any pyserial URL: a device path, ``/dev/pts/N``,
  ``socket://host:port``, ``loop://``, ``spy://…``. pyserial exceptions become
  :class:`~eswifi.errors.LinkError` (``raise … from``).
* :class:`CommandChannel` — drives :class:`~eswifi.client.protocol.ClientProtocol` over a
  link under one lock, so that threads sharing a module still put one command at a time
  on the wire; a reply that does not come in time raises
  :class:`~eswifi.errors.LinkTimeout`. Asynchronous messages seen on the way are kept
  and passed to listeners.

The lock is re-entrant: the module and socket layers hold it around command *sequences*
(``P0=n`` then ``R0``) so that another thread cannot select a different socket in between.

After a malformed reply or a reply that did not come in time, the channel resynchronises
before its next command: it writes a marker exchange (``R1``/``R2`` set to random values,
then ``R?``) and drops everything the module sends until the ``R?`` reply showing those
values, so a later command never receives an earlier command's reply. Resync listeners
are told (the module forgets the registers it thought it had set).
"""

from __future__ import annotations

import logging
import random
import select
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

import serial

from eswifi.client.diagnose import check_url, open_failure, open_port
from eswifi.client.protocol import ClientProtocol
from eswifi.errors import LinkClosed, LinkError, LinkTimeout, RemoteProtocolError
from eswifi.wire.framing import escape
from eswifi.wire.replies import MAX_READ, AsyncMessage, Reply

logger = logging.getLogger(__name__)

Trace = Callable[[str, bytes], None]
"""A trace hook: called with ``"tx"`` or ``"rx"`` and the bytes, for every link transfer."""

DEFAULT_BAUDRATE = 115_200
WAIT_SLICE = 0.05
"""Longest time :meth:`CommandChannel.wait_messages` holds the lock while idle."""
READ_CHUNK = 65_536
"""Most bytes one link read takes."""
MESSAGE_WAIT = 0.5
"""Seconds a command waits for the rest of an async message that has begun to arrive."""
RESYNC_FIRST_WAIT = 0.25
"""Seconds the first marker of a resync waits before another is sent (doubling each time)."""


class Link(Protocol):
    """A byte link to a module."""

    def write(self, data: bytes) -> None:
        """Send all of ``data``."""

    def read(self, timeout: float) -> bytes:
        """Return the bytes available, waiting up to ``timeout`` seconds for the first one;
        ``b""`` when none came."""

    def monotonic(self) -> float:
        """The link's clock in seconds (wall clock, or a test's virtual clock)."""

    def discard_input(self) -> None:
        """Drop bytes received but not read yet."""

    def close(self) -> None:
        """Close the link."""


def _wrap(exc: Exception, what: str) -> LinkError:
    detail = str(exc)
    # pyserial's own messages often start with the same words ("read failed: …").
    text = detail if detail.startswith(what) else f"{what}: {detail}"
    if isinstance(exc, serial.SerialException) and "disconnect" in str(exc).lower():
        return LinkClosed(text)
    return LinkError(text)


class SerialLink:
    """A :class:`Link` over a pyserial port.

    Args:
        port: an open pyserial port (``serial.serial_for_url(...)``).
    """

    def __init__(self, port: serial.SerialBase) -> None:
        self._port = port
        self._timeout: float | None = -1.0
        self._fd = _selectable(port)

    @classmethod
    def open(cls, url: str, *, baudrate: int = DEFAULT_BAUDRATE) -> SerialLink:
        """Open any pyserial URL or device path.

        Raises:
            LinkRefused: nothing listens at a ``socket://`` address.
            LinkError: the port cannot be opened (a bare ``host:port`` is refused with a
                hint to write ``socket://host:port``).
        """
        check_url(url)
        try:
            port = open_port(url, baudrate)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise open_failure(url, exc) from exc
        return cls(port)

    @property
    def port(self) -> serial.SerialBase:
        return self._port

    def write(self, data: bytes) -> None:
        try:
            self._port.write(data)
            self._port.flush()
        except (serial.SerialException, OSError) as exc:
            raise _wrap(exc, "write failed") from exc

    def read(self, timeout: float) -> bytes:
        """What has arrived, in one call: wait for the first byte, then take everything.

        A device, pty or ``socket://`` port is waited on with ``select`` and then read
        without a timeout (pyserial returns what is there, up to :data:`READ_CHUNK`);
        other ports (``loop://`` …) wait in a one-byte read. pyserial's ``in_waiting`` is
        not used for the count: on ``socket://`` it is only a 0/1 readiness flag.
        """
        try:
            if self._fd is not None:
                ready, _, _ = select.select([self._fd], [], [], max(0.0, timeout))
                if not ready:
                    return b""
                self._set_timeout(0)
                return self._port.read(READ_CHUNK)
            self._set_timeout(timeout)
            first = self._port.read(1)
            if not first:
                return b""
            self._set_timeout(0)
            return first + self._port.read(READ_CHUNK)
        except (serial.SerialException, OSError) as exc:
            raise _wrap(exc, "read failed") from exc

    def _set_timeout(self, timeout: float) -> None:
        if timeout != self._timeout:
            self._port.timeout = timeout
            self._timeout = timeout

    def monotonic(self) -> float:
        return time.monotonic()

    def discard_input(self) -> None:
        try:
            # Every pyserial port class has it; the stubs' SerialBase (what serial_for_url is
            # typed to return) does not declare it.
            self._port.reset_input_buffer()  # type: ignore[attr-defined]
        except (serial.SerialException, OSError) as exc:
            raise _wrap(exc, "cannot discard input") from exc

    def close(self) -> None:
        # pyserial's socket:// skips closing its socket when shutdown() fails, as it does
        # on a connection the other end reset: close it here too.
        sock = getattr(self._port, "_socket", None)
        try:
            self._port.close()
        except (serial.SerialException, OSError) as exc:  # pragma: no cover - best effort
            logger.debug("closing the port failed: %s", exc)
        finally:
            if sock is not None:
                sock.close()
        # pyserial's spy:// opens its ?file= trace and never closes it.
        output = getattr(getattr(self._port, "formatter", None), "output", None)
        if output is not None and output not in (sys.stdout, sys.stderr):
            output.close()


def _selectable(port: serial.SerialBase) -> int | None:
    """The port's file descriptor when ``select`` tells when it has bytes, else None."""
    if not isinstance(port, serial.Serial) and type(port).__module__ != (
        "serial.urlhandler.protocol_socket"
    ):
        return None
    try:
        return port.fileno()
    except (AttributeError, OSError, serial.SerialException, NotImplementedError):
        return None


class CommandChannel:
    """One command at a time over a link, with asynchronous messages kept aside.

    Args:
        link: the byte link.
        spi: the module is an SPI build.
        timeout: default seconds to wait for a reply.
        trace: optional hook called for every transfer.
        keep_messages: how many unread async messages to keep (the oldest go first).
    """

    def __init__(
        self,
        link: Link,
        *,
        spi: bool = False,
        timeout: float = 10.0,
        trace: Trace | None = None,
        keep_messages: int = 256,
    ) -> None:
        self.link = link
        self.protocol = ClientProtocol(spi=spi)
        self.timeout = timeout
        self.trace = trace
        self.lock = threading.RLock()
        self._messages: deque[AsyncMessage] = deque(maxlen=keep_messages)
        self._message_count = 0
        self._listeners: list[Callable[[AsyncMessage], None]] = []
        self._resync_listeners: list[Callable[[], None]] = []
        self._closed = False
        self._out_of_step = False
        self._random = random.Random()

    @property
    def spi(self) -> bool:
        return self.protocol.spi

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def out_of_step(self) -> bool:
        """True when the next command must first resynchronise the link."""
        return self._out_of_step

    @property
    def message_count(self) -> int:
        """How many async messages were seen so far (grows forever)."""
        return self._message_count

    # ------------------------------------------------------------------ commands

    def transact(
        self,
        code: str,
        *args: object,
        payload: bytes | None = None,
        timeout: float | None = None,
        read_limit: int = MAX_READ,
    ) -> Reply:
        """Send one command and return its reply (OK or ERROR alike).

        Raises:
            LinkTimeout: no complete reply within ``timeout`` seconds.
            LinkError: the link failed.
            RemoteProtocolError: the module's answer does not fit the grammar.
        """
        with self.lock:
            self._prepare(code)
            data = self.protocol.send_command(code, *args, payload=payload, read_limit=read_limit)
            return self._exchange(data, timeout)

    def transact_line(
        self,
        line: str | bytes,
        *,
        payload: bytes | None = None,
        timeout: float | None = None,
        read_limit: int = MAX_READ,
    ) -> Reply:
        """Like :meth:`transact` for a command line given as text (``"P3=10.0.0.1"``)."""
        with self.lock:
            self._prepare(line)
            data = self.protocol.send_line(line, payload=payload, read_limit=read_limit)
            return self._exchange(data, timeout)

    def _prepare(self, line: bytes | str) -> None:
        """Before a command: take what arrived since the last reply, resync if needed.

        Only async messages may sit between replies. Anything else (the tail of a reply
        that was cut short, a stray reply, bytes of another link kind) would be taken for
        the new command's reply: the command is not sent, the link is marked out of step
        and :class:`~eswifi.errors.RemoteProtocolError` says what was found.
        """
        self._check_open()
        if not self._out_of_step:
            self._feed(self.link.read(0))
            deadline = self.link.monotonic() + MESSAGE_WAIT
            while True:
                while self._next_event() is not None:
                    pass
                remaining = deadline - self.link.monotonic()
                if not self.protocol.partial_message or remaining <= 0:
                    break
                self._feed(self.link.read(remaining))
            if self.protocol.buffered:
                stray = self.protocol.take_buffer()
                self._lose_step()
                command = line.decode("latin-1") if isinstance(line, bytes) else line
                raise RemoteProtocolError(
                    f"unsolicited bytes before {command!r}: {escape(stray[:80])!r}"
                )
        if self._out_of_step:
            self.resync()

    def _exchange(self, data: bytes, timeout: float | None) -> Reply:
        try:
            return self._await_reply(data, timeout)
        except KeyboardInterrupt:
            # Ctrl-C while waiting: the reply may still come; resync before the next command.
            self._lose_step()
            raise

    def _await_reply(self, data: bytes, timeout: float | None) -> Reply:
        try:
            self._write(data)
        except LinkError:
            self._lose_step()
            raise
        limit = self.timeout if timeout is None else timeout
        deadline = self.link.monotonic() + limit
        while True:
            event = self._next_event()
            if isinstance(event, Reply):
                return event
            if event is not None:
                continue
            remaining = deadline - self.link.monotonic()
            if remaining <= 0:
                command = self.protocol.in_flight or b""
                self._lose_step()
                raise LinkTimeout(f"no reply to {command.decode('latin-1')!r} within {limit:g} s")
            self._feed(self.link.read(remaining))

    # ------------------------------------------------------------------ resync

    def add_resync_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after each resync (R1/R2 of the selected socket were changed)."""
        self._resync_listeners.append(listener)

    def resync(self, timeout: float | None = None) -> None:
        """Bring the link back to a reply boundary (see the module docstring).

        A marker exchange is written and every byte is dropped until its last reply;
        if none comes within a growing wait (from :data:`RESYNC_FIRST_WAIT`), new
        values are sent, until ``timeout`` (default: the channel's) runs out.

        Raises:
            LinkTimeout: no marker reply in time (the link stays out of step).
            LinkError: the link failed.
        """
        limit = self.timeout if timeout is None else timeout
        with self.lock:
            self._check_open()
            clock = self.link.monotonic
            deadline = clock() + limit
            wait = RESYNC_FIRST_WAIT
            while True:
                self._out_of_step = True
                marker = self.protocol.start_resync(
                    self._random.randint(1, MAX_READ), self._random.randint(1, 30_000)
                )
                logger.debug("resynchronising the link with %s", escape(marker))
                for listener in self._resync_listeners:
                    listener()
                self._write(marker)
                attempt_end = min(deadline, clock() + wait)
                while self.protocol.resyncing:
                    self._drain_events()
                    if not self.protocol.resyncing:
                        break
                    remaining = attempt_end - clock()
                    if remaining <= 0:
                        break
                    self._feed(self.link.read(remaining))
                if not self.protocol.resyncing:
                    self._out_of_step = False
                    self._drain_events()
                    return
                if clock() >= deadline:
                    raise LinkTimeout(f"the module did not answer the resync marker in {limit:g} s")
                wait *= 2

    def lose_step(self) -> None:
        """Resync before the next command (a reply made no sense where it came)."""
        with self.lock:
            self._lose_step()

    def _lose_step(self) -> None:
        """The stream can no longer be trusted: resync before the next command."""
        self.protocol.abandon()
        self._out_of_step = True

    def _drain_events(self) -> None:
        """Take what follows the marker: async messages only (anything else is dropped)."""
        while True:
            try:
                event = self.protocol.next_event()
            except RemoteProtocolError as exc:
                logger.debug("dropped after the resync marker: %s", exc)
                continue
            if event is None:
                return
            if isinstance(event, AsyncMessage):
                self._deliver(event)

    # ------------------------------------------------------------------ async messages

    def add_listener(self, listener: Callable[[AsyncMessage], None]) -> None:
        """Call ``listener`` with every async message as it is seen (under the lock)."""
        self._listeners.append(listener)

    def take_messages(self) -> list[AsyncMessage]:
        """Return and forget the async messages kept so far."""
        with self.lock:
            messages = list(self._messages)
            self._messages.clear()
            return messages

    def wait_messages(self, timeout: float) -> int:
        """Read the link for up to ``timeout`` seconds, or until an async message arrives.

        Other threads' commands can run in between: the lock is held for at most
        :data:`WAIT_SLICE` seconds at a time. Returns the number of messages seen.

        Raises:
            LinkError, RemoteProtocolError: as :meth:`transact`.
        """
        start = self._message_count
        deadline = self.link.monotonic() + timeout
        while True:
            with self.lock:
                self._check_open()
                if self._out_of_step:
                    self.resync()
                while self._next_event() is not None:
                    pass
                seen = self._message_count - start
                remaining = deadline - self.link.monotonic()
                if seen or remaining <= 0:
                    return seen
                if self.protocol.in_flight is None:
                    self._feed(self.link.read(min(remaining, WAIT_SLICE)))
            time.sleep(0)

    # ------------------------------------------------------------------ plumbing

    def close(self) -> None:
        """Close the link (idempotent)."""
        with self.lock:
            if not self._closed:
                self._closed = True
                self.link.close()

    def discard(self) -> None:
        """Forget everything received and pending (a fresh link: stale console output)."""
        with self.lock:
            self.protocol.reset()
            self._out_of_step = False
            self.link.discard_input()

    def _check_open(self) -> None:
        if self._closed:
            raise LinkClosed("the link is closed")

    def _next_event(self) -> Reply | AsyncMessage | None:
        try:
            event = self.protocol.next_event()
        except RemoteProtocolError:
            self._lose_step()
            raise
        if isinstance(event, AsyncMessage):
            self._deliver(event)
        return event

    def _deliver(self, message: AsyncMessage) -> None:
        logger.debug("async message %s", escape(message.text))
        self._messages.append(message)
        self._message_count += 1
        for listener in self._listeners:
            listener(message)

    def _write(self, data: bytes) -> None:
        if self.trace is not None:
            self.trace("tx", data)
        self.link.write(data)

    def _feed(self, data: bytes) -> None:
        if not data:
            return
        if self.trace is not None:
            self.trace("rx", data)
        self.protocol.receive_data(data)
