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
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

import serial

from eswifi.client.diagnose import check_url, open_failure
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
    text = f"{what}: {exc}"
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
            port = serial.serial_for_url(url, baudrate=baudrate, timeout=0)
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
        try:
            if timeout != self._timeout:
                self._port.timeout = timeout
                self._timeout = timeout
            first = self._port.read(1)
            if not first:
                return b""
            waiting = self._port.in_waiting
            return first + (self._port.read(waiting) if waiting else b"")
        except (serial.SerialException, OSError) as exc:
            raise _wrap(exc, "read failed") from exc

    def monotonic(self) -> float:
        return time.monotonic()

    def discard_input(self) -> None:
        try:
            self._port.reset_input_buffer()
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
        self._closed = False

    @property
    def spi(self) -> bool:
        return self.protocol.spi

    @property
    def closed(self) -> bool:
        return self._closed

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
            data = self.protocol.send_line(line, payload=payload, read_limit=read_limit)
            return self._exchange(data, timeout)

    def _exchange(self, data: bytes, timeout: float | None) -> Reply:
        self._check_open()
        try:
            self._write(data)
        except LinkError:
            self.protocol.reset()
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
                self.protocol.abandon()
                raise LinkTimeout(f"no reply to {command.decode('latin-1')!r} within {limit:g} s")
            self._feed(self.link.read(remaining))

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
        """Forget everything received and pending (after a reset or a protocol error)."""
        with self.lock:
            self.protocol.reset()
            self.link.discard_input()

    def _check_open(self) -> None:
        if self._closed:
            raise LinkClosed("the link is closed")

    def _next_event(self) -> Reply | AsyncMessage | None:
        try:
            event = self.protocol.next_event()
        except RemoteProtocolError:
            self.link.discard_input()
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
