"""What crosses between the module engine and its outer layers.

Effects are requests the engine makes (imperative names); network events are facts the
network backend reports back (past tense). Connections and listeners are named by ids the
engine allocates, never by module socket numbers, so a late event for a connection the
engine already closed is recognised and dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any


class Transport(Enum):
    """Kind of host socket behind a module socket."""

    TCP = "tcp"
    UDP = "udp"
    UDP_LITE = "udplite"


class TlsVerify(Enum):
    """How a TLS client checks the server's certificate (``P9``)."""

    NONE = 0
    """No check."""
    OPTIONAL = 1
    """Checked against the uploaded CA when there is one, else not checked."""
    REQUIRED = 2
    """Checked against the uploaded CA; without one every server fails."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsSettings:
    """What a TLS client connection needs: PEM bytes uploaded with ``PG``, nothing on disk."""

    verify: TlsVerify
    ca_pem: bytes = b""
    cert_pem: bytes = b""
    """Client certificate, sent when the server asks for one (with ``key_pem``)."""
    key_pem: bytes = b""
    server_name: str | None = None
    """Name sent as SNI and matched against the certificate (``PA=1,<name>``); None: no
    name check, as the module only knows the peer's address."""


@dataclass(frozen=True, slots=True, kw_only=True)
class KeepAlive:
    """TCP keep-alive settings taken from ``PK``."""

    idle_ms: int
    """Idle time before the first probe."""
    interval_ms: int
    """Time between probes."""
    probes: int
    """Unanswered probes after which the peer is declared dead."""


# --------------------------------------------------------------------------- effects


@dataclass(frozen=True, slots=True, kw_only=True)
class Effect:
    """Base of every request the engine makes. Never instantiated."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HostWrite(Effect):
    """Bytes for the host link."""

    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Listen(Effect):
    """Open a listening TCP socket (answered by Listening or ListenFailed)."""

    listener: int
    host: str
    port: int
    backlog: int
    keepalive: KeepAlive | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceptNext(Effect):
    """Accept the oldest waiting client of a listener (answered by Accepted)."""

    listener: int
    conn: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StopListening(Effect):
    """Close a listening socket; clients still waiting in its backlog are refused."""

    listener: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Connect(Effect):
    """Open a client connection (answered by Connected or ConnectFailed).

    TCP: connect to ``host:port`` from ``local_host:local_port`` (port 0: any), through TLS
    when ``tls`` is given. UDP and UDP-Lite: open a socket bound to ``local_host:local_port``
    and connect it to nothing (datagrams go where each :class:`SendDatagram` says, and come
    from anyone); ``host:port`` is only informative.
    """

    conn: int
    transport: Transport
    host: str
    port: int
    local_host: str
    local_port: int
    keepalive: KeepAlive | None
    tls: TlsSettings | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Send(Effect):
    """Send bytes on a connection (answered by Sent or SendFailed)."""

    conn: int
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class SendDatagram(Effect):
    """Send one datagram from a UDP socket (answered by Sent or SendFailed)."""

    conn: int
    data: bytes
    host: str
    port: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelSend(Effect):
    """Drop the part of the last Send that has not been handed to the OS yet."""

    conn: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PauseReading(Effect):
    """Stop reading from a connection: the engine's receive buffer is full."""

    conn: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ResumeReading(Effect):
    """Read from a connection again."""

    conn: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CloseConnection(Effect):
    """Close a connection (orderly unless ``abort``)."""

    conn: int
    abort: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Resolve(Effect):
    """Look a host name up (answered by Resolved or ResolveFailed)."""

    request: int
    name: str
    timeout_ms: int
    """The backend gives up (ResolveFailed) after this long."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Ping(Effect):
    """Send one ICMP echo request (answered by PingReply or PingFailed)."""

    request: int
    host: str
    timeout_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SaveSettings(Effect):
    """Persist the module's saved settings (Z1/Z2/Z3); None erases them."""

    snapshot: Mapping[str, Any] | None
    """JSON-compatible data, read back with ``StoredSettings.from_dict``."""
    request: int = 0
    """Answered with :class:`SettingsSaved` or :class:`SettingsNotSaved`; without an
    answer the command that saves finishes after ``SAVE_TIMEOUT`` as if saved."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PinChanged(Effect):
    """A pin changed level (an edge): ``reset``/``wakeup`` driven by the host, ``ready``
    (CMD/DATA-READY) driven by the module. Reported, never carried out."""

    pin: str
    level: int
    at: float
    """The engine's ``now`` when the edge happened."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkRateChanged(Effect):
    """The module's UART now runs at ``baud`` bits per second (``U2=<baud>`` then ``U0``).

    Ordered with the :class:`HostWrite` effects: every byte that crosses the host link
    after this effect, in both directions, runs at the new rate; every byte before it,
    including the whole reply to ``U0`` itself, at the old one. The engine emits it right
    after that reply, and again when a reset brings the power-up rate back.

    Only a paced link (``--timing real``) honours it; fast timing ignores it, and a pty's
    termios speed is never changed.
    """

    baud: int


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True, kw_only=True)
class NetEvent:
    """Base of every fact the network backend reports. Never instantiated."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Listening(NetEvent):
    listener: int
    port: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenFailed(NetEvent):
    listener: int
    reason: str
    bind_failed: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Accepted(NetEvent):
    listener: int
    conn: int
    peer_host: str
    peer_port: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceptFailed(NetEvent):
    listener: int
    conn: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Connected(NetEvent):
    conn: int
    local_port: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectFailed(NetEvent):
    conn: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Received(NetEvent):
    conn: int
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class DatagramReceived(NetEvent):
    """One datagram arrived on a UDP socket, from ``host:port``."""

    conn: int
    data: bytes
    host: str
    port: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerClosed(NetEvent):
    """The peer closed its side in order (FIN); data sent before it was already reported."""

    conn: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionLost(NetEvent):
    """The connection broke (reset, keep-alive timeout, network error)."""

    conn: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Sent(NetEvent):
    conn: int
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SendFailed(NetEvent):
    conn: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Resolved(NetEvent):
    request: int
    address: str
    """Dotted-decimal IPv4 address."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolveFailed(NetEvent):
    request: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PingReply(NetEvent):
    request: int
    rtt_ms: float


@dataclass(frozen=True, slots=True, kw_only=True)
class PingFailed(NetEvent):
    """No echo reply in time, or the host is unreachable."""

    request: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SettingsSaved(NetEvent):
    """The settings of a :class:`SaveSettings` request are stored."""

    request: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SettingsNotSaved(NetEvent):
    """Storing the settings failed (a file that cannot be written)."""

    request: int
    reason: str
