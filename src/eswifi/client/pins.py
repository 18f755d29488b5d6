"""The module's RESET pin seen from the host: the emulator's control channel.

``eswifi emulate --control HOST:PORT`` takes one command per line and answers one line
(``ok …`` / ``error: …``); :func:`control_command` sends one. :func:`wait_for_boot` reads
the link until the boot output a reset ends with (``\\r\\n> ``, SPI pad bytes ignored).
"""

from __future__ import annotations

import socket

from eswifi.client.link import Link
from eswifi.errors import LinkError, LinkTimeout
from eswifi.wire.framing import PROMPT, SPI_PAD

BOOT_SEARCH_LIMIT = 4096
"""Bytes kept while looking for the boot prompt (older ones are dropped)."""


def parse_address(address: str | tuple[str, int]) -> tuple[str, int]:
    """``"127.0.0.1:7001"`` or ``("127.0.0.1", 7001)`` as a (host, port) pair.

    Raises:
        ValueError: not ``HOST:PORT``.
    """
    if isinstance(address, tuple):
        return address
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"control channel: expected HOST:PORT, got {address!r}")
    return host.strip("[]"), int(port)


def control_command(address: tuple[str, int], line: str, timeout: float) -> str:
    """Send one control command; return its ``ok`` answer.

    Raises:
        LinkError: the control channel cannot be reached, or answered ``error: …``.
    """
    try:
        with socket.create_connection(address, timeout=timeout) as channel:
            channel.sendall(line.encode("ascii") + b"\n")
            answer = channel.makefile("rb").readline().decode("utf-8", "replace").strip()
    except OSError as exc:
        raise LinkError(f"control channel {address[0]}:{address[1]}: {exc}") from exc
    if answer != "ok" and not answer.startswith("ok "):
        raise LinkError(f"control channel: {line!r} answered {answer or 'nothing'!r}")
    return answer


def wait_for_boot(link: Link, timeout: float) -> None:
    """Read ``link`` until the boot prompt (``\\r\\n> ``; the SPI greeting is that after
    two pad bytes).

    Raises:
        LinkTimeout: no boot prompt within ``timeout`` seconds.
    """
    seen = b""
    deadline = link.monotonic() + timeout
    while True:
        remaining = deadline - link.monotonic()
        if remaining <= 0:
            raise LinkTimeout(f"the module did not boot within {timeout:g} s")
        seen = (seen + link.read(remaining).replace(bytes([SPI_PAD]), b""))[-BOOT_SEARCH_LIMIT:]
        if seen.endswith(PROMPT):
            return
