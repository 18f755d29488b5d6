"""What the client-side CLI commands share: link options, typed command lines, reply display.

A typed command line is sent as it is, except the S3 shorthand ``S3 <text>``: the text
(with ``\\r``, ``\\n``, ``\\t``, ``\\\\`` and ``\\xNN`` escapes) becomes the payload and the
length is filled in, so ``S3 GET / HTTP/1.0\\r\\n\\r\\n`` sends ``S3=18\\r`` and 18 bytes.
No protocol logic lives here: replies come from :mod:`eswifi.client`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from eswifi.client import Module
from eswifi.errors import CommandError, LinkError, ProtocolError
from eswifi.wire.framing import escape, unescape
from eswifi.wire.replies import AsyncMessage, Reply, ReplyShape, shape_for

EXIT_OK = 0
EXIT_ERROR = 1
"""The module answered ERROR."""
EXIT_USAGE = 2
EXIT_LINK = 3
"""The link failed, timed out or carried bytes that are not the module's grammar."""


def add_link_arguments(parser: argparse.ArgumentParser) -> None:
    """``URL``, ``--link``, ``--baudrate`` and ``--timeout``."""
    parser.add_argument(
        "url",
        metavar="URL",
        help="pyserial URL or device: /dev/ttyUSB0, /dev/pts/7, socket://127.0.0.1:7000 …",
    )
    parser.add_argument(
        "--link",
        choices=("uart", "spi"),
        default="uart",
        help="module build on the other end (default: uart)",
    )
    parser.add_argument("--baudrate", type=int, default=115_200, help="serial speed")
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for a reply (default: 10)"
    )


def open_module(args: argparse.Namespace) -> Module:
    """Open the module the arguments name.

    Raises:
        LinkError: the link cannot be opened.
    """
    return Module.open(
        args.url, args.link, baudrate=args.baudrate, timeout=args.timeout, fresh=False
    )


@dataclass(frozen=True, slots=True)
class Typed:
    """A command line as typed, ready to send."""

    line: bytes
    payload: bytes | None = None


def parse_typed(text: str) -> Typed:
    """Turn typed text into a command line and optional payload.

    Raises:
        ValueError: a bad escape, or a character outside latin-1.
    """
    text = text.strip("\r\n")
    head = text[:3].upper()
    if head == "S3 " or (head == "S3" and len(text) == 2):
        payload = unescape(text[3:])
        return Typed(line=b"S3=%d" % len(payload), payload=payload)
    try:
        return Typed(line=text.encode("latin-1"))
    except UnicodeEncodeError as exc:
        raise ValueError(f"the module takes latin-1 text only: {exc}") from None


def needs_payload(line: bytes) -> int | None:
    """The payload length an ``S3=<n>`` line announces (None for other commands)."""
    if line[:3].upper() != b"S3=":
        return None
    count = line[3:].strip()
    return int(count) if count.isdigit() else None


def render_body(reply: Reply) -> str:
    """What a command printed: text lines, or escaped bytes for R0 data."""
    if shape_for(reply.code) in (ReplyShape.DATA, ReplyShape.COUNTED):
        return escape(reply.body)
    lines = (escape(line.encode("latin-1")) for line in reply.text.split("\r\n"))
    return "\n".join(lines).strip("\n")


def render_reply(reply: Reply, *, hex_view: bool = False) -> str:
    """A reply for people: its body and OK/ERROR line, or a hex dump of its bytes."""
    if hex_view:
        return hexdump(reply.raw)
    body = render_body(reply)
    status = "OK" if reply.ok else ("ERROR: " + reply.message if reply.message else "ERROR")
    return f"{body}\n{status}" if body else status


def render_message(message: AsyncMessage, *, hex_view: bool = False) -> str:
    if hex_view:
        return hexdump(message.text)
    return escape(message.text)


def hexdump(data: bytes) -> str:
    """Sixteen bytes a line: offset, hex, printable ASCII."""
    lines = []
    for offset in range(0, len(data), 16):
        chunk = data[offset : offset + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append(f"{offset:04x}  {hexes:<47}  {text}")
    return "\n".join(lines) or "(empty)"


def describe_failure(exc: BaseException) -> tuple[int, str]:
    """Exit status and message for an exception from the client."""
    if isinstance(exc, CommandError):
        return EXIT_ERROR, f"error: {exc}"
    if isinstance(exc, LinkError | ProtocolError):
        hint = ""
        if isinstance(exc, ProtocolError) and "\\x15" in str(exc):
            hint = " (0x15 pad bytes come from the SPI build: add --link spi)"
        return EXIT_LINK, f"link error: {exc}{hint}"
    return EXIT_LINK, f"error: {exc}"
