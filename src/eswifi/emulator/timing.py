"""How long the firmware's operations take: engine deadlines, never sleeps.

Two built-in tables: :data:`FAST` (the default: the module answers as fast as it can,
except ``ZR``'s reboot, which has always taken its 500 ms) and :data:`REAL` (figures of the
real module). Line-rate pacing of the host link is not here: it belongs to the runtime's
link layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

from eswifi.errors import ConfigError


@dataclass(frozen=True, slots=True, kw_only=True)
class Timing:
    """Operation times in milliseconds, and the SPI link's clock (see
    docs/pins-and-timing.md for every figure's source)."""

    boot_ms: int = 0
    """From RESET released to the boot output (SPI greeting, UART prompt)."""
    reset_ms: int = 500
    """From ``ZR``'s ``Reset`` to the boot output."""
    stop_server_ms: int = 0
    """``P5=0``: the firmware waits after closing the server before answering."""
    join_ms: int = 0
    """One ``C0`` join attempt (association and DHCP), on top of the radio's ``join_time_ms``."""
    scan_ms: int = 0
    """One ``F0`` scan pass, on top of the radio's ``scan_time_ms``."""
    dns_ms: int = 0
    """A ``D0`` lookup, before the answer."""
    connect_ms: int = 0
    """A ``P6=1`` client connect, before the attempt starts."""
    spi_clock_hz: int = 10_000_000
    """SPI clock of a paced SPI link (``--timing real``); 8 clocks carry one byte."""
    spi_turnaround_us: int = 100
    """SPI: from the end of a command to DATA-READY rising with its reply, on a paced link."""

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            low, high = _LIMITS.get(field.name, (0, 600_000))
            if type(value) is not int or not low <= value <= high:
                raise ConfigError(f"timing {field.name} must be {low}..{high}, not {value!r}")


_LIMITS = {"spi_clock_hz": (1_000, 50_000_000), "spi_turnaround_us": (0, 1_000_000)}

FAST = Timing()
REAL = Timing(
    boot_ms=500,
    reset_ms=500,
    stop_server_ms=500,
    join_ms=2000,
    scan_ms=2000,
    dns_ms=50,
    connect_ms=50,
)

TIMINGS = {"fast": FAST, "real": REAL}
"""The tables ``--timing`` names."""

FIELDS = frozenset(field.name for field in fields(Timing))
"""What a radio file's ``[timing]`` table may set."""


def timing_named(name: str, overrides: Mapping[str, int] | None = None) -> Timing:
    """The ``--timing`` table called ``name`` with a radio file's overrides applied.

    Raises:
        ConfigError: no such table, an unknown field or a value out of range.
    """
    if name not in TIMINGS:
        raise ConfigError(f"unknown timing {name!r} (known: {', '.join(TIMINGS)})")
    unknown = set(overrides or {}) - FIELDS
    if unknown:
        raise ConfigError(f"unknown timing field {sorted(unknown)[0]!r}")
    return replace(TIMINGS[name], **(overrides or {}))
