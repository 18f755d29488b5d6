"""Receive and send: R0–R4, R?, S0–S3, S? (docs/protocol.md §2.4, §2.5).

R0/S3 act on the selected socket's connection, whatever opened it: an accepted client,
a TCP/TLS client, or a UDP socket (one datagram per R0 and per S3).
"""

from __future__ import annotations

from eswifi.emulator import messages as m
from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.handlers import args
from eswifi.emulator.handlers.transport import set_registers
from eswifi.emulator.outcomes import (
    MINUS_ONE,
    MINUS_ONE_LINE,
    OK,
    Done,
    Handler,
    Outcome,
    ReadPayload,
    Wait,
    error,
    value,
)
from eswifi.emulator.state import Connection, ConnectionKind, SocketRegisters
from eswifi.wire.commands import CommandLine
from eswifi.wire.framing import ErrorCode


def _deadline(module: ModuleEngine, timeout_ms: int) -> float | None:
    # A zero timeout is passed to the stack as "no timeout" (lwIP SO_RCVTIMEO/SO_SNDTIMEO).
    return module.now + timeout_ms / 1000 if timeout_ms > 0 else None


def read_data(module: ModuleEngine, command: CommandLine) -> Outcome:
    return _read(module, counted=False)


def read_data_with_length(module: ModuleEngine, command: CommandLine) -> Outcome:
    return _read(module, counted=True)


def _read(module: ModuleEngine, *, counted: bool) -> Outcome:
    """R0 (data as is) or R4 (data preceded by its length in 4 digits)."""
    slot = module.slot
    conn = slot.connection
    # Bytes received before the link went down are still in the module's buffer.
    if conn is None or (not module.wifi.joined and not (conn.rx or conn.datagrams)):
        return error(text=MINUS_ONE)
    regs = slot.registers
    lead = b"" if regs.read_mode else b"\r\n"  # R3=1 drops the CRLF before the data

    def reply(data: bytes) -> Done:
        return Done(text=lead + (b"%04d" % len(data) if counted else b"") + data)

    def poll(event: m.NetEvent | None) -> Done | None:
        data = _take(module, conn, regs.read_size)
        if data is not None:
            return reply(data)
        if conn.finished or slot.connection is not conn:
            return error(text=MINUS_ONE_LINE)
        return None

    return Wait(
        poll=poll,
        on_timeout=lambda: reply(b"") if counted else OK,
        deadline=_deadline(module, regs.read_timeout_ms),
    )


def _take(module: ModuleEngine, conn: Connection, limit: int) -> bytes | None:
    """Up to ``limit`` received bytes, or one datagram cut to ``limit``; None: nothing yet."""
    if conn.kind.datagram:
        if not conn.datagrams:
            return None
        datagram = conn.datagrams.popleft()
        conn.last_source = (datagram.host, datagram.port)
        return datagram.data[:limit]  # the rest of the datagram is lost, as on the module
    return module.take_rx(conn, limit) if conn.rx else None


def send_data(module: ModuleEngine, command: CommandLine) -> Outcome:
    length = args.integer(command, 0, 0, module.profile.max_send)
    if length is None or len(command.args) > 1:
        return error(ErrorCode.BAD_ARGUMENT)
    return _read_payload(module, length)


def send_data_legacy(module: ModuleEngine, command: CommandLine) -> Outcome:
    """S0: send the S1 bytes that follow."""
    if command.args:
        return error(ErrorCode.TOO_MANY_ARGUMENTS)
    return _read_payload(module, module.slot.registers.send_size)


def _read_payload(module: ModuleEngine, length: int) -> ReadPayload:
    return ReadPayload(
        length=length,
        timeout_ms=module.slot.registers.send_timeout_ms,
        then=lambda payload, _complete: _send(module, payload),
    )


def _send(module: ModuleEngine, payload: bytes) -> Done | Wait:
    slot = module.slot
    conn = slot.connection
    if not module.wifi.joined:
        return error(text=MINUS_ONE)
    if conn is None or conn.finished:
        return error(text=MINUS_ONE_LINE)
    if not payload:
        return value("0")
    if conn.kind.datagram:
        target = _destination(slot.registers, conn)
        if target is None:
            return error(text=MINUS_ONE_LINE)  # a UDP server nobody has written to yet
        module.emit(m.SendDatagram(conn=conn.conn, data=payload, host=target[0], port=target[1]))
    else:
        module.emit(m.Send(conn=conn.conn, data=payload))

    def poll(event: m.NetEvent | None) -> Done | None:
        match event:
            case m.Sent(conn=conn.conn, count=count):
                return value(str(count)) if count == len(payload) else error(text=b"\r\n%d" % count)
            case m.SendFailed(conn=conn.conn):
                return error(text=MINUS_ONE_LINE)
        if conn.lost or slot.connection is not conn:
            return error(text=MINUS_ONE_LINE)
        return None

    def on_timeout() -> Done:
        module.emit(m.CancelSend(conn=conn.conn))
        return error(text=b"\r\n0")

    return Wait(
        poll=poll, on_timeout=on_timeout, deadline=_deadline(module, slot.registers.send_timeout_ms)
    )


def _destination(regs: SocketRegisters, conn: Connection) -> tuple[str, int] | None:
    """Where a datagram goes: P3:P4 for a UDP client, the last sender for a UDP server."""
    if conn.kind is ConnectionKind.DATAGRAM:
        return regs.remote_host, regs.remote_port
    if conn.last_source is not None:
        return conn.last_source
    return (conn.peer_host, conn.peer_port) if conn.peer_port else None


def show_receive(module: ModuleEngine, command: CommandLine) -> Outcome:
    regs = module.slot.registers
    return value(f"{regs.read_size},{regs.read_timeout_ms},{regs.read_mode}")


def show_send(module: ModuleEngine, command: CommandLine) -> Outcome:
    regs = module.slot.registers
    return value(f"{regs.send_size},{regs.send_timeout_ms}")


def _register(field: str, low: int, high: int) -> Handler:
    def handler(module: ModuleEngine, command: CommandLine) -> Outcome:
        number = args.integer(command, 0, low, high)
        if number is None or len(command.args) > 1:
            return error(ErrorCode.BAD_ARGUMENT)
        return set_registers(module, **{field: number})

    handler.__name__ = f"set_{field}"
    return handler


HANDLERS = {
    "R0": read_data,
    "R1": _register("read_size", 1, 1460),
    "R2": _register("read_timeout_ms", 0, 30000),
    "R3": _register("read_mode", 0, 1),
    "R4": read_data_with_length,
    "R?": show_receive,
    "S0": send_data_legacy,
    "S1": _register("send_size", 1, 1460),
    "S2": _register("send_timeout_ms", 0, 30000),
    "S3": send_data,
    "S?": show_send,
}
