"""Seconds (the Python API, like ``socket.settimeout``) to milliseconds (the wire) and back.

This is the only place where the two units meet. Nothing here performs I/O or reads a
clock: deadlines are computed from a ``now`` the caller passes in.
"""

from __future__ import annotations

import math

MAX_WIRE_TIMEOUT_MS = 30_000
"""The largest R2/S2 value the module takes."""


def to_ms(seconds: float, *, minimum: int = 1, maximum: int = MAX_WIRE_TIMEOUT_MS) -> int:
    """A wire timeout for a Python duration, rounded up and clamped to ``minimum..maximum``.

    The minimum is 1 ms because the module treats R2=0 as "wait forever" (docs/protocol.md §2.4).
    """
    if seconds < 0 or math.isnan(seconds):
        raise ValueError(f"timeout must be non-negative, not {seconds!r}")
    return max(minimum, min(maximum, math.ceil(seconds * 1000)))


def to_seconds(milliseconds: int) -> float:
    """A Python duration for a wire value in milliseconds."""
    return milliseconds / 1000


def check_timeout(value: float | None) -> float | None:
    """Validate a ``settimeout`` argument the way CPython does.

    Raises:
        ValueError: the value is negative or NaN.
        TypeError: the value is not a number.
    """
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError("Timeout value must be int, float or None") from None
    if number < 0 or math.isnan(number):
        raise ValueError("Timeout value out of range")
    return number


class Deadline:
    """A point in time on the link's clock, or none (wait forever)."""

    __slots__ = ("at",)

    def __init__(self, now: float, timeout: float | None) -> None:
        self.at = None if timeout is None else now + timeout

    def remaining(self, now: float) -> float | None:
        """Seconds left (never negative), or None for no deadline."""
        return None if self.at is None else max(0.0, self.at - now)

    def expired(self, now: float) -> bool:
        return self.at is not None and now >= self.at
