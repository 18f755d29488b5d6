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
    ! firmware C3.5.2.5.STM           (first step only) the firmware profile, e.g. SPI
    ! attach                          the host attaches (the SPI build greets)
    ! serve srv 10.0.0.2:80           a remote server; "srv" then names the connection the
                                      module opened to it last
    ! udp u 10.0.0.3:53               a remote UDP socket
    ! sendto u 127.0.0.1:53 Hello     it sends one datagram
    ! expect u Ping                   the next datagram it received (from any source)

Action words are split like a shell line: quote data that holds escapes ('a\r\n').

Replay runs the steps through :class:`eswifi.testing.EmulatorHarness`; after every action
the module's output must equal the ``<`` lines that follow it, byte for byte.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from eswifi.emulator.backends.fake import FakeDatagramPeer, FakePeer, FakeServer
from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.profile import PROFILES
from eswifi.testing.harness import EmulatorHarness
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
    if harness is None:
        first = steps[0].words if steps and steps[0].kind == "!" else ()
        engine = ModuleEngine(profile=PROFILES[first[1]]) if first[:1] == ("firmware",) else None
        harness = EmulatorHarness(engine)
    bench = harness
    peers: dict[str, FakePeer] = {}
    servers: dict[str, FakeServer] = {}
    datagram_peers: dict[str, FakeDatagramPeer] = {}
    seen: dict[int, int] = {}

    def peer(name: str) -> FakePeer:
        if name in servers:
            return servers[name].peers[-1]
        return peers[name]

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
        elif verb == "send":
            peer(rest[0]).send(unescape(" ".join(rest[1:])))
        elif verb == "close":
            peer(rest[0]).close()
        elif verb == "expect" and rest[0] in datagram_peers:
            received = datagram_peers[rest[0]].received
            got = received.popleft()[0] if received else None
            want = unescape(" ".join(rest[1:]))
            if got != want:
                raise TranscriptMismatch(f"line {step.line}: peer got {got!r}, expected {want!r}")
        elif verb == "expect":
            remote = peer(rest[0])
            got = bytes(remote.received[seen.get(id(remote), 0) :])
            seen[id(remote)] = len(remote.received)
            want = unescape(" ".join(rest[1:]))
            if got != want:
                raise TranscriptMismatch(f"line {step.line}: peer got {got!r}, expected {want!r}")
        elif verb == "serve":
            host, port = rest[1].rsplit(":", 1)
            servers[rest[0]] = bench.network.serve(host, int(port))
        elif verb == "udp":
            host, port = rest[1].rsplit(":", 1)
            datagram_peers[rest[0]] = bench.network.udp_peer(host, int(port))
        elif verb == "sendto":
            host, port = rest[1].rsplit(":", 1)
            datagram_peers[rest[0]].sendto(unescape(" ".join(rest[2:])), host, int(port))
        elif verb == "attach":
            output += bench.attach()
            continue
        elif verb == "firmware":
            if step is not steps[0]:
                raise ValueError(f"line {step.line}: 'firmware' must be the first step")
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
