"""Transport registers: P0–P4, P8, PK, PR, PY and P? (docs/protocol.md §2.1, §2.2).

Every setting belongs to the selected socket (P0); a bad value leaves it unchanged.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.handlers import args
from eswifi.emulator.outcomes import OK, Done, Outcome, error, value
from eswifi.emulator.state import API_TIMEOUT_MS, SOCKET_COUNT, ConnectionKind, Protocol, ServerMode
from eswifi.wire.commands import CommandLine
from eswifi.wire.framing import ErrorCode

API_TIMEOUT_RANGE = (1, 600_000)
"""Values ``PY`` accepts (ms)."""


def set_registers(module: ModuleEngine, **changes: Any) -> Done:
    """Replace some registers of the selected socket; answers OK.

    ``changes`` are :class:`SocketRegisters` fields (``dataclasses.replace`` rejects
    unknown names)."""
    module.slot.registers = replace(module.slot.registers, **changes)
    return OK


def _one_number(command: CommandLine, low: int, high: int) -> int | None:
    return args.integer(command, 0, low, high) if len(command.args) == 1 else None


def select_socket(module: ModuleEngine, command: CommandLine) -> Outcome:
    if not command.args:
        return value(str(module.current))
    number = _one_number(command, 0, SOCKET_COUNT - 1)
    if number is None:
        return error(ErrorCode.BAD_ARGUMENT)
    module.current = number
    return OK


def set_protocol(module: ModuleEngine, command: CommandLine) -> Outcome:
    number = _one_number(command, 0, max(Protocol))
    if number is None:
        return error(ErrorCode.BAD_ARGUMENT)
    return set_registers(module, protocol=Protocol(number))


def set_local_port(module: ModuleEngine, command: CommandLine) -> Outcome:
    port = _one_number(command, 0, 65535)
    return error(ErrorCode.BAD_ARGUMENT) if port is None else set_registers(module, local_port=port)


def set_remote_port(module: ModuleEngine, command: CommandLine) -> Outcome:
    port = _one_number(command, 0, 65535)
    if port is None:
        return error(ErrorCode.BAD_ARGUMENT)
    return set_registers(module, remote_port=port)


def set_remote_host(module: ModuleEngine, command: CommandLine) -> Outcome:
    host = args.ipv4(command, 0) if len(command.args) == 1 else None
    if host is None:
        return error(ErrorCode.BAD_ADDRESS_VALUE)
    return set_registers(module, remote_host=host)


def set_backlog(module: ModuleEngine, command: CommandLine) -> Outcome:
    low, high = module.profile.backlog_range
    backlog = _one_number(command, low, high)
    return (
        error(ErrorCode.BAD_ARGUMENT) if backlog is None else set_registers(module, backlog=backlog)
    )


def set_keepalive(module: ModuleEngine, command: CommandLine) -> Outcome:
    enable = args.integer(command, 0, 0, 1)
    if enable is None or len(command.args) > 2:
        return error(ErrorCode.BAD_ARGUMENT)
    idle = module.slot.registers.keepalive_idle_ms
    if len(command.args) == 2:
        parsed = args.integer(command, 1, 250, 7_200_000)
        if parsed is None:
            return error(ErrorCode.BAD_ARGUMENT)
        idle = parsed
    return set_registers(module, keepalive=bool(enable), keepalive_idle_ms=idle)


def set_packet_read(module: ModuleEngine, command: CommandLine) -> Outcome:
    # Only the "off" mode exists here; Zephyr sends PR=0 at start-up and expects OK.
    return OK if _one_number(command, 0, 0) == 0 else error(ErrorCode.BAD_ARGUMENT)


def set_api_timeout(module: ModuleEngine, command: CommandLine) -> Outcome:
    """``PY=<ms>`` sets, ``PY``/``PY=?`` shows, ``PY=#`` restores the default."""
    token = command.args[0].strip(b" ") if len(command.args) == 1 else None
    if not command.args or token == b"?":
        return value(str(module.slot.registers.api_timeout_ms))
    if token == b"#":
        return set_registers(module, api_timeout_ms=API_TIMEOUT_MS)
    timeout = _one_number(command, *API_TIMEOUT_RANGE)
    if timeout is None:
        return error(ErrorCode.BAD_ARGUMENT)
    return set_registers(module, api_timeout_ms=timeout)


def show_transport(module: ModuleEngine, command: CommandLine) -> Outcome:
    slot = module.slot
    regs = slot.registers
    conn = slot.connection
    server = slot.server
    client_ip = "0.0.0.0"
    host, port = regs.remote_host, regs.remote_port
    udp_server = False
    if conn is not None:
        udp_server = conn.kind is ConnectionKind.DATAGRAM_SERVER
        if conn.kind is ConnectionKind.ACCEPTED or (udp_server and conn.peer_port):
            client_ip = conn.peer_host
        if conn.last_source is not None:
            host, port = conn.last_source
    loop = server is not None and (server.mode is ServerMode.MULTI or server.accept_loop)
    fields = (
        int(regs.protocol),
        client_ip,
        regs.local_port,
        host,
        port,
        int(server is not None),
        int(udp_server),
        regs.backlog,
        int(loop),
        regs.read_mode,
        int(regs.keepalive),
        regs.keepalive_idle_ms,
    )
    return value(",".join(map(str, fields)))


HANDLERS = {
    "P0": select_socket,
    "P1": set_protocol,
    "P2": set_local_port,
    "P3": set_remote_host,
    "P4": set_remote_port,
    "P8": set_backlog,
    "PK": set_keepalive,
    "PR": set_packet_read,
    "PY": set_api_timeout,
    "P?": show_transport,
}
