"""The module's pins: RESET and WAKEUP (inputs), CMD/DATA-READY (output of SPI builds).

Pure state, no I/O: :class:`Pins` holds the levels and the power state the RESET pin
drives, and turns every level change into a :class:`~eswifi.emulator.messages.PinChanged`
effect. The engine calls it; the runtime and the control channel only report its edges.

Power states (RESET is active low):

* ``RUNNING`` — powered and booted: the module takes host bytes;
* ``HELD`` — RESET held low: the module is dead, host bytes are discarded (and counted),
  nothing is sent;
* ``BOOTING`` — RESET released (or ``ZR``): booting until ``boot_at``, host bytes
  discarded as while held.

DATA-READY (SPI builds, docs/protocol.md §1.7): high when the module can take a command (idle, or
reading a payload) or has presented its greeting; low while held in reset, while booting,
and while a command is processed, until its reply is written. The UART build leaves it low.

WAKEUP is recorded only: the engine models no low-power state for it to wake from.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum

from eswifi.emulator import messages as m


class Pin(Enum):
    """The pins a host can see or drive, by the names the control channel uses."""

    RESET = "reset"
    WAKEUP = "wakeup"
    READY = "ready"


class Power(Enum):
    """What the RESET pin (and ``ZR``) leave the module doing."""

    RUNNING = "running"
    HELD = "held"
    BOOTING = "booting"


class Pins:
    """Pin levels and the power state, with every edge queued as an effect.

    Args:
        emit: where :class:`~eswifi.emulator.messages.PinChanged` effects go.
        drives_ready: the build drives DATA-READY (the SPI build); it starts high, as
            after power-on the SPI build presents its greeting.
    """

    def __init__(self, emit: Callable[[m.Effect], None], *, drives_ready: bool) -> None:
        self._emit = emit
        self.drives_ready = drives_ready
        self.levels = {Pin.RESET: 1, Pin.WAKEUP: 0, Pin.READY: int(drives_ready)}
        self.power = Power.RUNNING
        self.boot_at: float | None = None
        """When a boot in progress ends (None unless ``BOOTING``)."""
        self.discarded = 0
        """Host bytes dropped because the module was held in reset or booting."""

    def level(self, pin: Pin) -> int:
        return self.levels[pin]

    def set(self, pin: Pin, level: int, now: float) -> bool:
        """Drive ``pin`` to ``level``; queue an edge if it changed (True then)."""
        if self.levels[pin] == level:
            return False
        self.levels[pin] = level
        self._emit(m.PinChanged(pin=pin.value, level=level, at=now))
        return True

    def set_ready(self, high: bool, now: float) -> None:
        """Drive DATA-READY, on builds that have it."""
        if self.drives_ready:
            self.set(Pin.READY, int(high), now)

    def hold(self, now: float) -> bool:
        """RESET goes low. False when it already was."""
        if self.power is Power.HELD:
            return False
        self.power = Power.HELD
        self.boot_at = None
        self.set(Pin.RESET, 0, now)
        self.set_ready(False, now)
        return True

    def boot(self, now: float, delay: float) -> None:
        """Start booting (RESET released, or ``ZR``): done at ``now + delay``."""
        self.power = Power.BOOTING
        self.boot_at = now + delay
        self.set(Pin.RESET, 1, now)
        self.set_ready(False, now)

    def booted(self) -> None:
        self.power = Power.RUNNING
        self.boot_at = None

    @property
    def running(self) -> bool:
        return self.power is Power.RUNNING

    def line(self) -> str:
        """Every pin's level and the power state on one line (``reset=1 wakeup=0 …``)."""
        levels = " ".join(f"{pin.value}={level}" for pin, level in self.levels.items())
        return f"{levels} power={self.power.value} discarded={self.discarded}"
