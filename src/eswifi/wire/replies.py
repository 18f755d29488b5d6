"""Reply grammar of the eS-WiFi dialect, host side (docs/protocol.md §1.3–1.7, §2.4, §2.8, §3.1).

The module answers every command with exactly one reply ending in the prompt
``"\\r\\n> "``; between replies the UART build may push asynchronous messages
``"\\r\\n[TAG] text\\r\\n> "`` that carry no OK/ERROR line. This module owns how such a
stream is cut into units and what each unit means:

* :func:`shape_for` — which reply grammar a command gets (text, binary data, bare
  prompt, reset);
* :func:`split_unit` — find the end of the next unit in a buffer, for a given shape;
* :func:`classify_text` — turn a prompt-terminated unit into a reply or an async message.

The client's transaction layer (:mod:`eswifi.client.protocol`) drives these functions;
tests use them to check emulator output. Everything here is pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from eswifi.wire.framing import EOMA, OK_TERMINATOR, PROMPT, SOMA, SPI_PAD

MAX_READ = 1460
"""Largest R1 value: the most data one R0 reply can carry."""

MAX_TEXT_REPLY = 64 * 1024
"""A text reply longer than this without its prompt is treated as garbage."""

_ASYNC_UNIT = re.compile(rb"\r\n(\[[A-Z][A-Z0-9 ]{6}\] [^\r\n]*)\r\n> ")
"""``\\r\\n[TAG    ] text\\r\\n> `` — a 9-character tag, one space, one line of text."""

_ACCEPTED = re.compile(rb"\[(?:TCP|UDP) SVR\] Accepted (\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})")


class ReplyShape(Enum):
    """How the reply to a command is framed."""

    TEXT = "text"
    """``\\r\\n`` + text lines + an OK or ERROR terminator (nearly every command)."""
    DATA = "data"
    """R0: ``\\r\\n`` + raw binary bytes (length bounded by R1) + the OK terminator."""
    COUNTED = "counted"
    """R4: ``\\r\\n`` + the byte count in 4 digits + exactly that many raw bytes + the OK
    terminator."""
    PROMPT = "prompt"
    """Ends at the first prompt, without OK/ERROR (an empty line, ``P7=0``)."""
    RESET = "reset"
    """ZR: ``\\r\\nReset`` then, after the reboot, a prompt (SPI: the greeting)."""


def shape_for(code: str, args: tuple[bytes, ...] = ()) -> ReplyShape:
    """The reply grammar for a command code and its argument tokens."""
    if code == "R0":
        return ReplyShape.DATA
    if code == "R4":
        return ReplyShape.COUNTED
    if code == "ZR":
        return ReplyShape.RESET
    if code == "" or (code == "P7" and args == (b"0",)):
        return ReplyShape.PROMPT
    return ReplyShape.TEXT


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """The module's complete answer to one command."""

    command: bytes
    """The command line that was sent (without CR and payload)."""
    ok: bool
    """True for an OK terminator (or a reply shape without one)."""
    body: bytes
    """What the command printed: the bytes between the leading CR LF and the terminator.
    For R0 this is exactly the data read."""
    raw: bytes
    """The whole reply as received (SPI pad bytes removed)."""
    message: str = ""
    """The ``ERROR: <message>`` text of an MT=0 error reply, else empty."""

    @property
    def code(self) -> str:
        """The command code (``"P?"``, ``"R0"`` …)."""
        head = self.command.replace(b",", b"=").split(b"=", 1)[0]
        return head.decode("latin-1")

    @property
    def text(self) -> str:
        """The body decoded as latin-1 (every byte maps to one character)."""
        return self.body.decode("latin-1")

    @property
    def lines(self) -> list[str]:
        """The non-empty lines of the body."""
        return [line for line in self.text.split("\r\n") if line]

    @property
    def value(self) -> str:
        """The first non-empty line, or "" (the answer of a query such as ``CS``)."""
        lines = self.lines
        return lines[0] if lines else ""

    @property
    def minus_one(self) -> bool:
        """The module printed ``-1``: lost, closed or absent connection, or not joined.

        See docs/protocol.md §2.4.
        """
        return self.value.strip() == "-1"


