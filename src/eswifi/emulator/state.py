"""Module state held by the engine: per-socket registers, servers, connections, Wi-Fi.

Registers are frozen values replaced as a whole when a set command succeeds, so an
invalid value can never leave a socket half-changed. Lifecycles (servers, connections)
are small mutable records owned by the engine.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum, IntEnum

from eswifi.emulator.messages import KeepAlive

SOCKET_COUNT = 4
RX_HIGH_WATER = 16 * 1024
"""Receive bytes kept per connection before the engine stops reading from the peer."""
RX_LOW_WATER = 4 * 1024
"""Reading resumes when a connection's buffer falls below this."""
KEEPALIVE_PROBES = 3
"""Unanswered keep-alive probes after which a peer is dead (probe interval = idle time)."""
DATAGRAM_QUEUE_DEPTH = 16
"""Datagrams a UDP socket keeps until R0 reads them; later arrivals are dropped, as a full
socket buffer drops them."""
API_TIMEOUT_MS = 10_000
"""``PY`` default: how long a command waits for the network stack (connect, listen)."""
CREDENTIAL_SETS = 3
"""TLS credential sets (``PG``/``PF`` set 0–2); each holds a CA, a certificate and a key."""


class Protocol(IntEnum):
    """P1 values."""

    TCP = 0
    UDP = 1
    UDP_LITE = 2
    TLS = 3
    MQTT = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class SocketRegisters:
    """The settings of one module socket (docs/protocol.md §2.1 defaults)."""

    protocol: Protocol = Protocol.TCP
    local_port: int = 5024
    remote_host: str = "0.0.0.0"
    remote_port: int = 5025
    backlog: int = 1
    read_size: int = 1460
    read_timeout_ms: int = 5000
    read_mode: int = 0
    send_size: int = 1460
    send_timeout_ms: int = 5000
    keepalive: bool = False
    keepalive_idle_ms: int = 7_200_000
    api_timeout_ms: int = API_TIMEOUT_MS
    tls_verify: int = 1
    """P9: 0 none, 1 optional (checked when a CA is uploaded), 2 required."""
    tls_report_only: bool = False
    """PB=1: a failed check is not fatal."""
    custom_ca: bool = False
    """PA=1: check the server's name against ``custom_ca_name``."""
    custom_ca_name: str = ""
    credential_kind: int = 0
    """PF first field: 0 TLS, 1 AWS."""
    credential_set: int = 0

    def keepalive_settings(self) -> KeepAlive | None:
        """What PK asks of sockets created now."""
        if not self.keepalive:
            return None
        idle = self.keepalive_idle_ms
        return KeepAlive(idle_ms=idle, interval_ms=idle, probes=KEEPALIVE_PROBES)


class ServerMode(Enum):
    SINGLE = "single"  # P5=1: one client, ever (unless P7=1 turns on the accept loop)
    MULTI = "multi"  # P5=11: one client at a time, next on P5=10


class ServerState(Enum):
    STARTING = "starting"
    LISTENING = "listening"


@dataclass(slots=True, kw_only=True)
class Server:
    """A TCP server on one module socket."""

    listener: int
    mode: ServerMode
    port: int
    state: ServerState = ServerState.STARTING
    accepting: int | None = None
    """Connection id of the outstanding AcceptNext, if any."""
    accepted_once: bool = False
    accept_loop: bool = False
    """P7=1: the legacy accept loop runs (P7=3 takes the next client)."""


class ConnectionKind(Enum):
    ACCEPTED = "accepted"
    """The client a TCP server accepted."""
    CLIENT = "client"
    """A TCP or TLS client connection (P6=1)."""
    DATAGRAM = "datagram"
    """A UDP client socket (P6=1)."""
    DATAGRAM_SERVER = "datagram-server"
    """A UDP server socket (P5=1)."""

    @property
    def datagram(self) -> bool:
        return self in (ConnectionKind.DATAGRAM, ConnectionKind.DATAGRAM_SERVER)


@dataclass(frozen=True, slots=True, kw_only=True)
class Datagram:
    data: bytes
    host: str
    port: int


@dataclass(slots=True, kw_only=True)
class Connection:
    """One live host socket behind a module socket: a TCP connection or a UDP socket."""

    conn: int
    peer_host: str
    """TCP: the peer. UDP server: the first sender (``0.0.0.0`` until one arrives)."""
    peer_port: int
    kind: ConnectionKind = ConnectionKind.ACCEPTED
    rx: bytearray = field(default_factory=bytearray)
    datagrams: deque[Datagram] = field(default_factory=deque)
    """UDP: datagrams not read yet (at most DATAGRAM_QUEUE_DEPTH)."""
    dropped_datagrams: int = 0
    last_source: tuple[str, int] | None = None
    """UDP: where the datagram R0 returned last came from."""
    peer_closed: bool = False
    lost: bool = False
    paused: bool = False

    @property
    def finished(self) -> bool:
        """No more data will ever arrive."""
        return self.peer_closed or self.lost


