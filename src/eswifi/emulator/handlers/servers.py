"""Servers: P5 (TCP single/multi-accept, UDP) and the legacy P7 accept loop
(docs/protocol.md §2.2)."""

from __future__ import annotations

from eswifi.emulator import messages as m
from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.handlers import args
from eswifi.emulator.handlers.transport import set_registers
from eswifi.emulator.outcomes import OK, Done, Outcome, Wait, after, error
from eswifi.emulator.state import (
    Connection,
    ConnectionKind,
    Protocol,
    Server,
    ServerMode,
    ServerState,
)
from eswifi.wire.commands import CommandLine
from eswifi.wire.framing import ErrorCode

WAITING = b"[TCP SVR] Waiting on connection ...\r\n"
UDP_WAITING = b"[UDP SVR] Waiting on connection ...\r\n"
ALREADY_CONNECTED = b"\r\n[TCP SVR] Already Connected\r\n"
TASK_KILLED = b"\r\n[TCP THR] Task Killed\r\n> "
"""P7=0's whole reply: the firmware prints its own prompt and no OK."""

UDP_PROTOCOLS = (Protocol.UDP, Protocol.UDP_LITE)


def transport_of(protocol: Protocol) -> m.Transport:
    return m.Transport.UDP_LITE if protocol is Protocol.UDP_LITE else m.Transport.UDP


def server_control(module: ModuleEngine, command: CommandLine) -> Outcome:
    mode = args.integer(command, 0, 0, 11)
    if mode not in (0, 1, 10, 11) or len(command.args) > 1:
        return error(ErrorCode.BAD_ARGUMENT)
    index = module.current
    slot = module.slot
    udp = slot.registers.protocol in UDP_PROTOCOLS
    if mode == 0:
        module.stop_server(index)
        set_registers(module, remote_port=0)
        killed = Done(text=b"\r\n[UDP TSK] Killed\r\n" if udp else b"\r\n[TCP TSK] Killed\r\n")
        return after(module.now, module.timing.stop_server_ms, lambda: killed)
    if mode == 10:
        server = slot.server
        if server is None or server.mode is not ServerMode.MULTI:
            return error()
        _next_client(module, index)
        return Done(text=b"\r\n" + WAITING)
    if udp:
        return _start_udp_server(module) if mode == 1 else error()
    return start_tcp_server(module, ServerMode.MULTI if mode == 11 else ServerMode.SINGLE)


def _next_client(module: ModuleEngine, index: int) -> None:
    """Close the served client, forget its address and arm the next accept."""
    module.close_connection(index)
    set_registers(module, remote_port=0)
    module.accept_next(index)


def start_tcp_server(module: ModuleEngine, mode: ServerMode, *, loop: bool = False) -> Outcome:
    index = module.current
    slot = module.slot
    regs = slot.registers
    if not module.wifi.joined or regs.protocol is not Protocol.TCP:
        return error()
    if slot.server is not None or slot.connection is not None:
        return error(text=ALREADY_CONNECTED)
    listener = module.new_id()
    server = Server(listener=listener, mode=mode, port=regs.local_port, accept_loop=loop)
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

    return Wait(poll=poll, on_timeout=on_timeout, deadline=_deadline(module))


def _start_udp_server(module: ModuleEngine) -> Outcome:
    index = module.current
    slot = module.slot
    regs = slot.registers
    if not module.wifi.joined:
        return error()
    if slot.server is not None or slot.connection is not None:
        return error(text=ALREADY_CONNECTED)
    conn_id = module.new_id()
    module.emit(
        m.Connect(
            conn=conn_id,
            transport=transport_of(regs.protocol),
            host="0.0.0.0",
            port=0,
            local_host=module.host_address,
            local_port=regs.local_port,
            keepalive=None,
        )
    )

    def poll(event: m.NetEvent | None) -> Done | None:
        match event:
            case m.Connected(conn=conn) if conn == conn_id:
                socket = Connection(
                    conn=conn_id,
                    peer_host="0.0.0.0",
                    peer_port=0,
                    kind=ConnectionKind.DATAGRAM_SERVER,
                )
                module.bind_connection(index, socket)
                return Done(text=b"\r\n[UDP TSK] Setup\r\n" + UDP_WAITING)
            case m.ConnectFailed(conn=conn) if conn == conn_id:
                return error(
                    text=b"\r\n[UDP SVR] Error binding UDP socket to port %d" % regs.local_port
                )
        return None

    def on_timeout() -> Done:
        module.emit(m.CloseConnection(conn=conn_id, abort=True))
        return error()

    return Wait(poll=poll, on_timeout=on_timeout, deadline=_deadline(module))


def accept_loop(module: ModuleEngine, command: CommandLine) -> Outcome:
    """P7: 1 start the accept loop, 2 close the client, 3 take the next one, 0 kill."""
    action = args.integer(command, 0, 0, 3)
    if action is None or len(command.args) > 1:
        return error(ErrorCode.BAD_ARGUMENT)
    index = module.current
    server = module.slot.server
    if action == 0:
        if server is not None:
            server.accept_loop = False
        return Done(text=TASK_KILLED, raw=True)
    if action == 1:
        if server is None:
            return start_tcp_server(module, ServerMode.SINGLE, loop=True)
        server.accept_loop = True
        conn = module.slot.connection
        if conn is not None and conn.kind is ConnectionKind.ACCEPTED:
            set_registers(module, remote_port=conn.peer_port)  # the loop serves it now
        return Done(text=b"\r\n[TCP TSK] Setup\r\n" + WAITING)
    if server is None:
        return error()
    if action == 2:
        module.close_connection(index)
        set_registers(module, remote_port=0)
        return OK
    if not (server.accept_loop or server.mode is ServerMode.MULTI):
        return error()
    _next_client(module, index)
    return Done(text=b"\r\n" + WAITING)


def _deadline(module: ModuleEngine) -> float:
    return module.now + module.slot.registers.api_timeout_ms / 1000


HANDLERS = {
    "P5": server_control,
    "P7": accept_loop,
}
