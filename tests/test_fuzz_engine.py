"""Fuzzing the engine as a contract.

Host byte streams built from commands, payload commands (``S3``, ``PG``), ``ZR`` and
garbage, pipelined and cut at random points:

* the engine never raises;
* every command line gets exactly one well-formed reply (streams without garbage);
* the engine's and the network's bookkeeping agree: every connection and listener the
  engine holds open is open in the :class:`FakeNetwork`, and nothing else is.

The normal suite runs a few hundred streams per test (a few seconds). The long profile,
``ESWIFI_FUZZ_LONG=1`` (``make fuzz``), runs :data:`LONG_EXAMPLES` streams per test: over
a million in all (``ESWIFI_FUZZ_EXAMPLES=N`` sets the count per test).
``tests/test_fuzz_lifecycle.py`` checks the socket lifecycle against a reference model.
"""

from __future__ import annotations

import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eswifi.emulator.engine import ModuleEngine
from eswifi.testing import EmulatorHarness

LONG = os.environ.get("ESWIFI_FUZZ_LONG") == "1"
LONG_EXAMPLES = int(os.environ.get("ESWIFI_FUZZ_EXAMPLES", "300000"))
"""Streams per fuzz test in the long profile (four tests: 1.2 M streams by default)."""
pytestmark = pytest.mark.timeout(0 if LONG else 60)  # the long profile runs for hours
FUZZ = settings(
    max_examples=LONG_EXAMPLES if LONG else 300,
    deadline=None,
    derandomize=not LONG,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SERVER_PORT = 9000
"""A remote server the module's clients can reach; 9001 refuses."""
JOIN = [b"C1=eswifi-lab", b"C2=eswifi-pass", b"C3=3", b"C0"]
COMMANDS = [
    *JOIN,
    b"I?",
    b"Z5",
    b"P?",
    b"C?",
    b"CS",
    b"R?",
    b"S?",
    b"PE",
    b"MT=0",
    b"MT=1",
    b"F0",
    b"D0=localhost",
    b"D0=nowhere.invalid",
    b"CD",
    b"P1=0",
    b"P1=1",
    b"P2=5024",
    b"P2=7000",
    b"P3=127.0.0.1",
    b"P4=9000",
    b"P4=9001",
    b"P5=0",
    b"P5=1",
    b"P5=11",
    b"P5=10",
    b"P6=0",
    b"P6=1",
    b"R0",
    b"R4",
    b"R1=8",
    b"R2=1",
    b"S2=10",
    b"P2=abc",
    b"XY",
    b"",
    b"P2=" + b"1" * 400,
    b"P2=" + b",".join([b"1"] * 20),
]

command = st.sampled_from(COMMANDS).map(lambda line: line + b"\r")
select = st.integers(0, 3).map(lambda n: b"P0=%d\r" % n)
payload = st.binary(max_size=40)
send = payload.map(lambda data: b"S3=%d\r" % len(data) + data)
upload = st.tuples(st.integers(0, 2), st.integers(0, 2), payload).map(
    lambda t: b"PG=%d,%d,%d\r" % (t[0], t[1], len(t[2])) + t[2]
)
reset = st.just(b"ZR\r")
well_formed_token = st.one_of(command, command, select, send, upload, reset)
garbage = st.binary(min_size=1, max_size=30)


def stream_of(token: st.SearchStrategy[bytes]) -> st.SearchStrategy[list[bytes]]:
    return st.lists(token, max_size=25)


REPLY = re.compile(
    rb"\r\n> "
    rb"|\r\nReset\r\n> "
    rb"|\r\n(?:[^\r\n]*\r\n)*?(?:OK|ERROR(?:: [^\r\n]*)?(?:\r\nUsage: [^\r\n]*)?)\r\n> "
)
"""One complete reply on the UART build: the prompt alone (empty line); ZR's ``Reset``
followed by the boot prompt; printed lines, then OK or ERROR (with MT=0's message and
Usage line) and the prompt."""


def harness() -> EmulatorHarness:
    module = EmulatorHarness(ModuleEngine())
    module.network.serve("127.0.0.1", SERVER_PORT)
    return module


def feed(module: EmulatorHarness, data: bytes, cuts: list[int]) -> bytes:
    """Send ``data`` cut at ``cuts``, then let every timer run out; all the output."""
    out = b"".join(module.send(chunk) for chunk in chunks(data, cuts))
    return out + module.advance(40)


def chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the positions ``cuts`` (taken modulo its length)."""
    ends = [*sorted({c % (len(data) + 1) for c in cuts}), len(data)]
    return [data[start:end] for start, end in zip([0, *ends[:-1]], ends, strict=True)]


def check_bookkeeping(module: EmulatorHarness) -> None:
    engine_conns, engine_listeners = module.engine.open_ids
    lost = {
        slot.connection.conn
        for slot in module.engine.sockets
        if slot.connection is not None and slot.connection.lost
    }
    network_conns, network_listeners = module.network.open_ids
    assert network_conns == engine_conns - lost
    assert network_listeners == engine_listeners


def until_reset(tokens: list[bytes]) -> int:
    """How many tokens the module reads: those up to and including the first ZR (what
    follows in the same stream arrives while it reboots and is dropped)."""
    return tokens.index(b"ZR\r") + 1 if b"ZR\r" in tokens else len(tokens)


@FUZZ
@given(tokens=stream_of(well_formed_token), cuts=st.lists(st.integers(0, 10_000), max_size=8))
def test_every_command_line_gets_exactly_one_well_formed_reply(
    tokens: list[bytes], cuts: list[int]
) -> None:
    module = harness()
    while tokens:
        # The whole rest is sent at once; after a ZR the host sends what was lost again.
        replies = replies_in(feed(module, b"".join(tokens), cuts))
        read = until_reset(tokens)
        assert len(replies) == read, (tokens[:read], replies)
        check_bookkeeping(module)
        tokens = tokens[read:]


def replies_in(out: bytes) -> list[bytes]:
    """Split output into well-formed replies (fails on anything else)."""
    replies = []
    position = 0
    while position < len(out):
        match = REPLY.match(out, position)
        assert match is not None, f"malformed output at {position}: {out[position:]!r}"
        replies.append(match.group())
        position = match.end()
    return replies


@FUZZ
@given(
    left=stream_of(st.one_of(command, select, send, upload)),
    cut=st.integers(0, 10_000),
    tokens=stream_of(well_formed_token),
)
def test_a_new_host_gets_replies_to_its_own_commands_only(
    left: list[bytes], cut: int, tokens: list[bytes]
) -> None:
    """The previous host left mid-command (a payload half sent, a reply being waited for)."""
    module = harness()
    sent = b"".join(left)
    module.send(sent[: cut % (len(sent) + 1)])
    module.attach()
    while tokens:
        replies = replies_in(feed(module, b"".join(tokens), []))
        read = until_reset(tokens)
        assert len(replies) == read, (tokens[:read], replies)
        check_bookkeeping(module)
        tokens = tokens[read:]


ATTACH = b""
"""In a stream: a new host attaches here (the previous one left what it sent so far)."""


@FUZZ
@given(
    tokens=stream_of(st.one_of(well_formed_token, garbage, st.just(ATTACH))),
    cuts=st.lists(st.integers(0, 10_000), max_size=8),
)
def test_any_stream_never_raises_and_the_module_still_answers(
    tokens: list[bytes], cuts: list[int]
) -> None:
    module = harness()
    hosts: list[list[bytes]] = [[]]
    for token in tokens:
        if token == ATTACH:
            hosts.append([])
        else:
            hosts[-1].append(token)
    for index, host in enumerate(hosts):
        if index:
            module.attach()
        for chunk in chunks(b"".join(host), cuts):
            module.send(chunk)
        check_bookkeeping(module)
    module.advance(40)
    check_bookkeeping(module)
    module.advance(1)  # a reboot started by the last bytes is over
    module.send(b"\r")  # ends a line left half-typed
    assert module.send(b"Z5\r") == b"\r\nC4:7F:51:01:12:31\r\nOK\r\n> "
    check_bookkeeping(module)


@FUZZ
@given(
    tokens=stream_of(well_formed_token),
    cuts=st.lists(st.integers(0, 10_000), max_size=8),
    peers=st.lists(st.tuples(st.integers(0, 3), st.binary(max_size=20)), max_size=4),
)
def test_bookkeeping_holds_with_peers_coming_and_going(
    tokens: list[bytes], cuts: list[int], peers: list[tuple[int, bytes]]
) -> None:
    module = harness()
    while tokens:
        feed(module, b"".join(tokens), cuts)
        tokens = tokens[until_reset(tokens) :]
        for index, data in peers:
            port = (5024, 7000)[index % 2]
            try:
                peer = module.network.connect(
                    "127.0.0.1", port, source=("127.0.0.1", 41000 + index)
                )
            except ConnectionRefusedError:
                continue
            if data:
                peer.send(data)
            if index >= 2:
                peer.close()
            module.pump()
            check_bookkeeping(module)
        module.advance(40)
        check_bookkeeping(module)
