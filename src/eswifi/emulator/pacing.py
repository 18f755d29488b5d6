"""Line-rate pacing of the host link (``eswifi emulate --timing real``).

A real module's link carries bytes at its line rate: a UART at 115200 baud moves 11520
bytes per second each way (8N1: a start bit, eight data bits and a stop bit per byte); an
SPI bus moves one byte per eight clocks, and each reply waits for DATA-READY to rise.
:class:`Pacer` keeps the time at which one direction of the line becomes free and hands
out bytes in slices of a few milliseconds, each due once it has crossed the line. The
runtime applies it, through :class:`PacedQueue` (the only part that uses the event loop's
timers), to what it writes to the host and to what it passes from the host to the engine;
handlers and the engine never see it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

UART_BITS_PER_BYTE = 10
"""8N1: one start bit, eight data bits, one stop bit."""
SLICE_SECONDS = 0.005
"""How much line time one paced slice of bytes takes at most."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LineRate:
    """How fast one direction of the host link carries bytes."""

    bytes_per_second: float
    turnaround: float = 0.0
    """Seconds between the end of the host's last bytes and the start of a reply (the SPI
    build's DATA-READY turnaround); 0 on a UART."""

    def __post_init__(self) -> None:
        if not self.bytes_per_second > 0 or self.turnaround < 0:
            raise ValueError(f"bad line rate {self!r}")


def uart_rate(baud: int) -> LineRate:
    """A UART at ``baud`` bits per second, 8N1."""
    return LineRate(bytes_per_second=baud / UART_BITS_PER_BYTE)


def spi_rate(clock_hz: int, turnaround_us: int = 0) -> LineRate:
    """An SPI bus at ``clock_hz`` with a DATA-READY turnaround of ``turnaround_us``."""
    return LineRate(bytes_per_second=clock_hz / 8, turnaround=turnaround_us / 1_000_000)


class Pacer:
    """One direction of a paced line: when does each slice of bytes finish crossing it?"""

    def __init__(self, rate: LineRate) -> None:
        self.rate = rate
        self._free_at = 0.0

    def slice_size(self) -> int:
        """Bytes per slice: at most :data:`SLICE_SECONDS` of line time, at least one."""
        return max(1, int(self.rate.bytes_per_second * SLICE_SECONDS))

    def reserve(self, count: int, ready_at: float, *, reply: bool = False) -> float:
        """Book ``count`` bytes that were ready to go at ``ready_at``; return when the last
        of them has crossed the line. They start once the line is free; a reply that
        finds the line idle starts after the turnaround.

        Times are booked from ``ready_at``, not from when the caller got round to it, so a
        caller that woke late catches up instead of losing line time.
        """
        if self._free_at <= ready_at:
            start = ready_at + (self.rate.turnaround if reply else 0.0)
        else:
            start = self._free_at
        self._free_at = start + count / self.rate.bytes_per_second
        return self._free_at


class PacedQueue:
    """Bytes handed on no faster than a line carries them (the runtime's link layer).

    :meth:`put` cuts bytes into slices; each is passed to ``release`` once it has crossed
    the line, from a loop timer. ``replies``: the bytes are the module's replies, so one
    that finds the line idle waits the turnaround first. A rate change queued with
    :meth:`change_rate` applies from the bytes after those already queued, and is
    reported to ``on_rate`` when it takes effect.
    """

    def __init__(
        self,
        rate: LineRate,
        release: Callable[[bytes], None],
        *,
        replies: bool = False,
        on_rate: Callable[[LineRate], None] | None = None,
    ) -> None:
        self.pacer = Pacer(rate)
        self._release = release
        self._replies = replies
        self._on_rate = on_rate
        self._slices: deque[tuple[bytes, float, LineRate | None, bool]] = deque()
        """Slice, when its bytes were ready, the rate after it, whether it starts a put."""
        self._due: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.queued = 0
        """Bytes waiting to cross the line."""

    def put(self, data: bytes) -> None:
        """Queue ``data``, ready now."""
        if not data:
            return
        loop = asyncio.get_running_loop()
        ready_at = loop.time()
        size = self.pacer.slice_size()
        for start in range(0, len(data), size):
            self._slices.append((data[start : start + size], ready_at, None, start == 0))
        self.queued += len(data)
        if self._timer is None:
            self._run()

    def change_rate(self, rate: LineRate) -> None:
        """The line runs at ``rate`` from the bytes after those queued so far."""
        if not self._slices:
            self._set_rate(rate)
            return
        data, ready_at, _, first = self._slices[-1]
        self._slices[-1] = (data, ready_at, rate, first)

    def clear(self) -> None:
        """Forget everything queued (the host went away)."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._slices.clear()
        self._due = None
        self.queued = 0

    def _set_rate(self, rate: LineRate) -> None:
        self.pacer.rate = rate
        if self._on_rate is not None:
            self._on_rate(rate)

    def _run(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        while self._slices:
            data, ready_at, rate, first = self._slices[0]
            if self._due is None:
                self._due = self.pacer.reserve(len(data), ready_at, reply=first and self._replies)
            delay = self._due - loop.time()
            if delay > 0:
                self._timer = loop.call_later(delay, self._run)
                return
            self._slices.popleft()
            self._due = None
            self.queued -= len(data)
            if rate is not None:
                self._set_rate(rate)
            self._release(data)
