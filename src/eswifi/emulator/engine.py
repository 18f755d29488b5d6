"""The sans-I/O module engine: a virtual eS-WiFi module with no clock, socket or file.

Theory of operation
-------------------
The engine is fed three kinds of input, each with the current time ``now`` (seconds from
any monotonic clock the caller owns):

* :meth:`ModuleEngine.receive_host` — bytes from the host link;
* :meth:`ModuleEngine.receive_net` — facts from the network backend
  (:mod:`eswifi.emulator.messages`);
* :meth:`ModuleEngine.handle_timer` — called once :meth:`next_deadline` has passed.

It answers through one ordered queue, :meth:`drain_effects`: bytes for the host
(:class:`HostWrite`) interleaved with requests for the network (Listen, Send …). Ordering
is meaningful: a reply is emitted only after the network results it depends on arrived.

Commands run one at a time, as on the module. The command processor is *idle* (reading a
command line), *reading a payload* (the raw bytes after ``S3=<n>``) or *waiting* (a
command whose answer depends on the network or on a timeout). Host bytes that arrive while
it is busy stay buffered in the reader and are processed afterwards; the outer layer keeps
that buffer bounded by not reading the link while :attr:`host_backlog` is large.

Asynchronous messages (``[TCP SVR] Accepted …``) are delivered between replies, never
inside one: pushed on the UART build, queued for ``MR`` on the SPI build.

Bad host input is normal input: it gets the module's error reply. The engine raises only
when the *caller* misuses it (:class:`~eswifi.errors.LocalProtocolError`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from eswifi.emulator import messages as m
from eswifi.emulator.profile import UART_C6, AcceptedPort, FirmwareProfile, LinkProfile
from eswifi.emulator.radio import DEFAULT_RADIO, Radio
from eswifi.emulator.state import (
    DATAGRAM_QUEUE_DEPTH,
    RX_HIGH_WATER,
    RX_LOW_WATER,
    SOCKET_COUNT,
    Connection,
    ConnectionKind,
    Credentials,
    Datagram,
    MessageQueue,
    ServerMode,
    ServerState,
    SocketSlot,
    WifiState,
)
from eswifi.errors import LocalProtocolError
from eswifi.wire import framing
from eswifi.wire.commands import COMMANDS, MAX_ARGUMENT_TOKENS, CommandLine, split_command_line
from eswifi.wire.framing import ErrorCode
from eswifi.wire.reader import CommandReader, ControlByte, Line, LineTooLong, PayloadChunk

# --------------------------------------------------------------------------- outcomes


@dataclass(frozen=True, slots=True, kw_only=True)
class Done:
    """A finished command: what it printed and how it ended."""

    text: bytes = b""
    """Printed output, each line introduced by ``\\r\\n`` as the firmware prints it."""
    ok: bool = True
    error: ErrorCode = ErrorCode.UNKNOWN_ERROR
    raw: bool = False
    """``text`` is the complete reply: no OK/ERROR terminator follows (ZR, P7=0 …)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Wait:
    """A command that finishes later, on a network event or at its deadline."""

    poll: Callable[[m.NetEvent | None], Done | None]
    """Called at once with None, then with every network event (after the engine applied
    it to its state); returns the outcome once there is one."""
    on_timeout: Callable[[], Done]
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


def error(code: ErrorCode = ErrorCode.UNKNOWN_ERROR, text: bytes = b"") -> Done:
    """An ERROR outcome."""
    return Done(text=text, ok=False, error=code)


def value(text: str | bytes) -> Done:
    """An OK outcome that printed one value line."""
    data = text.encode("latin-1") if isinstance(text, str) else text
    return Done(text=b"\r\n" + data)


OK = Done()
MINUS_ONE_LINE = b"\r\n-1\r\n"
"""``-1`` printed as a full line (connection lost/closed)."""
MINUS_ONE = b"\r\n-1"
"""``-1`` printed without line end (no connection, not joined)."""


