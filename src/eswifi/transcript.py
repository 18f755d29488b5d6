"""Golden transcripts: host bytes, module bytes and remote-peer actions, replayed in memory.

A transcript is a text file, one step a line (bytes written with
:func:`eswifi.wire.framing.escape`; blank lines and ``#`` comments are skipped)::

    > P5=11\\r                         the host sends these bytes
    < \\r\\n[TCP TSK] Multi-...>\\x20   consecutive "<" lines: the module's exact output
    ! connect a 127.0.0.1:5024 from 192.168.10.100:34489
    ! send a Data from 192.168.10.100  a remote peer sends bytes to the module
    ! expect a 1                      bytes the peer has received since its last expect
    ! close a                         the peer closes in order
    ! advance 5                       the clock moves on (seconds)

Replay runs the steps through :class:`eswifi.testing.EmulatorHarness`; after every action
the module's output must equal the ``<`` lines that follow it, byte for byte.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from eswifi.emulator.backends.fake import FakePeer
from eswifi.testing import EmulatorHarness
from eswifi.wire.framing import unescape


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One line of a transcript."""

    line: int
    kind: str
    """``>`` host bytes, ``<`` module bytes, ``!`` peer or clock action."""
    data: bytes = b""
    words: tuple[str, ...] = ()


class TranscriptMismatch(AssertionError):
    """The module's output differed from the transcript."""


def parse(text: str) -> list[Step]:
    """Parse transcript text into steps."""
    steps = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        kind, body = raw[:1], raw[2:]
        if kind in "<>":
            steps.append(Step(line=number, kind=kind, data=unescape(body)))
        elif kind == "!":
            words = shlex.split(body)
            steps.append(Step(line=number, kind=kind, words=tuple(words)))
        else:
            raise ValueError(f"line {number}: a step starts with '>', '<' or '!'")
    return steps


def replay(
    steps: list[Step],
    harness: EmulatorHarness | None = None,
    *,
    split: Callable[[bytes], list[bytes]] | None = None,
) -> EmulatorHarness:
    """Run the steps; raise :class:`TranscriptMismatch` at the first difference.

    ``split`` cuts each host write into chunks fed one after the other (the output must
    not depend on how the host's bytes are chunked).
    """
    bench = harness if harness is not None else EmulatorHarness()
    peers: dict[str, FakePeer] = {}
    seen: dict[str, int] = {}
    output = bytearray()
    expected = bytearray()
    last_action = 0

    def check() -> None:
        if bytes(output) != bytes(expected):
            raise TranscriptMismatch(
                f"after the step on line {last_action}:\n"
                f"  expected {bytes(expected)!r}\n  got      {bytes(output)!r}"
            )
        output.clear()
        expected.clear()

    for step in steps:
        if step.kind == "<":
            expected += step.data
            continue
        check()
        last_action = step.line
        if step.kind == ">":
            for chunk in split(step.data) if split else [step.data]:
                output += bench.send(chunk)
            continue
        verb, *rest = step.words
        if verb == "connect":
            name, target, _from, source = rest
            host, port = target.rsplit(":", 1)
            src_host, src_port = source.rsplit(":", 1)
            peers[name] = bench.network.connect(host, int(port), source=(src_host, int(src_port)))
            seen[name] = 0
        elif verb == "send":
            peers[rest[0]].send(unescape(" ".join(rest[1:])))
        elif verb == "close":
            peers[rest[0]].close()
        elif verb == "expect":
            peer = peers[rest[0]]
            got = bytes(peer.received[seen[rest[0]] :])
            seen[rest[0]] = len(peer.received)
            want = unescape(" ".join(rest[1:]))
            if got != want:
                raise TranscriptMismatch(f"line {step.line}: peer got {got!r}, expected {want!r}")
        elif verb == "advance":
            output += bench.advance(float(rest[0]))
            continue
        else:
            raise ValueError(f"line {step.line}: unknown action {verb!r}")
        output += bench.output()
    check()
    return bench


def load(path: str | Path) -> list[Step]:
    """Parse a transcript file."""
    return parse(Path(path).read_text(encoding="utf-8"))
