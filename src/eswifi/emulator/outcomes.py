"""What a command handler returns: finished, waiting, or reading a raw payload.

A handler is ``handler(module, command) -> Done | Wait | ReadPayload``; the engine turns
``Done`` into the reply envelope (OK/ERROR terminator, MT form), runs ``Wait`` polls after
every network event and at its deadline, and reads ``ReadPayload`` bytes before calling on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eswifi.emulator import messages as m
from eswifi.wire.commands import CommandLine
from eswifi.wire.framing import ErrorCode

if TYPE_CHECKING:
    from eswifi.emulator.engine import ModuleEngine


@dataclass(frozen=True, slots=True, kw_only=True)
class Done:
    """A finished command: what it printed and how it ended."""

    text: bytes = b""
    """Printed output, each line introduced by ``\\r\\n`` as the firmware prints it."""
    ok: bool = True
    error: ErrorCode = ErrorCode.UNKNOWN_ERROR
    raw: bool = False
    """``text`` is the complete reply: no OK/ERROR terminator follows (ZR, P7=0 …)."""
    after_reply: tuple[m.Effect, ...] = ()
    """Effects emitted right after the reply's bytes (U0's new line rate)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Wait:
    """A command that finishes later, on a network event or at its deadline."""

    poll: Callable[[m.NetEvent | None], Done | Wait | None]
    """Called at once with None, then with every network event (after the engine applied
    it to its state); returns the outcome once there is one (a further Wait continues the
    command: multi-step commands such as C0 with retries or T0)."""
    on_timeout: Callable[[], Done | Wait]
    deadline: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadPayload:
    """A command that needs ``length`` raw bytes after its line (S3, PG …)."""

    length: int
    timeout_ms: int
    then: Callable[[bytes, bool], Done | Wait]
    """Called with the payload and whether it arrived complete before the timeout."""


Outcome = Done | Wait | ReadPayload
Handler = Callable[["ModuleEngine", CommandLine], Outcome]
"""A command handler: a pure function of the engine's state and the parsed line."""


def error(code: ErrorCode = ErrorCode.UNKNOWN_ERROR, text: bytes = b"") -> Done:
    """An ERROR outcome."""
    return Done(text=text, ok=False, error=code)


def value(text: str | bytes) -> Done:
    """An OK outcome that printed one value line."""
    data = text.encode("latin-1") if isinstance(text, str) else text
    return Done(text=b"\r\n" + data)


def after(now: float, delay_ms: int, then: Callable[[], Done | Wait]) -> Done | Wait:
    """Run ``then`` once ``delay_ms`` passed (at once when it is 0)."""
    if delay_ms <= 0:
        return then()
    return Wait(poll=lambda _event: None, on_timeout=then, deadline=now + delay_ms / 1000)


OK = Done()
MINUS_ONE_LINE = b"\r\n-1\r\n"
"""``-1`` printed as a full line (connection lost/closed)."""
MINUS_ONE = b"\r\n-1"
"""``-1`` printed without line end (no connection, not joined)."""
