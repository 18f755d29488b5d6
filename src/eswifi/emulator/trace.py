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
    """Writes trace lines to a text stream (the caller owns and closes the stream).

    A trace that cannot be written (a full disk, ``/dev/full``) never stops the module:
    tracing stops, and ``on_error`` is told once.
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_error: Callable[[OSError], None] | None = None,
    ) -> None:
        self._stream: TextIO | None = stream
        self._clock = clock
        self._start = clock()
        self._on_error = on_error

    @property
    def stopped(self) -> bool:
        """Tracing stopped after a write error."""
        return self._stream is None

    def __call__(self, direction: str, data: bytes) -> None:
        if self._stream is None:
            return
        elapsed = self._clock() - self._start
        try:
            self._stream.write(f"{elapsed:.6f} {direction} {escape(data)}\n")
        except OSError as exc:
            self._stream = None
            if self._on_error is not None:
                self._on_error(exc)
