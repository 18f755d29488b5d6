"""The reply splitter and the channel's resync against an adversarial module.

A scripted module answers each command; its replies carry data full of prompts, OK/ERROR
lines, async messages and marker look-alikes, arrive cut at random points, and some are
broken on purpose (garbage before them, cut short, late, a wrong byte count, a stray
extra reply after them). Whatever
happens, a command never receives another command's reply: it gets its own, or a clear
error, and the commands after a broken one get their own replies again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eswifi.client.link import CommandChannel
from eswifi.client.protocol import ClientProtocol
from eswifi.errors import LinkTimeout, LocalProtocolError, RemoteProtocolError
from eswifi.wire.replies import Reply

OK_END = b"\r\nOK\r\n> "
ACCEPTED = b"\r\n[TCP SVR] Accepted 10.0.0.7:5024\r\n> "
TRICKY = [
    b"\r\n> ",
    OK_END,
    b"\r\nERROR\r\n> ",
    b"\r\n-1\r\nERROR\r\n> ",
    ACCEPTED,
    b"\r\n1460,200,0\r\nOK\r\n> ",
    b"\r\n0005hello\r\nOK\r\n> ",
    b"\x15",
]
FAULTS = [
    None,
    None,
    None,
    "async_before",
    "async_after",
    "stray",
    "garbage",
    "cut",
    "late",
    "count",
]
"""What may happen to one reply (None: delivered as is; "stray": an extra reply follows it,
already there when the next command is about to be sent)."""
BREAKING = {"garbage", "cut", "late", "count"}


@dataclass
class Step:
    read: bool
    """R4 with binary data, else a text query."""
    data: bytes
    fault: str | None


class AdversarialModule:
    """A :class:`~eswifi.client.link.Link` to a module that misbehaves on purpose.

    The client's commands are answered in order; ``plan`` says what the command of each
    step gets (markers are answered as the module would). Output is delivered in pieces
    of the ``sizes`` given, in turn. Time is virtual: a read that finds nothing moves the
    clock by its timeout.
    """

    def __init__(self, plan: list[Step], sizes: list[int]) -> None:
        self.plan = list(plan)
        self.sizes = sizes
        self.turn = 0
        self.out = bytearray()
        self.held = b""
        self.now = 0.0
        self.registers = {b"R1": b"1460", b"R2": b"1000"}
        self.step = 0
        """The step the client is at (set by the test before each command)."""
        self.expected: dict[int, bytes] = {}

    def write(self, data: bytes) -> None:
        # A reply held back ("late") arrives once the client has moved on.
        self.out += self.held
        self.held = b""
        for line in data.split(b"\r")[:-1]:
            self._answer(line)

    def _answer(self, line: bytes) -> None:
        code, _, value = line.partition(b"=")
        if code in self.registers and value:
            self.registers[code] = value
            self.out += b"\r\n" + OK_END
            return
        if line == b"R?":
            r1, r2 = self.registers[b"R1"], self.registers[b"R2"]
            self.out += b"\r\n" + r1 + b"," + r2 + b",0" + OK_END
            return
        step = self.plan[self.step]
        tag = b"#%d#" % self.step
        if step.read:
            body = tag + step.data
            count = len(body) + (3 if step.fault == "count" else 0)
            reply = b"\r\n%04d" % count + body + OK_END
        else:
            # A text reply never holds a prompt or a line break: keep printable bytes.
            body = tag + re.sub(rb"[^\x20-\x7e]|> ", b"", step.data)
            reply = b"\r\n" + body + OK_END
        assert self.step not in self.expected, "one command per step"
        self.expected[self.step] = body
        if step.fault == "async_before":
            reply = ACCEPTED + reply
        elif step.fault == "async_after":
            reply += ACCEPTED
        elif step.fault == "stray":
            reply += b"\r\n#stray#" + OK_END
        elif step.fault == "garbage":
            reply = b"garbage" + step.data[:8] + reply
        elif step.fault == "cut":
            reply = reply[: max(1, len(reply) // 2)]
        elif step.fault == "late":
            self.held, reply = reply, b""
        self.out += reply

    def read(self, timeout: float) -> bytes:
        if not self.out:
            self.now += max(timeout, 0.0)
            return b""
        size = self.sizes[self.turn % len(self.sizes)]
        self.turn += 1
        data = bytes(self.out[:size])
        del self.out[:size]
        return data

    def monotonic(self) -> float:
        return self.now

    def discard_input(self) -> None:
        self.out.clear()

    def close(self) -> None:
        pass


payloads = st.lists(st.one_of(st.sampled_from(TRICKY), st.binary(max_size=24)), max_size=8).map(
    b"".join
)
steps = st.builds(Step, read=st.booleans(), data=payloads, fault=st.sampled_from(FAULTS))


@settings(max_examples=300, deadline=None)
@given(
    plan=st.lists(steps, min_size=1, max_size=12), sizes=st.lists(st.integers(1, 40), min_size=1)
)
def test_a_command_never_receives_another_commands_reply(plan: list[Step], sizes: list[int]):
    plan = [
        *plan,
        Step(read=False, data=b"", fault=None),
        Step(read=False, data=b"last", fault=None),
    ]
    module = AdversarialModule(plan, sizes)
    channel = CommandChannel(module, timeout=1.0)
    for index, step in enumerate(plan):
        module.step = index
        try:
            code = "R4" if step.read else "CS"
            reply = channel.transact(code, read_limit=1460)
        except (RemoteProtocolError, LinkTimeout):
            # A stray reply is found before the next command, which is then not sent.
            after_stray = index > 0 and plan[index - 1].fault == "stray"
            assert step.fault in BREAKING or after_stray, f"step {index} ({step.fault}) failed"
            continue
        assert isinstance(reply, Reply)
        assert reply.ok and reply.body == module.expected[index], f"step {index}"
    # The steps after a broken one get their own replies again (the last two are clean).
    assert reply.body == b"#%d#last" % (len(plan) - 1)


@given(data=payloads, sizes=st.lists(st.integers(1, 16), min_size=1, max_size=20))
def test_counted_read_any_data_any_split(data: bytes, sizes: list[int]) -> None:
    raw = b"\r\n%04d" % len(data) + data + OK_END + ACCEPTED
    proto = ClientProtocol()
    proto.send_command("R4")
    got = []
    position = 0
    turn = 0
    while position < len(raw):
        size = sizes[turn % len(sizes)]
        turn += 1
        proto.receive_data(raw[position : position + size])
        position += size
        while (event := proto.next_event()) is not None:
            got.append(event)
    assert len(got) == 2
    assert got[0].body == data and got[0].raw == raw[: -len(ACCEPTED)]
    assert got[1].accepted == ("10.0.0.7", 5024)


# ---------------------------------------------------------------------- R4 replies


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"\r\n0002hello" + OK_END, "not followed by OK"),
        (b"\r\n1461" + bytes(1461) + OK_END, "announces 1461 bytes"),
        (b"\r\nhello" + OK_END, "without a count"),
        (b"hello" + OK_END, "does not start with CR LF"),
    ],
)
def test_malformed_counted_reply_is_an_error(raw: bytes, why: str) -> None:
    proto = ClientProtocol()
    proto.send_command("R4")
    proto.receive_data(raw)
    with pytest.raises(RemoteProtocolError, match=why):
        proto.next_event()


@pytest.mark.parametrize(
    "raw",
    [
        b"\r\n-1\r\nERROR\r\n> ",
        b"\r\n-1\r\n\r\nERROR\r\n> ",
        b"\r\n\r\nERROR: Unknown Command\r\n> ",
    ],
)
def test_counted_read_error_replies(raw: bytes) -> None:
    proto = ClientProtocol()
    proto.send_command("R4")
    proto.receive_data(raw)
    reply = proto.next_event()
    assert isinstance(reply, Reply) and not reply.ok and reply.raw == raw


def test_counted_read_timeout_is_an_empty_read() -> None:
    proto = ClientProtocol()
    proto.send_command("R4")
    proto.receive_data(b"\r\n0000" + OK_END)
    reply = proto.next_event()
    assert isinstance(reply, Reply) and reply.ok and reply.body == b""


# ---------------------------------------------------------------------- resync


def test_resync_drops_everything_up_to_the_marker_reply() -> None:
    proto = ClientProtocol(spi=True)
    proto.send_command("CS")
    marker = proto.start_resync(77, 123)
    assert marker == b"R1=77\rR2=123\r\nR?\r\n"  # each command padded to even on SPI
    assert proto.in_flight is None and proto.resyncing
    with pytest.raises(LocalProtocolError, match="resynchronised"):
        proto.send_command("CS")
    stale = b"\r\n1\r\nOK\r\n> garbage \r\n77,1230,0\r\nOK\r\n> " + bytes(range(256)) * 40
    proto.receive_data(stale)
    assert proto.next_event() is None and proto.buffered <= 32  # bounded while searching
    proto.receive_data(b"\r\n\r\nOK\r\n> \x15\x15\r\n77,123,0\r\nOK\r\n> " + ACCEPTED)
    event = proto.next_event()
    assert not proto.resyncing and event is not None and event.accepted is not None
    proto.send_command("CS")
    proto.receive_data(b"\r\n1\r\nOK\r\n> ")
    assert proto.next_event().value == "1"


def test_resync_values_are_checked() -> None:
    with pytest.raises(LocalProtocolError):
        ClientProtocol().start_resync(0, 10)
    with pytest.raises(LocalProtocolError):
        ClientProtocol().start_resync(10, 30_001)
