"""The client's sans-I/O transaction layer: commands out, replies and async messages in.

:class:`ClientProtocol` performs no I/O and reads no clock. The driver asks it for the
bytes of a command (:meth:`ClientProtocol.send_command`), writes them to the link, feeds
whatever the link returns (:meth:`ClientProtocol.receive_data`) and takes events out
(:meth:`ClientProtocol.next_event`) until the :class:`~eswifi.wire.replies.Reply` arrives.
Asynchronous messages (``[TCP SVR] Accepted …``) come out as
:class:`~eswifi.wire.replies.AsyncMessage` events, before or after the reply, never
inside it.

Rules it enforces:

* one command in flight — a second :meth:`send_command` before the reply raises
  :class:`~eswifi.errors.LocalProtocolError`;
* the reply parser is chosen per command (:func:`~eswifi.wire.replies.shape_for`): R0 data
  is binary and bounded by the read size, status queries are text;
* SPI link: pad bytes (0x15) between units are dropped, commands are padded to an even
  length with LF, and the message inside an ``MR`` reply is reported as an async message;
* bytes that do not fit the grammar raise :class:`~eswifi.errors.RemoteProtocolError` and
  are discarded together with the command awaiting them;
* parsing is incremental: a unit's end is searched only in the bytes that arrived since the
  last attempt, and an ``R4`` reply is cut by its byte count.

After a malformed reply, or a reply that never came, the rest of the stream cannot be
trusted: more of the broken reply may still arrive. :meth:`ClientProtocol.start_resync`
returns a *marker* exchange to write (``R1=a``, ``R2=b``, ``R?`` with values chosen by the
driver); every byte up to the ``R?`` reply that shows those values is dropped, and the
next command gets its own reply. A command whose reply never came can also be
*abandoned*: its late reply, if it parses, is dropped instead of being taken for the next
one's.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

from eswifi.errors import LocalProtocolError, RemoteProtocolError
from eswifi.wire.commands import encode_command, split_command_line
from eswifi.wire.replies import (
    MAX_READ,
    AsyncMessage,
    Incomplete,
    Malformed,
    Prompt,
    Reply,
    ReplyShape,
    async_unit,
    mr_message,
    shape_for,
    split_counted,
    split_data,
    split_prompt,
    split_reset,
    split_text,
    strip_pads,
)

Event = Reply | AsyncMessage

_MARKER_TAIL = 32
"""Bytes kept while looking for the marker reply (it is at most 24 bytes long)."""


@dataclass(slots=True, kw_only=True)
class _Pending:
    command: bytes
    shape: ReplyShape
    limit: int
    abandoned: bool = False


class ClientProtocol:
    """Host side of the AT dialect, sans I/O.

    Args:
        spi: the module is an SPI build (0x15 padding, even-length commands, MR messages).
    """

    def __init__(self, *, spi: bool = False) -> None:
        self.spi = spi
        self._buffer = bytearray()
        self._examined = 0
        self._pending: deque[_Pending] = deque()
        self._ready: deque[Event] = deque()
        self._marker: re.Pattern[bytes] | None = None

    # ------------------------------------------------------------------ state

    @property
    def in_flight(self) -> bytes | None:
        """The command line awaiting its reply, or None."""
        for pending in self._pending:
            if not pending.abandoned:
                return pending.command
        return None

    @property
    def resyncing(self) -> bool:
        """True from :meth:`start_resync` until the marker reply has been seen."""
        return self._marker is not None

    @property
    def partial_message(self) -> bool:
        """The bytes buffered with no command in flight may still become an async message."""
        return bool(self._buffer) and isinstance(async_unit(self._buffer), Incomplete)

    @property
    def buffered(self) -> int:
        """Bytes received but not yet turned into events."""
        return len(self._buffer)

    def take_buffer(self) -> bytes:
        """Remove and return the bytes received but not yet turned into events."""
        data = bytes(self._buffer)
        self._buffer.clear()
        self._examined = 0
        return data

    # ------------------------------------------------------------------ commands

    def send_command(
        self, code: str, *args: object, payload: bytes | None = None, read_limit: int = MAX_READ
    ) -> bytes:
        """Bytes to write for one command; its reply is then awaited.

        Args:
            code: the wire code, e.g. ``"P3"``.
            args: arguments, joined with ``,`` after ``=``.
            payload: raw bytes that follow the CR (S3).
            read_limit: for R0, the read size (R1) in force: the longest data possible.

        Raises:
            LocalProtocolError: a command is already in flight, or the line has a CR/LF.
        """
        line = encode_command(code, *args)[:-1]
        return self.send_line(line, payload=payload, read_limit=read_limit)

    def send_line(
        self, line: bytes | str, *, payload: bytes | None = None, read_limit: int = MAX_READ
    ) -> bytes:
        """Like :meth:`send_command` for a command line typed as text (``"P3=10.0.0.1"``)."""
        if isinstance(line, str):
            line = line.encode("latin-1")
        if self._marker is not None:
            raise LocalProtocolError("the link is being resynchronised; finish that first")
        if self.in_flight is not None:
            raise LocalProtocolError(
                f"command {self.in_flight!r} is still awaiting its reply; one command at a time"
            )
        if b"\r" in line or b"\n" in line:
            raise LocalProtocolError(f"a command line cannot contain CR or LF: {line!r}")
        parsed = split_command_line(line)
        shape = shape_for(parsed.code, parsed.args)
        if not 0 < read_limit <= 0xFFFF:
            raise LocalProtocolError(f"bad read limit {read_limit}")
        self._pending.append(_Pending(command=line, shape=shape, limit=read_limit))
        return self._frame(line, payload)

    def _frame(self, line: bytes, payload: bytes | None = None) -> bytes:
        data = line + b"\r" + (payload or b"")
        if self.spi and len(data) % 2:
            data += b"\n"
        return data

    def start_resync(self, read_size: int, read_timeout_ms: int) -> bytes:
        """Forget every pending command; return the marker exchange to write.

        The marker sets ``R1=read_size`` and ``R2=read_timeout_ms`` on the selected socket
        and asks ``R?``; bytes are dropped until a reply showing both values arrives. The
        driver picks values unlikely to be in the stream (random ones) and, since it
        changes R1/R2, forgets what it knew of them.

        Raises:
            LocalProtocolError: a value is out of the module's range.
        """
        if not (1 <= read_size <= MAX_READ and 1 <= read_timeout_ms <= 30_000):
            raise LocalProtocolError(f"bad marker values {read_size}, {read_timeout_ms}")
        self._pending.clear()
        self._ready.clear()
        self._examined = 0
        self._marker = re.compile(
            rb"\r\n%d,%d,\d\r\nOK\r\n> " % (read_size, read_timeout_ms), re.ASCII
        )
        lines = (b"R1=%d" % read_size, b"R2=%d" % read_timeout_ms, b"R?")
        return b"".join(self._frame(line) for line in lines)

    def abandon(self) -> None:
        """Give up on the command in flight; its reply will be dropped if it ever comes."""
        for pending in self._pending:
            pending.abandoned = True

    def reset(self) -> None:
        """Forget every buffered byte and every pending command (after a link reset)."""
        self._buffer.clear()
        self._examined = 0
        self._pending.clear()
        self._ready.clear()
        self._marker = None

    # ------------------------------------------------------------------ replies

    def receive_data(self, data: bytes) -> None:
        """Add bytes read from the link."""
        self._buffer += data

    def next_event(self) -> Event | None:
        """The next reply or async message, or None when more bytes are needed.

        Raises:
            RemoteProtocolError: the module sent bytes that cannot be a reply (they are
                discarded together with the command awaiting them).
        """
        while True:
            if self._ready:
                return self._ready.popleft()
            if self._marker is not None and not self._find_marker():
                return None
            try:
                unit = self._next_unit()
            except Malformed as exc:
                command = self._pending[0].command if self._pending else b""
                self._buffer.clear()
                self._examined = 0
                self._pending.clear()
                what = f"reply to {command.decode('latin-1')!r}" if command else "unsolicited bytes"
                raise RemoteProtocolError(f"malformed {what}: {exc}") from exc
            if unit is None:
                return None
            if isinstance(unit, Prompt):
                continue
            if isinstance(unit, AsyncMessage):
                return unit
            pending = self._pending.popleft() if self._pending else None
            if pending is None:
                self._buffer.clear()
                self._examined = 0
                raise RemoteProtocolError(
                    f"unsolicited reply while no command was in flight: {unit.raw!r}"
                )
            if pending.abandoned:
                continue
            if unit.code == "MR" and unit.ok and (message := mr_message(unit)) is not None:
                self._ready.append(unit)
                return message
            return unit

    def _find_marker(self) -> bool:
        """Drop bytes up to the marker reply; True once it has been seen."""
        assert self._marker is not None
        found = self._marker.search(self._buffer)
        if found is None:
            del self._buffer[:-_MARKER_TAIL]
            return False
        del self._buffer[: found.end()]
        self._marker = None
        self._examined = 0
        return True

    def _next_unit(self) -> Reply | AsyncMessage | Prompt | None:
        if self.spi:
            pads = strip_pads(self._buffer)
            if pads:
                del self._buffer[:pads]
                self._examined = 0
        if not self._buffer:
            return None
        head = self._pending[0] if self._pending else None
        # A PROMPT-shaped reply (P7=0) looks like an async message itself.
        found = None if head and head.shape is ReplyShape.PROMPT else async_unit(self._buffer)
        if isinstance(found, Incomplete):
            return None
        if found is not None:
            message, length = found
            del self._buffer[:length]
            self._examined = 0
            return message
        buffer, resume = self._buffer, self._examined
        if head is None:
            result = split_text(b"", buffer, resume)
        elif head.shape is ReplyShape.COUNTED:
            result = split_counted(head.command, buffer, head.limit, resume=resume)
        elif head.shape is ReplyShape.DATA:
            more = len(self._pending) > 1
            result = split_data(head.command, buffer, head.limit, more_follow=more, resume=resume)
        elif head.shape is ReplyShape.RESET:
            result = split_reset(head.command, buffer)
        elif head.shape is ReplyShape.PROMPT:
            result = split_prompt(head.command, buffer)
        else:
            result = split_text(head.command, buffer, resume)
        if isinstance(result, Incomplete):
            self._examined = len(buffer)
            return None
        unit, length = result
        del buffer[:length]
        self._examined = 0
        return unit