@dataclass(slots=True, kw_only=True)
class SocketSlot:
    """One of the module's four sockets: its registers and what is open on it."""

    registers: SocketRegisters = field(default_factory=SocketRegisters)
    server: Server | None = None
    connection: Connection | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WifiRegisters:
    """C1–CN settings (saved by Z1)."""

    ssid: str = ""
    passphrase: str = ""
    security: int = 3
    dhcp: bool = True
    ip_version: int = 0
    static_ip: str = "0.0.0.0"
    static_mask: str = "0.0.0.0"
    static_gateway: str = "0.0.0.0"
    dns1: str = "0.0.0.0"
    dns2: str = "0.0.0.0"
    join_retries: int = 5
    auto_connect: int = 0
    wep_auth: int = 0
    country: str = "US"


@dataclass(slots=True, kw_only=True)
class WifiState:
    """Association state."""

    registers: WifiRegisters = field(default_factory=WifiRegisters)
    joined_ssid: str | None = None
    """The access point the station is associated with."""
    rejoin_ssid: str | None = None
    """Lost its access point (link down) and re-associates when it comes back."""
    ap_active: bool = False
    """The soft AP is up (sockets work as when joined)."""
    ip: str = "0.0.0.0"
    mask: str = "0.0.0.0"
    gateway: str = "0.0.0.0"
    dns1: str = "0.0.0.0"
    dns2: str = "0.0.0.0"

    @property
    def associated(self) -> bool:
        """The station is joined to an access point (CS answers 1)."""
        return self.joined_ssid is not None

    @property
    def joined(self) -> bool:
        """A network interface is up: joined as a station, or the soft AP runs."""
        return self.joined_ssid is not None or self.ap_active

    def clear_address(self) -> None:
        self.ip = self.mask = self.gateway = self.dns1 = self.dns2 = "0.0.0.0"


UART_POWER_UP_BAUD = 115_200
"""The UART's rate after power-up and reset (8N1, no flow control)."""
UART_BAUD_RANGE = (1200, 3_916_800)
"""Rates ``U2`` accepts."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UartSettings:
    """``U2`` and the rate ``U0`` applied (volatile: a reset brings 115200 back)."""

    baud: int = UART_POWER_UP_BAUD
    """Set by ``U2``, shown by ``U?``; the line changes to it at ``U0``."""
    line_baud: int = UART_POWER_UP_BAUD
    """The rate the line runs at now."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanSettings:
    """F1–F5."""

    repeat: int = 1
    delay_ms: int = 0
    channel: int = 0
    """0: every channel."""
    bssid: str = "00:00:00:00:00:00"
    """All zeros: any BSSID."""
    ssid: str = ""
    """Empty: any SSID."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PingSettings:
    """T1–T3."""

    target: str = "0.0.0.0"
    count: int = 1
    delay_ms: int = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class SoftApRegisters:
    """A1, A2, AS, AC, AT, AL, Z6 (saved by Z1)."""

    ssid: str = ""
    """Empty: ``eS-WiFi_AP_<MAC without colons>``."""
    ssid_mode: int = 0
    security: int = 3
    passphrase: str = ""
    channel: int = 1
    max_clients: int = 4
    lease_time: int = 1
    ip: str = ""
    """Empty: the module's host address."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SoftApClient:
    mac: str
    ip: str
    rssi: int


@dataclass(slots=True, kw_only=True)
class SoftApState:
    """The running soft AP."""

    registers: SoftApRegisters = field(default_factory=SoftApRegisters)
    clients: list[SoftApClient] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class CredentialSet:
    """One TLS credential set: PEM bytes as uploaded (empty: not uploaded)."""

    ca: bytes = b""
    certificate: bytes = b""
    key: bytes = b""


@dataclass(slots=True, kw_only=True)
class Credentials:
    """The module's certificate store (``PG``), kept in memory only."""

    sets: list[CredentialSet] = field(
        default_factory=lambda: [CredentialSet() for _ in range(CREDENTIAL_SETS)]
    )


@dataclass(slots=True, kw_only=True)
class MessageQueue:
    """Bounded queue of asynchronous messages waiting for MR (SPI build)."""

    depth: int
    items: deque[bytes] = field(default_factory=deque)
    dropped: int = 0

    def push(self, message: bytes) -> None:
        if len(self.items) >= self.depth:
            self.items.popleft()
            self.dropped += 1
        self.items.append(message)

    def pop(self) -> bytes | None:
        return self.items.popleft() if self.items else None
