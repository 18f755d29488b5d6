"""The socket lifecycle against a small reference model (a hypothesis state machine).

The model knows, per module socket, whether it runs a TCP server (on which port, with an
accepted client or not) or a client connection, and which bytes its peer sent that the
module has not read yet. Each rule drives the engine through host commands and fake
peers and checks the reply; after every step the engine, the network and the model agree
on which sockets are open. ``ESWIFI_FUZZ_LONG=1`` runs many more, longer programs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from eswifi.emulator.backends.fake import FakePeer
from eswifi.testing import EmulatorHarness

LONG = os.environ.get("ESWIFI_FUZZ_LONG") == "1"
pytestmark = pytest.mark.timeout(0 if LONG else 60)  # the long profile runs for hours
OK = b"\r\n\r\nOK\r\n> "
MINUS_ONE = b"\r\n-1\r\nERROR\r\n> "
SERVER = 9000
"""The remote server module clients connect to; :data:`REFUSING` has none."""
REFUSING = 9001
PORTS = (7001, 7002, 7003)
JOIN = b"C1=eswifi-lab\rC2=eswifi-pass\rC3=3\rC0\r"

sockets = st.integers(0, 3)
chunks = st.binary(min_size=1, max_size=24)


@dataclass
class Slot:
    """What the model expects of one module socket."""

    server: int | None = None
    """The port its TCP server listens on."""
    peer: FakePeer | None = None
    """The other end of its connection (accepted or opened as a client)."""
    client: bool = False
    pending: bytearray = field(default_factory=bytearray)
    """Bytes the peer sent that the module has not returned with R0 yet."""


class SocketLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.module = EmulatorHarness()
        self.remote = self.module.network.serve("127.0.0.1", SERVER)
        self.slots = [Slot() for _ in range(4)]
        self.joined = False
        self.next_source = 40000

    def command(self, index: int, line: bytes) -> bytes:
        assert self.module.send(b"P0=%d\r" % index) == OK
        return self.module.send(line)

    # ---------------------------------------------------------------- rules

    @rule()
    def join(self) -> None:
        reply = self.module.send(JOIN)
        if self.joined:
            assert reply.endswith(b"ERROR\r\n> ")  # already connected
        else:
            assert reply.endswith(b"[JOIN   ] eswifi-lab,127.0.0.1,0,0\r\nOK\r\n> ")
        self.joined = True

    @rule(index=sockets, port=st.sampled_from(PORTS))
    def start_server(self, index: int, port: int) -> None:
        slot = self.slots[index]
        self.command(index, b"P1=0\r")
        reply = self.command(index, b"P2=%d\rP5=1\r" % port)
        taken = any(s.server == port for s in self.slots)
        if not self.joined or slot.server is not None or slot.peer is not None or taken:
            assert reply.endswith(b"ERROR\r\n> "), reply
            return
        assert reply.endswith(b"[TCP SVR] Waiting on connection ...\r\n\r\nOK\r\n> "), reply
        slot.server = port

    @rule(index=sockets)
    def stop_server(self, index: int) -> None:
        slot = self.slots[index]
        reply = self.command(index, b"P5=0\r")
        assert reply == b"\r\n[TCP TSK] Killed\r\n\r\nOK\r\n> "
        if slot.peer is not None:  # a client connection is closed too
            assert slot.peer.closed_by_module
        self.slots[index] = Slot()

    @rule(index=sockets, refused=st.booleans())
    def connect(self, index: int, refused: bool) -> None:
        slot = self.slots[index]
        self.command(index, b"P1=0\rP3=127.0.0.1\r")
        reply = self.command(index, b"P4=%d\rP6=1\r" % (REFUSING if refused else SERVER))
        if not self.joined:
            assert reply.endswith(b"ERROR\r\n> ")
        elif slot.server is not None or slot.peer is not None:
            assert reply.endswith(b"Already Connected\r\nERROR\r\n> "), reply
        elif refused:
            assert reply.endswith(b"[TCP  RC] Failed to connect\r\nERROR\r\n> "), reply
        else:
            assert reply.endswith(b"[TCP  RC] Connecting to 127.0.0.1\r\nOK\r\n> "), reply
            slot.peer, slot.client = self.remote.peers[-1], True

    @rule(index=sockets)
    def close_client(self, index: int) -> None:
        slot = self.slots[index]
        assert self.command(index, b"P6=0\r") == OK
        if slot.client:
            assert slot.peer is not None and slot.peer.closed_by_module
            slot.peer, slot.client, slot.pending = None, False, bytearray()

    @precondition(lambda self: any(s.server and s.peer is None for s in self.slots))
    @rule(data=st.data())
    def peer_connects(self, data: st.DataObject) -> None:
        waiting = [i for i, s in enumerate(self.slots) if s.server and s.peer is None]
        index = data.draw(st.sampled_from(waiting))
        slot = self.slots[index]
        assert slot.server is not None
        self.next_source += 1
        source = ("127.0.0.1", self.next_source)
        slot.peer = self.module.network.connect("127.0.0.1", slot.server, source=source)
        message = self.module.output()
        assert message == b"\r\n[TCP SVR] Accepted 127.0.0.1:%d\r\n> " % slot.server

    @precondition(lambda self: any(s.peer is not None for s in self.slots))
    @rule(data=st.data(), chunk=chunks)
    def peer_sends(self, data: st.DataObject, chunk: bytes) -> None:
        index = data.draw(st.sampled_from([i for i, s in enumerate(self.slots) if s.peer]))
        slot = self.slots[index]
        assert slot.peer is not None
        slot.peer.send(chunk)
        self.module.pump()
        slot.pending += chunk

    @rule(index=sockets)
    def read(self, index: int) -> None:
        slot = self.slots[index]
        assert self.command(index, b"R1=1460\r") == OK
        reply = self.command(index, b"R2=1\rR0\r")
        if slot.peer is None:
            assert reply.endswith(MINUS_ONE), reply
        elif slot.pending:
            assert reply == OK + b"\r\n" + bytes(slot.pending) + b"\r\nOK\r\n> "
            slot.pending.clear()
        else:
            assert reply == OK  # R2=1 passed with nothing to read
            assert self.module.advance(0.01) == b"\r\n\r\nOK\r\n> "

    @rule(index=sockets, chunk=chunks)
    def send(self, index: int, chunk: bytes) -> None:
        slot = self.slots[index]
        reply = self.command(index, b"S3=%d\r" % len(chunk) + chunk)
        if slot.peer is None:
            assert reply.endswith(b"-1\r\nERROR\r\n> ") or reply.endswith(b"-1\r\n\r\nERROR\r\n> ")
            return
        assert reply == b"\r\n%d\r\nOK\r\n> " % len(chunk)
        assert bytes(slot.peer.received).endswith(chunk)

    @rule()
    def reset(self) -> None:
        assert self.module.send(b"ZR\r") == b"\r\nReset"
        assert self.module.advance(2) == b"\r\n> "
        for slot in self.slots:
            if slot.peer is not None:
                assert slot.peer.closed_by_module
        self.slots = [Slot() for _ in range(4)]
        self.joined = False

    # ---------------------------------------------------------------- invariants

    @invariant()
    def engine_network_and_model_agree(self) -> None:
        engine, network = self.module.engine, self.module.network
        assert network.open_ids == engine.open_ids
        assert network.listening_ports() == sorted(s.server for s in self.slots if s.server)
        for slot, model in zip(engine.sockets, self.slots, strict=True):
            assert (slot.server is not None) == (model.server is not None)
            assert (slot.connection is not None) == (model.peer is not None)


SocketLifecycle.TestCase.settings = settings(
    max_examples=20_000 if LONG else 60,
    stateful_step_count=50 if LONG else 25,
    deadline=None,
    derandomize=not LONG,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSocketLifecycle = SocketLifecycle.TestCase
