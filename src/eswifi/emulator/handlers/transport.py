"""Transport commands: socket selection, protocol, ports, servers, keep-alive, P? (spec §2.2)."""

from __future__ import annotations

from dataclasses import replace

from eswifi.emulator import messages as m
from eswifi.emulator.engine import OK, Done, ModuleEngine, Outcome, Wait, error, value
from eswifi.emulator.handlers import args
from eswifi.emulator.state import SOCKET_COUNT, Protocol, Server, ServerMode, ServerState
from eswifi.wire.commands import CommandLine
from eswifi.wire.framing import ErrorCode

NETWORK_TIMEOUT_MS = 10_000
"""How long a command waits for the host's network stack (the module's PY default)."""

WAITING = b"[TCP SVR] Waiting on connection ...\r\n"


def _set(module: ModuleEngine, **changes: object) -> Done:
    module.slot.registers = replace(module.slot.registers, **changes)
    return OK


def select_socket(module: ModuleEngine, command: CommandLine) -> Outcome:
    if not command.args:
        return value(str(module.current))
    number = args.integer(command, 0, 0, SOCKET_COUNT - 1)
    if number is None:
        return error(ErrorCode.BAD_ARGUMENT)
    module.current = number
    return OK


def set_protocol(module: ModuleEngine, command: CommandLine) -> Outcome:
    number = args.integer(command, 0, 0, max(Protocol))
    if number is None:
        return error(ErrorCode.BAD_ARGUMENT)
    return _set(module, protocol=Protocol(number))


def set_local_port(module: ModuleEngine, command: CommandLine) -> Outcome:
    port = args.integer(command, 0, 0, 65535)
    return error(ErrorCode.BAD_ARGUMENT) if port is None else _set(module, local_port=port)


def set_remote_port(module: ModuleEngine, command: CommandLine) -> Outcome:
    port = args.integer(command, 0, 0, 65535)
    return error(ErrorCode.BAD_ARGUMENT) if port is None else _set(module, remote_port=port)


def set_remote_host(module: ModuleEngine, command: CommandLine) -> Outcome:
    host = args.ipv4(command, 0)
    return error(ErrorCode.BAD_ADDRESS_VALUE) if host is None else _set(module, remote_host=host)


def set_backlog(module: ModuleEngine, command: CommandLine) -> Outcome:
    low, high = module.profile.backlog_range
    backlog = args.integer(command, 0, low, high)
    return error(ErrorCode.BAD_ARGUMENT) if backlog is None else _set(module, backlog=backlog)


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
    return _set(module, keepalive=bool(enable), keepalive_idle_ms=idle)


def set_packet_read(module: ModuleEngine, command: CommandLine) -> Outcome:
    # Only the "off" mode exists here; Zephyr sends PR=0 at start-up and expects OK.
    return OK if args.integer(command, 0, 0, 0) == 0 else error(ErrorCode.BAD_ARGUMENT)


def show_transport(module: ModuleEngine, command: CommandLine) -> Outcome:
    slot = module.slot
    regs = slot.registers
    conn = slot.connection
    server = slot.server
    tcp_server = server is not None and regs.protocol is not Protocol.UDP
    fields = (
        int(regs.protocol),
        conn.peer_host if conn is not None and server is not None else "0.0.0.0",
        regs.local_port,
        regs.remote_host,
        regs.remote_port,
        int(tcp_server),
        0,
        regs.backlog,
        int(server is not None and server.mode is ServerMode.MULTI),
        regs.read_mode,
        int(regs.keepalive),
        regs.keepalive_idle_ms,
    )
    return value(",".join(str(f) for f in fields))


def server_control(module: ModuleEngine, command: CommandLine) -> Outcome:
    mode = args.integer(command, 0, 0, 11)
    if mode is None or mode not in (0, 1, 10, 11):
        return error(ErrorCode.BAD_ARGUMENT)
    index = module.current
    slot = module.slot
    if mode == 0:
        module.stop_server(index)
        _set(module, remote_port=0)
        udp = slot.registers.protocol in (Protocol.UDP, Protocol.UDP_LITE)
        return Done(text=b"\r\n[UDP TSK] Killed\r\n" if udp else b"\r\n[TCP TSK] Killed\r\n")
    if mode == 10:
        server = slot.server
        if server is None or server.mode is not ServerMode.MULTI:
            return error()
        module.close_connection(index)
        _set(module, remote_port=0)
        module.accept_next(index)
        return Done(text=b"\r\n" + WAITING)
    return _start_tcp_server(module, ServerMode.MULTI if mode == 11 else ServerMode.SINGLE)


def _start_tcp_server(module: ModuleEngine, mode: ServerMode) -> Outcome:
    index = module.current
    slot = module.slot
    regs = slot.registers
    if not module.wifi.joined or regs.protocol is not Protocol.TCP:
        return error()
    if slot.server is not None or slot.connection is not None:
        return error(text=b"\r\n[TCP SVR] Already Connected\r\n")
    listener = module.new_id()
    server = Server(listener=listener, mode=mode, port=regs.local_port)
    slot.server = server
    module.register_listener(index, listener)
    module.emit(
        m.Listen(
            listener=listener,
            host=module.host_address,
            port=regs.local_port,
            backlog=regs.backlog,
            keepalive=regs.keepalive_settings(),
        )
    )
    setup = (
        b"[TCP TSK] Multi-Accept Setup\r\n" if mode is ServerMode.MULTI else b"[TCP TSK] Setup\r\n"
    )

    def poll(event: m.NetEvent | None) -> Done | None:
        if isinstance(event, m.Listening) and event.listener == listener:
            module.accept_next(index)
            return Done(text=b"\r\n" + setup + WAITING)
        if isinstance(event, m.ListenFailed) and event.listener == listener:
            module.stop_server(index)
            if event.bind_failed:
                return error(
                    text=b"\r\n[TCP SVR] Error binding TCP listen socket to port %d" % server.port
                )
            return error(text=b"\r\n[TCP SVR] Error listening on TCP port")
        return None

    def on_timeout() -> Done:
        if server.state is not ServerState.LISTENING:
            module.stop_server(index)
        return error()

    return Wait(poll=poll, on_timeout=on_timeout, deadline=module.now + NETWORK_TIMEOUT_MS / 1000)


def client_control(module: ModuleEngine, command: CommandLine) -> Outcome:
    action = args.integer(command, 0, 0, 1)
    if action is None:
        return error(ErrorCode.BAD_ARGUMENT)
    if action == 0:
        if module.slot.server is None:
            module.close_connection(module.current)
        return OK
    return error()


HANDLERS = {
    "P0": select_socket,
    "P1": set_protocol,
    "P2": set_local_port,
    "P3": set_remote_host,
    "P4": set_remote_port,
    "P5": server_control,
    "P6": client_control,
    "P8": set_backlog,
    "PK": set_keepalive,
    "PR": set_packet_read,
    "P?": show_transport,
}