@dataclass(frozen=True, slots=True, kw_only=True)
class AsyncMessage:
    """An asynchronous message: pushed between replies (UART) or fetched with MR (SPI)."""

    text: bytes
    """The message without framing, e.g. ``b"[TCP SVR] Accepted 10.0.0.7:5024"``."""

    @property
    def tag(self) -> str:
        """The bracketed tag without padding (``"TCP SVR"``), or "" if there is none."""
        if self.text.startswith(b"[") and b"]" in self.text:
            return self.text[1 : self.text.index(b"]")].decode("latin-1").strip()
        return ""

    @property
    def accepted(self) -> tuple[str, int] | None:
        """``(ip, port)`` of a ``[TCP SVR] Accepted`` / ``[UDP SVR] Accepted`` message."""
        match = _ACCEPTED.search(self.text)
        return (match.group(1).decode(), int(match.group(2))) if match else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Prompt:
    """A bare ``\\r\\n> `` outside a reply: the module (re)started or an empty line."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Incomplete:
    """More bytes are needed before the next unit can be recognised."""


class Malformed(ValueError):
    """The bytes cannot be a reply of the expected shape (message says why)."""


Unit = Reply | AsyncMessage | Prompt


def strip_pads(buffer: bytes | bytearray) -> int:
    """Number of SPI pad bytes (0x15) at the start of ``buffer`` (they sit between units)."""
    count = 0
    while count < len(buffer) and buffer[count] == SPI_PAD:
        count += 1
    return count


def async_unit(buffer: bytes | bytearray) -> tuple[AsyncMessage, int] | Incomplete | None:
    """An asynchronous message at the very start of ``buffer``.

    Returns the message and its length in bytes, :class:`Incomplete` while the bytes seen
    so far could still be one, or None when they cannot.
    """
    if len(buffer) < 3:
        return Incomplete() if b"\r\n["[: len(buffer)] == bytes(buffer[:3]) else None
    if not buffer.startswith(b"\r\n["):
        return None
    end_of_line = buffer.find(b"\r\n", 2)
    if end_of_line < 0:
        return Incomplete() if len(buffer) < MAX_TEXT_REPLY else None
    if len(buffer) < end_of_line + len(PROMPT):
        tail = bytes(buffer[end_of_line:])
        return Incomplete() if PROMPT.startswith(tail) else None
    match = _ASYNC_UNIT.match(buffer)
    if match is None:
        return None
    return AsyncMessage(text=match.group(1)), match.end()


def classify_text(command: bytes, unit: bytes) -> Unit:
    """Interpret a unit that ends with the prompt, as the reply to ``command``.

    Raises:
        Malformed: the unit is neither a reply, an async message nor a bare prompt.
    """
    if unit == PROMPT:
        return Prompt()
    if not unit.startswith(b"\r\n") or not unit.endswith(PROMPT):
        raise Malformed(f"reply does not start with CR LF: {_show(unit)}")
    content = unit[2 : -len(PROMPT)]
    lines = content.split(b"\r\n")
    last = lines[-1]
    if last == b"OK":
        return Reply(command=command, ok=True, body=b"\r\n".join(lines[:-1]), raw=unit)
    if last == b"ERROR":
        return Reply(command=command, ok=False, body=b"\r\n".join(lines[:-1]), raw=unit)
    if last.startswith(b"ERROR:"):
        return Reply(
            command=command,
            ok=False,
            body=b"\r\n".join(lines[:-1]),
            raw=unit,
            message=last[6:].decode("latin-1").strip(),
        )
    if last.startswith(b"Usage:") and len(lines) >= 2 and lines[-2].startswith(b"ERROR"):
        return Reply(
            command=command,
            ok=False,
            body=b"\r\n".join(lines[:-2]),
            raw=unit,
            message=lines[-2][6:].decode("latin-1").strip(),
        )
    if len(lines) == 1 and _ASYNC_UNIT.fullmatch(unit):
        return AsyncMessage(text=last)
    raise Malformed(f"reply has no OK or ERROR line: {_show(unit)}")


def _resume_at(resume: int, pattern: bytes, start: int = 0) -> int:
    """Where to search for ``pattern`` again when the first ``resume`` bytes had none."""
    return max(start, resume - len(pattern) + 1)


def _through_prompt(buffer: bytes | bytearray, what: str = "", resume: int = 0) -> int | None:
    """Length of ``buffer`` up to and including its first prompt (None: not there yet).

    ``resume``: how many bytes an earlier call already searched in vain.

    Raises:
        Malformed: no prompt within :data:`MAX_TEXT_REPLY` bytes.
    """
    end = buffer.find(PROMPT, _resume_at(resume, PROMPT))
    if end < 0:
        if len(buffer) > MAX_TEXT_REPLY:
            raise Malformed(f"no prompt after {len(buffer)} bytes{what}")
        return None
    return end + len(PROMPT)


def split_text(
    command: bytes, buffer: bytes | bytearray, resume: int = 0
) -> tuple[Unit, int] | Incomplete:
    """The next prompt-terminated unit of ``buffer`` and its length.

    ``resume``: the buffer length at an earlier call that returned :class:`Incomplete`
    (the search goes on from there instead of from the start).

    Raises:
        Malformed: the bytes cannot start a reply, or no prompt came within
            :data:`MAX_TEXT_REPLY` bytes.
    """
    if buffer[:2] != b"\r\n"[: len(buffer[:2])]:
        raise Malformed(f"reply does not start with CR LF: {_show(bytes(buffer[:80]))}")
    length = _through_prompt(buffer, resume=resume)
    if length is None:
        return Incomplete()
    return classify_text(command, bytes(buffer[:length])), length


def split_data(
    command: bytes,
    buffer: bytes | bytearray,
    limit: int,
    *,
    more_follow: bool = False,
    resume: int = 0,
) -> tuple[Unit, int] | Incomplete:
    """The next R0 reply (binary data of at most ``limit`` bytes) or error reply.

    The data is not escaped by the module, so a payload may itself contain the OK
    terminator. Among the terminators present, the last one that keeps the data within
    ``limit`` ends the reply: a reply arrives in one piece from the module, and nothing
    but async messages (which never contain ``OK``) can follow it while this command is
    in flight. A payload split by the link right after an embedded terminator cannot be
    told apart from a shorter reply; the rest then fails as a malformed reply (docs/protocol.md §5
    quirk 15, shared by every driver). With ``more_follow`` (replies to later commands
    may follow, as after an abandoned read) the first terminator ends the reply instead.

    Raises:
        Malformed: the reply does not start with CR LF or is longer than ``limit``.
    """
    if buffer[:2] != b"\r\n"[: len(buffer[:2])]:
        raise Malformed(f"data reply does not start with CR LF: {_show(bytes(buffer[:80]))}")
    if len(buffer) < 2:
        return Incomplete()
    best = -1
    start = _resume_at(resume, OK_TERMINATOR, 2)
    while True:
        found = buffer.find(OK_TERMINATOR, start)
        if found < 0 or found - 2 > limit:
            break
        best = found
        if more_follow:
            break
        start = found + 1
    if best >= 0:
        length = best + len(OK_TERMINATOR)
        return (
            Reply(
                command=command,
                ok=True,
                body=bytes(buffer[2:best]),
                raw=bytes(buffer[:length]),
            ),
            length,
        )
    error = _error_reply(command, buffer, resume)
    if error is not None:
        return error
    if len(buffer) > limit + 2 + 2 * len(OK_TERMINATOR) + 64:
        raise Malformed(
            f"data reply longer than the read size {limit}: {_show(bytes(buffer[:80]))}"
        )
    return Incomplete()


def _error_reply(
    command: bytes, buffer: bytes | bytearray, resume: int
) -> tuple[Reply, int] | None:
    """An ERROR reply (``-1``: connection closed) at the start of a read's ``buffer``."""
    end = buffer.find(PROMPT, _resume_at(resume, PROMPT, 2))
    if end < 0:
        return None
    length = end + len(PROMPT)
    try:
        unit = classify_text(command, bytes(buffer[:length]))
    except Malformed:
        return None
    if isinstance(unit, Reply) and not unit.ok:
        return unit, length
    return None


