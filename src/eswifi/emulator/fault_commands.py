"""The ``fault …`` commands of the control channel (``faults …`` is the same word).

One line in, one line out (``ok …`` / ``error: …``), as every control command::

    fault                              the seed and every fault's setting
    fault seed <n>                     restart the random choices from seed n
    fault clear                        switch every network, DNS and link fault off
    fault reset                        every open TCP connection breaks now (peer RST)
    fault reset after <n>[-<m>]        each TCP connection breaks after n (n..m) received bytes
    fault reset off
    fault connect refuse [<p>%]        connects fail at once (connection refused)
    fault connect hang [<p>%]          connects never complete (the module's timeout answers)
    fault connect delay <ms>[-<ms>] [<p>%]  the peer accepts late
    fault connect off
    fault dns fail [<p>%]              name lookups fail (D0's "Host not found")
    fault dns off
    fault fragment <bytes> [<ms>]      output to the host in chunks of 1..bytes, 0..ms apart
    fault fragment off
    fault hang                         the module stops answering until ZR or a reset

Pure like :mod:`eswifi.emulator.control`: works on an engine and a ``now``.
"""

from __future__ import annotations

import re

from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.faults import ConnectFault
from eswifi.errors import ConfigError

FAULT_HELP = (
    "fault [seed <n> | clear | reset [after <n>[-<m>] | off] | connect refuse|hang|off [<p>%]"
    " | connect delay <ms>[-<ms>] [<p>%] | dns fail [<p>%] | dns off"
    " | fragment <bytes> [<ms>] | fragment off | hang]"
)
_SPAN = re.compile(r"^(\d{1,9})(?:-(\d{1,9}))?$")
_PERCENT = re.compile(r"^(\d{1,3})%$")


def run_fault_command(engine: ModuleEngine, words: list[str], *, now: float) -> str:
    """Carry out one ``fault`` command (the words after ``fault``); return its answer."""
    faults = engine.faults
    words = [word.lower() for word in words]
    match words:
        case [] | ["list"] | ["status"]:
            pass
        case ["seed", number] if number.isdigit() and len(number) <= 18:
            faults.reseed(int(number))
        case ["clear"]:
            faults.clear()
        case ["reset"]:
            routed = faults.reset_all()
            for effect in routed.effects:
                engine.emit(effect)
            for event in routed.events:
                engine.receive_net(event, now=now)
            return f"ok {len(routed.effects)} connections reset"
        case ["reset", "off"]:
            faults.disarm_reset()
        case ["reset", "after", span] if (bounds := _span(span)) is not None:
            faults.arm_reset(*bounds)
        case ["connect", "off"]:
            faults.connect = ConnectFault.OFF
        case ["connect", ("refuse" | "hang") as mode, *rest] if (p := _percent(rest)) is not None:
            faults.connect, faults.connect_percent = ConnectFault(mode), p
        case ["connect", "delay", span, *rest] if (bounds := _span(span)) and (
            p := _percent(rest)
        ) is not None:
            faults.connect, faults.connect_percent = ConnectFault.DELAY, p
            faults.connect_delay_ms = bounds
        case ["dns", "off"]:
            faults.dns_percent = 0
        case ["dns", "fail", *rest] if (p := _percent(rest)) is not None and p > 0:
            faults.dns_percent = p
        case ["fragment", "off"]:
            faults.fragment_max = faults.fragment_delay_ms = 0
        case ["fragment", size, *delay] if _number(size, 1, 65536) and (
            not delay or (len(delay) == 1 and _number(delay[0], 0, 10_000))
        ):
            faults.fragment_max = int(size)
            faults.fragment_delay_ms = int(delay[0]) if delay else 0
        case ["hang"]:
            engine.hang(now=now)
            return "ok module hung until reset"
        case _:
            return "error: usage: " + FAULT_HELP
    return "ok " + faults.describe() + (" hung" if engine.hung else "")


def _span(text: str) -> tuple[int, int] | None:
    match = _SPAN.match(text)
    if match is None:
        return None
    low = int(match[1])
    high = int(match[2]) if match[2] is not None else low
    return (low, high) if high >= low else None


def _percent(rest: list[str]) -> int | None:
    if not rest:
        return 100
    match = _PERCENT.match(rest[0]) if len(rest) == 1 else None
    if match is None or int(match[1]) > 100:
        return None
    return int(match[1])


def _number(text: str, low: int, high: int) -> bool:
    return text.isdigit() and len(text) <= 6 and low <= int(text) <= high


class FaultControls:
    """The fault commands as Python methods, for anything that can run a control line.

    Subclasses provide :meth:`control` (``EmulatorHarness`` runs the line in-process,
    ``EmulatorProcess`` sends it to ``--control``). Each method returns the ``ok …``
    answer and raises :class:`~eswifi.errors.ConfigError` on an ``error: …`` answer.
    """

    def control(self, line: str) -> str:
        """Run one control command; return its one-line answer."""
        raise NotImplementedError

    def _checked(self, line: str) -> str:
        answer = self.control(line)
        if not answer.startswith("ok"):
            raise ConfigError(f"{line!r}: {answer}")
        return answer

    def fault_seed(self, seed: int) -> str:
        """Restart every random fault choice from ``seed``."""
        return self._checked(f"fault seed {seed}")

    def clear_faults(self) -> str:
        """Switch every network, DNS and link fault off."""
        return self._checked("fault clear")

    def reset_connections(self) -> int:
        """Break every open TCP connection now (peer RST); return how many broke."""
        return int(self._checked("fault reset").split()[1])

    def reset_after(self, low: int, high: int | None = None) -> str:
        """Break each TCP connection after ``low`` (or a seeded ``low..high``) received bytes."""
        return self._checked(f"fault reset after {_format_span(low, high)}")

    def refuse_connects(self, percent: int = 100) -> str:
        """Make that share of TCP connects fail at once (connection refused)."""
        return self._checked(f"fault connect refuse {percent}%")

    def hang_connects(self, percent: int = 100) -> str:
        """Make that share of TCP connects never complete (a peer that never accepts)."""
        return self._checked(f"fault connect hang {percent}%")

    def delay_connects(self, low_ms: int, high_ms: int | None = None, percent: int = 100) -> str:
        """Make that share of TCP connects complete late (a slowly accepting peer)."""
        return self._checked(f"fault connect delay {_format_span(low_ms, high_ms)} {percent}%")

    def fail_dns(self, percent: int = 100) -> str:
        """Make that share of name lookups fail."""
        return self._checked(f"fault dns fail {percent}%")

    def fragment_output(self, max_bytes: int, max_delay_ms: int = 0) -> str:
        """Send the host's output in seeded chunks of 1..max_bytes, 0..max_delay_ms apart."""
        return self._checked(f"fault fragment {max_bytes} {max_delay_ms}")

    def hang(self) -> str:
        """Stop the module answering until ``ZR`` or a reset."""
        return self._checked("fault hang")

    def vanish(self, ssid: str) -> str:
        """The access point goes out of range (Link Down if joined to it)."""
        return self._checked(f"vanish {ssid}")

    def appear(self, ssid: str) -> str:
        """The access point is back (Link Up if the module was joined to it)."""
        return self._checked(f"appear {ssid}")


def _format_span(low: int, high: int | None) -> str:
    return str(low) if high is None else f"{low}-{high}"
