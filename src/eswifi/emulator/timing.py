"""How long the firmware's operations take: engine deadlines, never sleeps.

Two built-in tables: :data:`FAST` (the default: the module answers as fast as it can,
except ``ZR``'s reboot, which has always taken its 500 ms) and :data:`REAL` (figures of the
real module). Line-rate pacing of the host link is not here: it belongs to the runtime's
link layer.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from eswifi.errors import ConfigError


@dataclass(frozen=True, slots=True, kw_only=True)
class Timing:
    """Operation times in milliseconds (see docs/pins-and-timing.md for their sources)."""

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

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int) or not 0 <= value <= 600_000:
                raise ConfigError(f"timing {field.name} must be 0..600000 ms, not {value!r}")


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
