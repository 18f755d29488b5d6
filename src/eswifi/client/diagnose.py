"""Plain-language explanations for links that fail before the module ever answers.

Three mistakes look alike from pyserial's side and say nothing about what to do:

* a TCP console address given without ``socket://`` (pyserial takes it for a device path
  and reports "No such file or directory");
* a ``socket://`` address where nothing listens (connection refused);
* an emulator console that already serves another host: it writes one line
  (``eswifi: console busy, another host is attached``) and hangs up, which a command
  reads as a malformed reply or a closed link.

The functions here turn each into one :mod:`eswifi.errors` exception whose message says
what to do instead.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

import serial

from eswifi.errors import ConsoleBusy, EsWifiError, LinkClosed, LinkError, LinkRefused

if TYPE_CHECKING:
    from eswifi.client.link import Link

BUSY_TEXT = b"console busy"
"""What the emulator's refusal of a second console host contains."""
BUSY_LINE = b"eswifi: console busy, another host is attached\r\n"
"""The whole refusal line."""
KEEP_BYTES = 256
"""How many bytes received before the first reply are kept to explain a failure."""
DISCARD_READS = 64
"""Bound on the reads that drop stale input."""

_HOST_PORT = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):\d{1,5}")


def check_url(url: str) -> None:
    """Refuse a bare ``host:port`` that names no file, with the URL that was meant.

    Raises:
        LinkError: ``url`` looks like a TCP address without ``socket://``.
    """
    if "://" not in url and _HOST_PORT.fullmatch(url) and not os.path.exists(url):
        raise LinkError(
            f"cannot open {url}: no such device; for a TCP console write the URL as socket://{url}"
        )


def open_port(url: str, baudrate: int) -> serial.SerialBase:
    """``serial.serial_for_url``, except that a ``socket://`` port keeps what the other end
    sends at once: pyserial's ``open`` drops it, and that is where an emulator's console
    says why it refuses a host (a TCP connection has no stale input to drop).

    Raises:
        serial.SerialException, OSError, ValueError: as pyserial.
    """
    port = serial.serial_for_url(url, baudrate=baudrate, timeout=0, do_not_open=True)
    if type(port).__module__ != "serial.urlhandler.protocol_socket":
        port.open()
        return port
    port.reset_input_buffer = _keep_input  # type: ignore[method-assign]
    try:
        port.open()
    finally:
        del port.reset_input_buffer
    return port


def _keep_input() -> None:
    """Stands in for ``reset_input_buffer`` while a ``socket://`` port opens."""


def open_failure(url: str, exc: BaseException) -> LinkError:
    """The error for a port that could not be opened (``exc`` is pyserial's)."""
    if url.startswith("socket://") and _refused(exc):
        address = url.removeprefix("socket://").split("?", 1)[0]
        return LinkRefused(
            f"cannot open {url}: nothing is listening on {address} (connection refused); "
            f"start the emulator there (eswifi emulate --listen {address}) "
            "or use the address it prints on its 'link:' line"
        )
    return LinkError(f"cannot open {url}: {exc}")


def first_reply_failure(url: str, seen: bytes, exc: EsWifiError) -> EsWifiError | None:
    """A clearer error for the first command on a link failing with ``exc``.

    ``seen`` holds the bytes received on the link before and during that reply (see
    :class:`RecordingLink`). Returns None when there is nothing better to say than ``exc``.
    """
    refused = BUSY_TEXT in seen
    hung_up = isinstance(exc, LinkClosed) or _caused_by(exc, ConnectionError)
    if not refused and hung_up and seen and url.startswith("socket://"):
        refused = BUSY_LINE.startswith(seen)  # the console hung up halfway through it
    if refused:
        return ConsoleBusy(
            f"{url} is busy: another host is attached to the emulator's console, which "
            "serves one host at a time; close that session (eswifi term, a script, a "
            "terminal program) and try again, or start a second emulator"
        )
    return None


class RecordingLink:
    """A :class:`~eswifi.client.link.Link` that keeps the first bytes it receives, including
    those :meth:`discard_input` drops, so that a failed first reply can be explained."""

    def __init__(self, link: Link, keep: int = KEEP_BYTES) -> None:
        self.link = link
        self._keep = keep
        self._seen = bytearray()

    @property
    def seen(self) -> bytes:
        return bytes(self._seen)

    def write(self, data: bytes) -> None:
        self.link.write(data)

    def read(self, timeout: float) -> bytes:
        return self._record(self.link.read(timeout))

    def monotonic(self) -> float:
        return self.link.monotonic()

    def discard_input(self) -> None:
        """Read and record what is waiting instead of dropping it unseen."""
        for _ in range(DISCARD_READS):
            try:
                if not self.read(0):
                    return
            except LinkError:
                return  # the link is gone; the caller finds out with its next read

    def close(self) -> None:
        self.link.close()

    def _record(self, data: bytes) -> bytes:
        room = self._keep - len(self._seen)
        if room > 0:
            self._seen += data[:room]
        return data


def _refused(exc: BaseException) -> bool:
    """Whether ``exc`` or an exception it was raised from is a refused connection."""
    return _caused_by(exc, ConnectionRefusedError) or "connection refused" in str(exc).lower()


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    """Whether ``exc`` or an exception it was raised from (or during) is a ``kind``."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, kind):
            return True
        current = current.__cause__ or current.__context__
    return False
