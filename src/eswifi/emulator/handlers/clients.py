"""Client sockets: P6 for TCP, TLS, UDP and UDP-Lite (docs/protocol.md §2.2, §2.3, §2.7)."""

from __future__ import annotations

from eswifi.emulator import messages as m
from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.handlers import args
from eswifi.emulator.handlers.servers import UDP_PROTOCOLS, transport_of
from eswifi.emulator.outcomes import OK, Done, Outcome, Wait, after, error
from eswifi.emulator.state import Connection, ConnectionKind, Protocol
from eswifi.wire.commands import CommandLine
from eswifi.wire.framing import ErrorCode

ALREADY_CONNECTED = b"\r\n[TCP  RC] Already Connected"
CLIENT_KINDS = (ConnectionKind.CLIENT, ConnectionKind.DATAGRAM)


def client_control(module: ModuleEngine, command: CommandLine) -> Outcome:
    action = args.integer(command, 0, 0, 1)
    if action is None or len(command.args) > 1:
        return error(ErrorCode.BAD_ARGUMENT)
    slot = module.slot
    if action == 0:
        # Only a client is closed: a server's accepted client stays (P5=10/P5=0 end it).
        if slot.connection is not None and slot.connection.kind in CLIENT_KINDS:
            module.close_connection(module.current)
        return OK
    protocol = slot.registers.protocol
    if not module.wifi.joined or protocol is Protocol.MQTT:
        return error()
    if slot.connection is not None or slot.server is not None:
        return error(text=ALREADY_CONNECTED)
    if protocol in UDP_PROTOCOLS:
        return _open_udp(module)
    tls = protocol is Protocol.TLS
    return after(module.now, module.timing.connect_ms, lambda: _connect_tcp(module, tls=tls))


def _connect_tcp(module: ModuleEngine, *, tls: bool) -> Done | Wait:
    index = module.current
    regs = module.slot.registers
    conn_id = module.new_id()
    connecting = b"\r\n[TCP  RC] Connecting to " + regs.remote_host.encode()
    failed = error(text=connecting + b"\r\n[TCP  RC] Failed to connect")
    if regs.remote_host == "0.0.0.0":
        return failed  # no destination (a host OS would quietly connect to itself)
    module.emit(
        m.Connect(
            conn=conn_id,
            transport=m.Transport.TCP,
            host=regs.remote_host,
            port=regs.remote_port,
            local_host=module.host_address,
            local_port=regs.local_port,
            keepalive=regs.keepalive_settings(),
            tls=tls_settings(module) if tls else None,
        )
    )

    def poll(event: m.NetEvent | None) -> Done | None:
        match event:
            case m.Connected(conn=conn) if conn == conn_id:
                client = Connection(
                    conn=conn_id,
                    peer_host=regs.remote_host,
                    peer_port=regs.remote_port,
                    kind=ConnectionKind.CLIENT,
                )
                module.bind_connection(index, client)
                return Done(text=connecting)
            case m.ConnectFailed(conn=conn) if conn == conn_id:
                return failed
        return None

    def on_timeout() -> Done:
        module.emit(m.CloseConnection(conn=conn_id, abort=True))
        return failed

    return Wait(poll=poll, on_timeout=on_timeout, deadline=_deadline(module))


def tls_settings(module: ModuleEngine) -> m.TlsSettings:
    """The TLS parameters of the selected socket (P9, PA, PB, PF) and its credential set."""
    regs = module.slot.registers
    credentials = module.credentials.sets[regs.credential_set]
    verify = m.TlsVerify(regs.tls_verify)
    if regs.tls_report_only:
        verify = m.TlsVerify.NONE  # a failed check would only be reported
    return m.TlsSettings(
        verify=verify,
        ca_pem=credentials.ca,
        cert_pem=credentials.certificate,
        key_pem=credentials.key,
        server_name=regs.custom_ca_name if regs.custom_ca else None,
    )


def _open_udp(module: ModuleEngine) -> Outcome:
    index = module.current
    regs = module.slot.registers
    # The firmware binds a UDP client to its destination port (docs/protocol.md §5 item 5).
    local_port = regs.remote_port if module.profile.udp_source_port_quirk else regs.local_port
    conn_id = module.new_id()
    module.emit(
        m.Connect(
            conn=conn_id,
            transport=transport_of(regs.protocol),
            host=regs.remote_host,
            port=regs.remote_port,
            local_host=module.host_address,
            local_port=local_port,
            keepalive=None,
        )
    )

    def poll(event: m.NetEvent | None) -> Done | None:
        match event:
            case m.Connected(conn=conn, local_port=port) if conn == conn_id:
                socket = Connection(
                    conn=conn_id,
                    peer_host=regs.remote_host,
                    peer_port=regs.remote_port,
                    kind=ConnectionKind.DATAGRAM,
                )
                module.bind_connection(index, socket)
                return Done(text=b"\r\n[UDP  RC] Socket opened on port %d" % port)
            case m.ConnectFailed(conn=conn) if conn == conn_id:
                return error(text=b"\r\n[UDP  RC] Failed to bind port %d" % local_port)
        return None

    def on_timeout() -> Done:
        module.emit(m.CloseConnection(conn=conn_id, abort=True))
        return error()

    return Wait(poll=poll, on_timeout=on_timeout, deadline=_deadline(module))


def _deadline(module: ModuleEngine) -> float:
    return module.now + module.slot.registers.api_timeout_ms / 1000


HANDLERS = {"P6": client_control}
