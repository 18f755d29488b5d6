"""Incremental reader of the host's byte stream (module side, docs/protocol.md §1.1, §1.2, §1.5).

Bytes go in with :meth:`CommandReader.feed`; complete items come out of
:meth:`CommandReader.next_item`. The reader knows only framing: command lines end at CR,
LF and NUL are ignored, other control bytes are reported, a line longer than the
module's 300-byte buffer is reported as overflow, and after :meth:`expect_payload` the
next *n* bytes are raw payload (binary-safe). It never raises on input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from eswifi.wire.commands import MAX_LINE


@dataclass(frozen=True, slots=True, kw_only=True)
class Line:
    """A complete command line (without CR and ignored bytes)."""

    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class LineTooLong:
    """A command line that did not fit the module's line buffer; its bytes were dropped."""

    length: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ControlBytes:
    """A run of control bytes on the command line; the module echoes each as ``[XX]``."""

    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class PayloadChunk:
    """Raw payload bytes read after :meth:`CommandReader.expect_payload`."""

    data: bytes
    complete: bool


ReaderItem = Line | LineTooLong | ControlBytes | PayloadChunk

_DEFAULT_IGNORED = b"\n\x00"
_PAD_BYTES = b"\n\x15"
"""What SPI hosts pad a transfer with."""


class CommandReader:
    """Splits host bytes into command lines and raw payloads.

    Args:
        ignored: bytes dropped silently on the command line (LF and NUL; the SPI build
            adds its 0x15 pad byte).
        max_line: line buffer size; longer lines become :class:`LineTooLong`.
    """

    def __init__(self, *, ignored: bytes = _DEFAULT_IGNORED, max_line: int = MAX_LINE) -> None:
        self._buffer = bytearray()
        self._line = bytearray()
        self._overflow = 0
        self._payload_left = 0
        self._tail_odd = False
        self._tail_word = False
        self._max_line = max_line
        self._ignored = ignored
        stored = bytes(range(0x20, 0xFF))
        specials = bytes(
            b for b in range(256) if b not in stored and b not in ignored and b != 0x0D
        )
        escaped = b"".join(b"\\x%02x" % b for b in specials)
        self._stop = re.compile(b"[\\r" + escaped + b"]")
        """The first CR or control byte: where a line segment ends."""
        self._control_run = re.compile(b"[" + escaped + b"]+")

    @property
    def buffered(self) -> int:
        """Bytes fed but not yet turned into items."""
        return len(self._buffer)

    @property
    def in_payload(self) -> bool:
        """True while raw payload bytes are expected."""
        return self._payload_left > 0

    @property
    def line_pending(self) -> bool:
        """True when part of a command line has been read."""
        return bool(self._line) or self._overflow > 0

    def feed(self, data: bytes) -> None:
        """Add bytes from the host."""
        self._buffer += data

    def expect_payload(self, length: int) -> None:
        """Read the next ``length`` bytes as raw payload (S3, PG …)."""
        self._payload_left = length

    def abandon_payload(self) -> None:
        """Stop reading payload (the write timeout expired); later bytes are commands."""
        self._payload_left = 0

    def skip_transfer_tail(self, *, odd: bool) -> None:
        """Drop what an SPI host clocks after a payload in the same transfer (protocol.md §1.5).

        Hosts pad a transfer to whole 16-bit words: when command line + payload is ``odd``
        the next byte completes the last word, whatever it is (0x0A, or Zephyr's stray
        byte). Then one more word is dropped if it ends in a pad byte (0x0A/0x15): the
        stray byte Zephyr sends after an even transfer, and its pad. A command never has
        a pad byte as its second byte, so real commands are not touched.
        """
        self._tail_odd = odd
        self._tail_word = True

    def discard_line(self) -> None:
        """Forget a partly read command line (the host link was re-attached)."""
        self._line.clear()
        self._overflow = 0
        self._tail_odd = self._tail_word = False

    def reset(self) -> None:
        """Forget everything: buffered bytes, a partial line, a payload being read (power-on,
        or a new host whose link carries nothing of the previous one)."""
        self._buffer.clear()
        self._payload_left = 0
        self.discard_line()

    def next_item(self) -> ReaderItem | None:
        """Return the next complete item, or None when more bytes are needed."""
        if self._payload_left:
            return self._next_payload()
        if (self._tail_odd or self._tail_word) and not self._skip_tail():
            return None
        buffer = self._buffer
        if not buffer:
            return None
        # Each search stops at the first CR or control byte, so a stream costs time in
        # proportion to its length, whatever it holds.
        stop = self._stop.search(buffer)
        if stop is None:
            self._append(buffer)
            buffer.clear()
            return None
        end = stop.start()
        self._append(buffer[:end])
        if buffer[end] == 0x0D:
            del buffer[: end + 1]
            return self._finish_line()
        run = self._control_run.match(buffer, end)
        assert run is not None
        data = bytes(buffer[end : run.end()])
        del buffer[: run.end()]
        return ControlBytes(data=data)

    def _skip_tail(self) -> bool:
        """Drop the transfer tail; False while the bytes that decide it are missing."""
        if self._tail_odd:
            if not self._buffer:
                return False
            del self._buffer[:1]
            self._tail_odd = False
        if not self._tail_word:
            return True
        if len(self._buffer) < 2:
            return False
        if self._buffer[1] in _PAD_BYTES:
            del self._buffer[:2]
        self._tail_word = False
        return True

    def _next_payload(self) -> PayloadChunk | None:
        if not self._buffer:
            return None
        take = min(self._payload_left, len(self._buffer))
        data = bytes(self._buffer[:take])
        del self._buffer[:take]
        self._payload_left -= take
        return PayloadChunk(data=data, complete=self._payload_left == 0)

    def _append(self, segment: bytes | bytearray) -> None:
        if not segment:
            return
        segment = bytes(segment).translate(None, self._ignored)
        if self._overflow:
            self._overflow += len(segment)
            return
        if len(self._line) + len(segment) > self._max_line:
            self._overflow = len(self._line) + len(segment)
            self._line.clear()
            return
        self._line += segment

    def _finish_line(self) -> Line | LineTooLong:
        if self._overflow:
            length, self._overflow = self._overflow, 0
            return LineTooLong(length=length)
        data = bytes(self._line)
        self._line.clear()
        return Line(data=data)