COUNT_DIGITS = 4
"""R4 prints the byte count as 4 decimal digits before the data."""


def split_counted(
    command: bytes, buffer: bytes | bytearray, limit: int, *, resume: int = 0
) -> tuple[Unit, int] | Incomplete:
    """The next R4 reply: ``\\r\\n`` + 4-digit count + that many bytes + OK terminator,
    or an error reply (``-1``: the connection is closed).

    The count makes the data length explicit, so a payload holding the terminator or a
    prompt is read exactly, however the link splits it.

    Raises:
        Malformed: the bytes are not an R4 reply, or announce more than ``limit`` bytes.
    """
    if buffer[:2] != b"\r\n"[: len(buffer[:2])]:
        raise Malformed(f"data reply does not start with CR LF: {_show(bytes(buffer[:80]))}")
    head = bytes(buffer[2 : 2 + COUNT_DIGITS])
    if len(head) < COUNT_DIGITS and (not head or head.isdigit()):
        return Incomplete()
    if not head.isdigit():
        # Not a count: an error reply such as "\r\n-1\r\nERROR\r\n> ".
        error = _error_reply(command, buffer, resume)
        if error is not None:
            return error
        if _through_prompt(buffer, " of a counted read", resume) is not None:
            raise Malformed(f"counted reply without a count: {_show(bytes(buffer[:80]))}")
        return Incomplete()
    count = int(head)
    if count > limit:
        raise Malformed(f"counted reply announces {count} bytes, read size {limit}")
    start = 2 + COUNT_DIGITS
    length = start + count + len(OK_TERMINATOR)
    if len(buffer) < length:
        return Incomplete()
    if buffer[start + count : length] != OK_TERMINATOR:
        raise Malformed(
            f"counted reply of {count} bytes not followed by OK: "
            f"{_show(bytes(buffer[start + count : length + 16]))}"
        )
    raw = bytes(buffer[:length])
    return Reply(command=command, ok=True, body=raw[start : start + count], raw=raw), length


