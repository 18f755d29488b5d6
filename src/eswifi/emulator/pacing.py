"""Line-rate pacing of the host link (``eswifi emulate --timing real``).

A real module's link carries bytes at its line rate: a UART at 115200 baud moves 11520
bytes per second each way (8N1: a start bit, eight data bits and a stop bit per byte); an
SPI bus moves one byte per eight clocks, and each reply waits for DATA-READY to rise.
:class:`Pacer` keeps the time at which one direction of the line becomes free and hands
out bytes in slices of a few milliseconds, each due once it has crossed the line. The
runtime applies it to what it writes to the host and to what it passes from the host to
the engine; handlers never see it. No clock is read here: callers pass ``now``.
"""

from __future__ import annotations

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
