"""Reply envelopes of the eS-WiFi dialect (docs/protocol.md §1.3, §1.6, §2.8).

Pure byte helpers shared by the emulator (which builds replies) and the client (which
recognises them). Nothing here performs I/O.
"""

from __future__ import annotations

from enum import IntEnum

PROMPT = b"\r\n> "
"""Sent alone for an empty command line; ends every reply."""
OK_TERMINATOR = b"\r\nOK\r\n> "
ERROR_TERMINATOR = b"\r\nERROR\r\n> "
SPI_PAD = 0x15
"""Fill byte of SPI replies (NAK)."""
SPI_GREETING = b"\x15\x15\r\n> "
"""What an SPI host reads after a reset."""
SOMA = b"[SOMA]"
EOMA = b"[EOMA]"


class ErrorCode(IntEnum):
    """Negative return codes of command handlers and the MT=0 message of each."""

    UNKNOWN_ERROR = -1
    UNKNOWN_COMMAND = -2
    INSUFFICIENT_ARGUMENTS = -3
    TOO_MANY_ARGUMENTS = -4
    BAD_ADDRESS_VALUE = -5
    NO_COMMAND_ENTERED = -6
    BAD_ARGUMENT = -7

    @property
    def message(self) -> str:
        return _MESSAGES[self]


_MESSAGES = {
    ErrorCode.UNKNOWN_ERROR: "Unknown Error",
    ErrorCode.UNKNOWN_COMMAND: "Unknown Command",
    ErrorCode.INSUFFICIENT_ARGUMENTS: "Insufficient Arguments",
    ErrorCode.TOO_MANY_ARGUMENTS: "Too Many Arguments",
    ErrorCode.BAD_ADDRESS_VALUE: "Bad Address Value",
    ErrorCode.NO_COMMAND_ENTERED: "No Command Entered",
    ErrorCode.BAD_ARGUMENT: "Bad Argument",
}

UNKNOWN_COMMAND_REPLY = b"\r\n\r\nERROR: Unknown Command\r\n> "
"""The reply to an unknown code, whatever the message type."""


def ok_terminator(printed: bool) -> bytes:
    """OK terminator, with the blank line the module adds when nothing was printed."""
    return OK_TERMINATOR if printed else b"\r\n" + OK_TERMINATOR


def error_terminator(
    printed: bool,
    *,
    verbose: bool,
    code: str = "",
    usage: str = "",
    error: ErrorCode = ErrorCode.UNKNOWN_ERROR,
) -> bytes:
    """ERROR terminator: ``ERROR`` (MT=1) or ``ERROR: <msg>`` + ``Usage:`` line (MT=0)."""
    lead = b"" if printed else b"\r\n"
    if not verbose:
        return lead + ERROR_TERMINATOR
    text = f"\r\nERROR: {error.message}"
    if code:
        text += f"\r\nUsage: {code} {usage}"
    return lead + text.encode("latin-1") + PROMPT


def uart_async(message: bytes) -> bytes:
    """An asynchronous message as the UART build pushes it between replies."""
    return b"\r\n" + message + PROMPT


def mr_reply(message: bytes | None) -> bytes:
    """The reply to ``MR`` on the SPI build: one queued message, or the empty markers."""
    return b"\r\n" + SOMA + (message or b"") + EOMA + OK_TERMINATOR


def spi_pad(data: bytes) -> bytes:
    """Pad a reply to an even length with 0x15, as the SPI build does."""
    return data + b"\x15" if len(data) % 2 else data


def escape(data: bytes) -> str:
    """Readable form of wire bytes: printable ASCII kept, ``\\r``/``\\n``, others ``\\xNN``."""
    out = []
    for byte in data:
        if byte == 0x0D:
            out.append("\\r")
        elif byte == 0x0A:
            out.append("\\n")
        elif byte == 0x5C:
            out.append("\\\\")
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)


def unescape(text: str) -> bytes:
    """Inverse of :func:`escape` (also accepts ``\\t``)."""
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\":
            out += ch.encode("latin-1")
            i += 1
            continue
        nxt = text[i + 1 : i + 2]
        if nxt == "x":
            out.append(int(text[i + 2 : i + 4], 16))
            i += 4
        else:
            out += {"r": b"\r", "n": b"\n", "t": b"\t", "\\": b"\\"}[nxt]
            i += 2
    return bytes(out)