def split_reset(command: bytes, buffer: bytes | bytearray) -> tuple[Unit, int] | Incomplete:
    """The reply to ZR: ``\\r\\nReset`` and the reboot prompt, or a plain OK/ERROR reply.

    SPI pad bytes anywhere in it (the greeting starts with two) are ignored.
    """
    length = _through_prompt(buffer, " of reset output")
    if length is None:
        return Incomplete()
    unit = bytes(buffer[:length]).replace(bytes([SPI_PAD]), b"")
    if unit.endswith(OK_TERMINATOR) or b"ERROR" in unit:
        return classify_text(command, unit.lstrip(bytes([SPI_PAD]))), length
    if b"Reset" in unit:
        body = unit[: -len(PROMPT)].strip(b"\r\n")
        return Reply(command=command, ok=True, body=body, raw=unit), length
    # A prompt before the "Reset" line (an async message, a stray prompt): not the reply.
    return classify_text(command, unit), length


def split_prompt(command: bytes, buffer: bytes | bytearray) -> tuple[Unit, int] | Incomplete:
    """A reply that ends at the first prompt whatever it contains (empty line, P7=0)."""
    length = _through_prompt(buffer)
    if length is None:
        return Incomplete()
    unit = bytes(buffer[:length])
    try:
        parsed = classify_text(command, unit)
    except Malformed:
        parsed = None
    if isinstance(parsed, Reply):
        return parsed, length
    body = unit[: -len(PROMPT)].removeprefix(b"\r\n")
    return Reply(command=command, ok=True, body=body, raw=unit), length


def mr_message(reply: Reply) -> AsyncMessage | None:
    """The message inside an ``MR`` reply (``[SOMA]…[EOMA]``), or None when it is empty."""
    body = reply.body
    start = body.find(SOMA)
    end = body.rfind(EOMA)
    if start < 0 or end < start:
        return None
    text = body[start + len(SOMA) : end]
    return AsyncMessage(text=text) if text else None


def _show(data: bytes) -> str:
    from eswifi.wire.framing import escape

    return repr(escape(data[:120]))
