"""Byte tracing of the host link: every byte both ways, as readable text lines.

A trace hook is any callable taking a direction and the bytes. :class:`TraceWriter`
writes one line per chunk::

    0.001234 > P0=1\\r
    0.001500 < \\r\\n\\r\\nOK\\r\\n>\x20

seconds since the trace started, ``>`` for host-to-module and ``<`` for module-to-host,
then the bytes as :func:`eswifi.wire.framing.escape` shows them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from eswifi.wire.framing import escape

TO_MODULE = ">"
"""Direction of bytes the host sent."""
TO_HOST = "<"
"""Direction of bytes the module sent."""

TraceHook = Callable[[str, bytes], None]
"""Called with a direction (:data:`TO_MODULE` or :data:`TO_HOST`) and the bytes."""


class TraceWriter:
    """Writes trace lines to a text stream (the caller owns and closes the stream)."""

    def __init__(self, stream: TextIO, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self._clock = clock
        self._start = clock()

    def __call__(self, direction: str, data: bytes) -> None:
        elapsed = self._clock() - self._start
        self._stream.write(f"{elapsed:.6f} {direction} {escape(data)}\n")