class ModuleEngine:
    """A virtual eS-WiFi module, sans I/O.

    Args:
        profile: the firmware build to behave like.
        radio: the access points in range and the module's identity.
        host_address: the host address module sockets bind to; also the IP the module
            reports once joined.
        handlers: command handlers by wire code (default: every built-in family).
    """

    def __init__(
        self,
        *,
        profile: FirmwareProfile = UART_C6,
        radio: Radio = DEFAULT_RADIO,
        host_address: str = "127.0.0.1",
        handlers: Mapping[str, Handler] | None = None,
    ) -> None:
        if handlers is None:
            from eswifi.emulator.handlers import ALL_HANDLERS

            handlers = ALL_HANDLERS
        self.profile = profile
        self.radio = radio
        self.host_address = host_address
        self.mac = radio.mac
        self.now = 0.0
        self.sockets = [SocketSlot() for _ in range(SOCKET_COUNT)]
        self.current = 0
        self.wifi = WifiState()
        self.message_type = profile.message_type
        self.message_suppression = 0
        self.human_mode = False
        self.mr_queue = MessageQueue(depth=profile.mr_queue_depth)
        self.credentials = Credentials()
        self._handlers = dict(handlers)
        ignored = b"\n\x00\x15" if profile.link is LinkProfile.SPI else b"\n\x00"
        self._reader = CommandReader(ignored=ignored)
        self._effects: list[m.Effect] = []
        self._pending_async: list[bytes] = []
        self._ids = itertools.count(1)
        self._conn_slots: dict[int, int] = {}
        self._listener_slots: dict[int, int] = {}
        # command processor
        self._command: CommandLine | None = None
        self._wait: Wait | None = None
        self._payload: ReadPayload | None = None
        self._payload_data = bytearray()
        self._payload_deadline: float | None = None

    # ------------------------------------------------------------------ public API

    def receive_host(self, data: bytes, *, now: float) -> None:
        """Take bytes from the host link."""
        self.now = now
        self._reader.feed(data)
        self._run()

    def receive_net(self, event: m.NetEvent, *, now: float) -> None:
        """Take a fact from the network backend."""
        self.now = now
        self._apply(event)
        if self._wait is not None:
            done = self._wait.poll(event)
            if done is not None:
                self._finish(done)
        self._run()

    def handle_timer(self, *, now: float) -> None:
        """Run whatever was due at or before ``now``."""
        self.now = now
        if self._payload is not None and _due(self._payload_deadline, now):
            self._end_payload(complete=False)
        if self._wait is not None and _due(self._wait.deadline, now):
            wait, self._wait = self._wait, None
            self._finish(wait.on_timeout())
        self._run()

    def host_attached(self, *, now: float) -> None:
        """A host (re)attached to the link: drop a half-typed line; greet on SPI."""
        self.now = now
        self._reader.discard_line()
        if self.profile.link is LinkProfile.SPI:
            self._effects.append(m.HostWrite(data=framing.SPI_GREETING))

    def drain_effects(self) -> list[m.Effect]:
        """Return and forget everything the engine asked for, in order."""
        effects, self._effects = self._effects, []
        return effects

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` must next be called (None: no timer needed)."""
        deadlines = [d for d in (self._payload_deadline, self._wait and self._wait.deadline) if d]
        return min(deadlines) if deadlines else None

    @property
    def host_backlog(self) -> int:
        """Host bytes received but not processed yet (the caller keeps this bounded)."""
        return self._reader.buffered

    @property
    def busy(self) -> bool:
        """A command is in progress (reading its payload or waiting)."""
        return self._command is not None

    # ------------------------------------------------------------------ for handlers

    @property
    def slot(self) -> SocketSlot:
        """The currently selected socket (P0)."""
        return self.sockets[self.current]

    def emit(self, effect: m.Effect) -> None:
        """Queue a request for the network backend."""
        self._effects.append(effect)

    def new_id(self) -> int:
        """A fresh connection or listener id."""
        return next(self._ids)

    def bind_connection(self, slot_index: int, conn: Connection) -> None:
        """Attach a live connection to a socket."""
        self._conn_slots[conn.conn] = slot_index
        self.sockets[slot_index].connection = conn

    def register_listener(self, slot_index: int, listener: int) -> None:
        self._listener_slots[listener] = slot_index

    def close_connection(self, slot_index: int, *, abort: bool = False) -> None:
        """Close the connection of a socket, if any."""
        slot = self.sockets[slot_index]
        conn = slot.connection
        if conn is None:
            return
        slot.connection = None
        self._conn_slots.pop(conn.conn, None)
        self.emit(m.CloseConnection(conn=conn.conn, abort=abort))

    def stop_server(self, slot_index: int) -> None:
        """Stop a socket's server and close its accepted client."""
        slot = self.sockets[slot_index]
        self.close_connection(slot_index)
        server = slot.server
        if server is None:
            return
        slot.server = None
        self._listener_slots.pop(server.listener, None)
        self.emit(m.StopListening(listener=server.listener))

    def accept_next(self, slot_index: int) -> None:
        """Ask the backend for the next waiting client of the socket's server."""
        server = self.sockets[slot_index].server
        if server is None or server.accepting is not None:
            return
        server.accepting = self.new_id()
        self.emit(m.AcceptNext(listener=server.listener, conn=server.accepting))

    def announce(self, message: bytes, *, tcp_server: bool = False) -> None:
        """Deliver an asynchronous message (between replies, or into the MR queue).

        ``tcp_server``: a server task's message (TCP or UDP), suppressed by ``MS`` bit 1.
        """
        if tcp_server and self.message_suppression & 0b10:
            return
        if self.profile.link is LinkProfile.SPI:
            self.mr_queue.push(message)
        elif self.busy:
            self._pending_async.append(message)
        else:
            self._effects.append(m.HostWrite(data=framing.uart_async(message)))

    def take_rx(self, conn: Connection, limit: int) -> bytes:
        """Remove up to ``limit`` received bytes from a connection's buffer."""
        data = bytes(conn.rx[:limit])
        del conn.rx[:limit]
        if conn.paused and len(conn.rx) < RX_LOW_WATER and not conn.finished:
            conn.paused = False
            self.emit(m.ResumeReading(conn=conn.conn))
        return data

    def leave_network(self) -> None:
        """The Wi-Fi link went away: every server and connection is gone."""
        for index in range(len(self.sockets)):
            self.close_connection(index, abort=True)
            self.stop_server(index)

    # ------------------------------------------------------------------ command loop

    def _run(self) -> None:
        while True:
            if self._payload is not None:
                item = self._reader.next_item()
                if not isinstance(item, PayloadChunk):
                    return
                self._payload_data += item.data
                if item.complete:
                    self._end_payload(complete=True)
                continue
            if self._command is not None:
                return
            item = self._reader.next_item()
            match item:
                case None:
                    return
                case Line(data=b""):
                    self._write(framing.PROMPT)
                case Line(data=data):
                    self._execute(data)
                case LineTooLong():
                    self._write(self._error_reply(error(ErrorCode.BAD_ARGUMENT), ""))
                case ControlByte(value=byte):
                    self._write(b"[%02X]" % byte)
                case PayloadChunk():  # pragma: no cover - the reader yields these only in payloads
                    raise LocalProtocolError("payload outside a command")

    def _execute(self, data: bytes) -> None:
        command = split_command_line(data, fold_case=self.profile.fold_command_case)
        handler = self._handlers.get(command.code)
        if command.code not in COMMANDS or handler is None:
            self._write(framing.UNKNOWN_COMMAND_REPLY)
            return
        self._command = command
        if len(command.args) > MAX_ARGUMENT_TOKENS:
            self._finish(error(ErrorCode.TOO_MANY_ARGUMENTS))
            return
        self._settle(handler(self, command))

    def _settle(self, outcome: Outcome) -> None:
        match outcome:
            case Done():
                self._finish(outcome)
            case Wait():
                done = outcome.poll(None)
                if done is not None:
                    self._finish(done)
                else:
                    self._wait = outcome
            case ReadPayload():
                self._payload = outcome
                self._payload_data.clear()
                self._reader.expect_payload(outcome.length)
                self._payload_deadline = (
                    self.now + outcome.timeout_ms / 1000 if outcome.timeout_ms > 0 else None
                )
                if outcome.length == 0:
                    self._end_payload(complete=True)

    def _end_payload(self, *, complete: bool) -> None:
        payload, self._payload = self._payload, None
        assert payload is not None
        self._payload_deadline = None
        if not complete:
            self._reader.abandon_payload()
        data = bytes(self._payload_data)
        self._payload_data.clear()
        if complete and self.profile.link is LinkProfile.SPI and self._command is not None:
            # The rest of the host's SPI transfer (pad byte, Zephyr's stray byte) is not
            # a command: the module drops it when chip-select rises (spec §1.5).
            transfer = len(self._command.raw) + 1 + len(data)
            self._reader.skip_transfer_tail(odd=transfer % 2 == 1)
        self._settle(payload.then(data, complete))

    def _finish(self, done: Done) -> None:
        command, self._command = self._command, None
        self._wait = None
        code = command.code if command else ""
        if done.raw:
            reply = done.text
        elif done.ok:
            reply = done.text + framing.ok_terminator(bool(done.text))
        else:
            reply = self._error_reply(done, code)
        self._write(reply)
        pending, self._pending_async = self._pending_async, []
        for message in pending:
            self._write(framing.uart_async(message))

    def _error_reply(self, done: Done, code: str) -> bytes:
        spec = COMMANDS.get(code)
        return done.text + framing.error_terminator(
            bool(done.text),
            verbose=self.message_type == 0,
            code=code,
            usage=spec.usage if spec else "",
            error=done.error,
        )

    def _write(self, data: bytes) -> None:
        if self.profile.link is LinkProfile.SPI:
            data = framing.spi_pad(data)
        self._effects.append(m.HostWrite(data=data))

    # ------------------------------------------------------------------ network events

    def _connection(self, conn_id: int) -> Connection | None:
        index = self._conn_slots.get(conn_id)
        if index is None:
            return None
        conn = self.sockets[index].connection
        return conn if conn is not None and conn.conn == conn_id else None

    def _apply(self, event: m.NetEvent) -> None:
        match event:
            case m.Received(conn=conn_id, data=data):
                conn = self._connection(conn_id)
                if conn is None:
                    return
                conn.rx += data
                if len(conn.rx) >= RX_HIGH_WATER and not conn.paused:
                    conn.paused = True
                    self.emit(m.PauseReading(conn=conn_id))
            case m.DatagramReceived(conn=conn_id):
                if conn := self._connection(conn_id):
                    self._datagram(conn, event)
            case m.PeerClosed(conn=conn_id):
                if conn := self._connection(conn_id):
                    conn.peer_closed = True
            case m.ConnectionLost(conn=conn_id) | m.SendFailed(conn=conn_id):
                if conn := self._connection(conn_id):
                    conn.lost = True
            case m.Accepted():
                self._accepted(event)
            case m.AcceptFailed(listener=listener):
                index = self._listener_slots.get(listener)
                server = self.sockets[index].server if index is not None else None
                if server is not None and server.accepting == event.conn:
                    server.accepting = None
                    self.announce(b"[TCP SVR] Error accepting TCP connection", tcp_server=True)
            case m.Listening(listener=listener):
                index = self._listener_slots.get(listener)
                server = self.sockets[index].server if index is not None else None
                if server is not None and server.listener == listener:
                    server.state = ServerState.LISTENING
            case m.Listening() | m.ListenFailed() | m.Sent() | m.Connected() | m.ConnectFailed():
                pass  # consumed by the waiting command's poll
            case _:
                raise LocalProtocolError(f"unexpected network event {event!r}")

    def _accepted(self, event: m.Accepted) -> None:
        index = self._listener_slots.get(event.listener)
        slot = self.sockets[index] if index is not None else None
        server = slot.server if slot is not None else None
        if index is None or slot is None or server is None or server.accepting != event.conn:
            self.emit(m.CloseConnection(conn=event.conn, abort=True))
            return
        server.accepting = None
        server.accepted_once = True
        self.bind_connection(
            index, Connection(conn=event.conn, peer_host=event.peer_host, peer_port=event.peer_port)
        )
        rule = (
            self.profile.multi_accept_port
            if server.mode is ServerMode.MULTI
            else self.profile.single_accept_port
        )
        if server.mode is ServerMode.MULTI:
            slot.registers = replace(slot.registers, remote_port=event.peer_port)
        port = event.peer_port if rule is AcceptedPort.PEER else server.port
        self.announce(f"[TCP SVR] Accepted {event.peer_host}:{port}".encode(), tcp_server=True)

    def _datagram(self, conn: Connection, event: m.DatagramReceived) -> None:
        if conn.kind is ConnectionKind.DATAGRAM_SERVER and conn.peer_port == 0:
            conn.peer_host, conn.peer_port = event.host, event.port
            self.announce(f"[UDP SVR] Accepted {event.host}:{event.port}".encode(), tcp_server=True)
        if len(conn.datagrams) >= DATAGRAM_QUEUE_DEPTH:
            conn.dropped_datagrams += 1
            return
        conn.datagrams.append(Datagram(data=event.data, host=event.host, port=event.port))


def _due(deadline: float | None, now: float) -> bool:
    return deadline is not None and now >= deadline
