"""Receive and send commands: R0–R2, S2, S3 (spec §2.4, §2.5)."""

from __future__ import annotations

from dataclasses import replace

from eswifi.emulator import messages as m
from eswifi.emulator.engine import (
    MINUS_ONE,
    MINUS_ONE_LINE,
    OK,
    Done,
    ModuleEngine,
    Outcome,
    ReadPayload,
    Wait,
    error,
    value,
)
from eswifi.emulator.handlers import args
from eswifi.wire.commands import CommandLine
from eswifi.wire.framing import ErrorCode


def _deadline(module: ModuleEngine, timeout_ms: int) -> float | None:
    # A zero timeout is passed to the stack as "no timeout" (lwIP SO_RCVTIMEO/SO_SNDTIMEO).
    return module.now + timeout_ms / 1000 if timeout_ms > 0 else None


def read_data(module: ModuleEngine, command: CommandLine) -> Outcome:
    slot = module.slot
    conn = slot.connection
    if not module.wifi.joined or conn is None:
        return error(text=MINUS_ONE)
    read_size = slot.registers.read_size

    def poll(event: m.NetEvent | None) -> Done | None:
        if conn.rx:
            return Done(text=b"\r\n" + module.take_rx(conn, read_size))
        if conn.finished or slot.connection is not conn:
            return error(text=MINUS_ONE_LINE)
        return None

    return Wait(
        poll=poll,
        on_timeout=lambda: OK,
        deadline=_deadline(module, slot.registers.read_timeout_ms),
    )


def send_data(module: ModuleEngine, command: CommandLine) -> Outcome:
    length = args.integer(command, 0, 0, module.profile.max_send)
    if length is None or len(command.args) > 1:
        return error(ErrorCode.BAD_ARGUMENT)
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


def _register(field: str, low: int, high: int):
    def handler(module: ModuleEngine, command: CommandLine) -> Outcome:
        number = args.integer(command, 0, low, high)
        if number is None or len(command.args) > 1:
            return error(ErrorCode.BAD_ARGUMENT)
        module.slot.registers = replace(module.slot.registers, **{field: number})
        return OK

    handler.__name__ = f"set_{field}"
    return handler


HANDLERS = {
    "R0": read_data,
    "R1": _register("read_size", 1, 1460),
    "R2": _register("read_timeout_ms", 0, 30000),
    "S2": _register("send_timeout_ms", 0, 30000),
    "S3": send_data,
}
