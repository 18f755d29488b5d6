"""An in-memory network for deterministic tests, itself sans-I/O.

:class:`FakeNetwork` executes the engine's effects and produces the network events a real
backend would, with no sockets and no clock of its own: the caller passes ``now`` and
fires :meth:`FakeNetwork.handle_timer` at :meth:`FakeNetwork.next_deadline` (keep-alive
expiry). Tests play the remote side through :class:`FakePeer` objects: connect to a
module server, send, close, reset or vanish, and read what the module sent. Remote
servers for module clients are :class:`FakeServer` (TCP, optionally TLS with a scripted
certificate check, or a black hole that never answers); remote UDP endpoints are
:class:`FakeDatagramPeer`. Name lookups and pings are scripted: :attr:`FakeNetwork.hosts`
and :attr:`FakeNetwork.ping_times`.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from eswifi.emulator import messages as m

SEGMENT = 8192
"""Largest chunk a fake peer delivers in one event."""
EPHEMERAL_PORTS = 49152
"""First port the fake network hands out for "any port" (port 0)."""
DEFAULT_HOSTS: Mapping[str, str] = {"localhost": "127.0.0.1"}
DEFAULT_PING_TIMES: Mapping[str, float] = {"127.0.0.1": 0.1}


@dataclass(slots=True, eq=False)
class FakePeer:
    """The remote end of one connection, played by a test."""

    network: FakeNetwork
    host: str
    port: int
    conn: int | None = None
    """The engine's id once the module accepted or opened the connection."""
    received: bytearray = field(default_factory=bytearray)
    """Everything the module sent to this peer."""
    closed_by_module: bool = False
    closed: bool = False
    vanished: bool = False
    keepalive: m.KeepAlive | None = None
    _unsent: bytearray = field(default_factory=bytearray)
    _fin_pending: bool = False

    def send(self, data: bytes) -> None:
        """Send bytes to the module (delivered once accepted and while it reads)."""
        if self.closed:
            raise ConnectionError("peer already closed")
        self._unsent += data
        self.network._flush(self)

    def close(self) -> None:
        """Close in order: data sent so far is delivered first, then the FIN."""
        if not self.closed:
            self.closed = True
            self._fin_pending = True
            self.network._flush(self)

    def reset(self) -> None:
        """Abort the connection (RST)."""
        self.closed = True
        self._unsent.clear()
        self._fin_pending = False
        if self.conn is not None and not self.closed_by_module:
            self.network._post(m.ConnectionLost(conn=self.conn, reason="connection reset by peer"))
        self.network._forget(self)

    def vanish(self, *, now: float) -> None:
        """Disappear without a word (power loss, cable pulled): only keep-alive notices."""
        self.vanished = True
        self.network._arm_keepalive(self, now)


@dataclass(frozen=True, slots=True, kw_only=True)
class FakeTls:
    """How a fake remote server's TLS handshake goes.

    ``ca`` stands for the CA that signed the server's certificate: a module that checks
    the certificate accepts it when its uploaded CA bytes contain ``ca``.
    """

    ca: bytes
    names: tuple[str, ...] = ("localhost",)
    """Names the certificate is valid for (checked when the module sets ``PA=1,<name>``)."""
    require_client_certificate: bool = False


@dataclass(slots=True, kw_only=True, eq=False)
class FakeServer:
    """A remote TCP (or TLS) server that module clients connect to."""

    host: str
    port: int
    tls: FakeTls | None = None
    answers: bool = True
    """False: a black hole (connects neither succeed nor fail; the module times out)."""
    peers: list[FakePeer] = field(default_factory=list)
    """One peer per connection the module opened, oldest first."""


@dataclass(slots=True, kw_only=True, eq=False)
class FakeDatagramPeer:
    """A remote UDP endpoint played by a test."""

    network: FakeNetwork
    host: str
    port: int
    received: deque[tuple[bytes, str, int]] = field(default_factory=deque)
    """Datagrams the module sent here: (data, source host, source port), oldest first."""

    def sendto(self, data: bytes, host: str, port: int) -> None:
        """Send one datagram to ``host:port`` (lost when no socket is bound there)."""
        self.network._deliver_datagram(data, (self.host, self.port), (host, port))

    def close(self) -> None:
        self.network._endpoints.pop((self.host, self.port), None)


@dataclass(slots=True, kw_only=True, eq=False)
class _Listener:
    listener: int
    host: str
    port: int
    backlog: int
    keepalive: m.KeepAlive | None
    waiting: deque[FakePeer] = field(default_factory=deque)
    accept_conn: int | None = None


class FakeNetwork:
    """A deterministic network: module listeners, test-driven peers, keep-alive timers."""

    def __init__(
        self,
        *,
        hosts: Mapping[str, str] = DEFAULT_HOSTS,
        ping_times: Mapping[str, float] = DEFAULT_PING_TIMES,
    ) -> None:
        self.hosts = dict(hosts)
        """Names ``Resolve`` finds (anything else fails, as an unknown name does)."""
        self.ping_times = dict(ping_times)
        """Round-trip time in ms of each host that answers pings (others never answer)."""
        self.silent_resolver = False
        """Let lookups hang (the engine's deadline decides), like an unreachable DNS server."""
        self._events: list[m.NetEvent] = []
        self._listeners: dict[int, _Listener] = {}
        self._peers: dict[int, FakePeer] = {}
        self._paused: set[int] = set()
        self._keepalive_deadlines: dict[int, float] = {}
        self._servers: dict[tuple[str, int], FakeServer] = {}
        self._endpoints: dict[tuple[str, int], int | FakeDatagramPeer] = {}
        """Bound UDP addresses: a module socket's conn id, or a test's peer."""
        self._udp: dict[int, tuple[str, int]] = {}
        self._ports = itertools.count(EPHEMERAL_PORTS)
        self.refuse_sends = False

    # ---------------------------------------------------------------- engine side

    def execute(self, effect: m.Effect, *, now: float) -> None:
        """Carry out one engine request."""
        match effect:
            case m.Listen():
                self._listen(effect)
            case m.AcceptNext(listener=listener, conn=conn):
                entry = self._listeners.get(listener)
                if entry is not None:
                    entry.accept_conn = conn
                    self._try_accept(entry)
            case m.StopListening(listener=listener):
                entry = self._listeners.pop(listener, None)
                for waiting in entry.waiting if entry else ():
                    waiting.closed_by_module = True
            case m.Send(conn=conn, data=data):
                peer = self._peers.get(conn)
                if peer is None or peer.vanished or peer.closed_by_module or self.refuse_sends:
                    self._post(m.SendFailed(conn=conn, reason="broken pipe"))
                else:
                    peer.received += data
                    self._post(m.Sent(conn=conn, count=len(data)))
            case m.PauseReading(conn=conn):
                self._paused.add(conn)
            case m.ResumeReading(conn=conn):
                self._paused.discard(conn)
                if conn in self._peers:
                    self._flush(self._peers[conn])
            case m.CloseConnection(conn=conn):
                peer = self._peers.pop(conn, None)
                self._keepalive_deadlines.pop(conn, None)
                if peer is not None:
                    peer.closed_by_module = True
                if (address := self._udp.pop(conn, None)) is not None:
                    self._endpoints.pop(address, None)
            case m.Connect(transport=m.Transport.TCP):
                self._connect(effect)
            case m.Connect():
                self._open_datagram(effect)
            case m.SendDatagram(conn=conn, data=data, host=host, port=port):
                source = self._udp.get(conn)
                if source is None or self.refuse_sends:
                    self._post(m.SendFailed(conn=conn, reason="bad file descriptor"))
                else:
                    self._deliver_datagram(data, source, (host, port))
                    self._post(m.Sent(conn=conn, count=len(data)))
            case m.Resolve(request=request, name=name):
                if self.silent_resolver:
                    return
                if name in self.hosts:
                    self._post(m.Resolved(request=request, address=self.hosts[name]))
                else:
                    self._post(m.ResolveFailed(request=request, reason="name not known"))
            case m.Ping(request=request, host=host):
                if host in self.ping_times:
                    self._post(m.PingReply(request=request, rtt_ms=self.ping_times[host]))
            case m.CancelSend() | m.HostWrite() | m.SaveSettings() | m.LinkRateChanged():
                pass

    def drain_events(self) -> list[m.NetEvent]:
        """Return and forget the events produced so far, in order.

        Peers deliver their data one segment per drain, so a paused reader stops the flow
        within one segment, as a kernel's receive window would.
        """
        events, self._events = self._events, []
        for peer in list(self._peers.values()):
            self._flush(peer)
        return events

    def next_deadline(self) -> float | None:
        return min(self._keepalive_deadlines.values(), default=None)

    def handle_timer(self, *, now: float) -> None:
        for conn, deadline in list(self._keepalive_deadlines.items()):
            if deadline <= now:
                del self._keepalive_deadlines[conn]
                self._post(m.ConnectionLost(conn=conn, reason="keep-alive timeout"))
                self._peers.pop(conn, None)

    # ---------------------------------------------------------------- test side

    def connect(self, host: str, port: int, *, source: tuple[str, int]) -> FakePeer:
        """A remote client connects to a module server at ``host:port``.

        Raises:
            ConnectionRefusedError: nothing listens there, or its backlog is full.
        """
        for entry in self._listeners.values():
            if entry.port == port and entry.host in (host, "0.0.0.0"):
                if len(entry.waiting) > entry.backlog:
                    raise ConnectionRefusedError(f"backlog of {host}:{port} is full")
                peer = FakePeer(self, source[0], source[1], keepalive=entry.keepalive)
                entry.waiting.append(peer)
                self._try_accept(entry)
                return peer
        raise ConnectionRefusedError(f"nothing listens on {host}:{port}")

    def listening_ports(self) -> list[int]:
        return sorted(entry.port for entry in self._listeners.values())

    @property
    def open_ids(self) -> tuple[frozenset[int], frozenset[int]]:
        """The module connections (TCP and UDP) and listeners this network holds open, as
        :attr:`ModuleEngine.open_ids <eswifi.emulator.engine.ModuleEngine.open_ids>`."""
        return frozenset(self._peers) | frozenset(self._udp), frozenset(self._listeners)

    def serve(self, host: str, port: int, *, tls: FakeTls | None = None) -> FakeServer:
        """A remote server at ``host:port`` that accepts every module client."""
        server = FakeServer(host=host, port=port, tls=tls)
        self._servers[(host, port)] = server
        return server

    def black_hole(self, host: str, port: int) -> FakeServer:
        """A remote address where connects never complete (the module's timeout decides)."""
        server = FakeServer(host=host, port=port, answers=False)
        self._servers[(host, port)] = server
        return server

    def udp_peer(self, host: str, port: int) -> FakeDatagramPeer:
        """A remote UDP socket bound to ``host:port``.

        Raises:
            OSError: something is bound there already.
        """
        if self._bound((host, port)) is not None:
            raise OSError(f"{host}:{port} is in use")
        peer = FakeDatagramPeer(network=self, host=host, port=port)
        self._endpoints[(host, port)] = peer
        return peer

    def udp_ports(self) -> list[tuple[str, int]]:
        """Addresses of the module's open UDP sockets."""
        return sorted(self._udp.values())

    # ---------------------------------------------------------------- internals

    def _listen(self, effect: m.Listen) -> None:
        if any(e.port == effect.port for e in self._listeners.values()):
            self._post(m.ListenFailed(listener=effect.listener, reason="address in use"))
            return
        self._listeners[effect.listener] = _Listener(
            listener=effect.listener,
            host=effect.host,
            port=effect.port,
            backlog=effect.backlog,
            keepalive=effect.keepalive,
        )
        self._post(m.Listening(listener=effect.listener, port=effect.port))

    def _try_accept(self, entry: _Listener) -> None:
        if entry.accept_conn is None or not entry.waiting:
            return
        peer = entry.waiting.popleft()
        conn, entry.accept_conn = entry.accept_conn, None
        peer.conn = conn
        self._peers[conn] = peer
        self._post(
            m.Accepted(listener=entry.listener, conn=conn, peer_host=peer.host, peer_port=peer.port)
        )
        self._flush(peer)

    def _flush(self, peer: FakePeer) -> None:
        conn = peer.conn
        if conn is None or conn in self._paused or peer.closed_by_module:
            return
        if any(isinstance(e, m.Received) and e.conn == conn for e in self._events):
            return
        if peer._unsent:
            self._post(m.Received(conn=conn, data=bytes(peer._unsent[:SEGMENT])))
            del peer._unsent[:SEGMENT]
        if peer._fin_pending and not peer._unsent:
            peer._fin_pending = False
            self._post(m.PeerClosed(conn=conn))

    def _connect(self, effect: m.Connect) -> None:
        server = self._servers.get((effect.host, effect.port))
        if server is None:
            self._post(m.ConnectFailed(conn=effect.conn, reason="connection refused"))
            return
        if not server.answers:
            return
        if effect.tls is not None:
            refusal = _tls_refusal(effect.tls, server.tls)
            if refusal is not None:
                self._post(m.ConnectFailed(conn=effect.conn, reason=refusal))
                return
        local_port = effect.local_port or next(self._ports)
        peer = FakePeer(
            self, server.host, server.port, conn=effect.conn, keepalive=effect.keepalive
        )
        server.peers.append(peer)
        self._peers[effect.conn] = peer
        self._post(m.Connected(conn=effect.conn, local_port=local_port))

    def _open_datagram(self, effect: m.Connect) -> None:
        address = (effect.local_host, effect.local_port or next(self._ports))
        if self._bound(address) is not None:
            self._post(m.ConnectFailed(conn=effect.conn, reason="address already in use"))
            return
        self._endpoints[address] = effect.conn
        self._udp[effect.conn] = address
        self._post(m.Connected(conn=effect.conn, local_port=address[1]))

    def _bound(self, address: tuple[str, int]) -> int | FakeDatagramPeer | None:
        host, port = address
        if host == "0.0.0.0":
            return next((e for (_, p), e in self._endpoints.items() if p == port), None)
        return self._endpoints.get(address, self._endpoints.get(("0.0.0.0", port)))

    def _deliver_datagram(
        self, data: bytes, source: tuple[str, int], target: tuple[str, int]
    ) -> None:
        endpoint = self._bound(target)
        if isinstance(endpoint, FakeDatagramPeer):
            endpoint.received.append((data, *source))
        elif endpoint is not None:
            self._post(m.DatagramReceived(conn=endpoint, data=data, host=source[0], port=source[1]))

    def _arm_keepalive(self, peer: FakePeer, now: float) -> None:
        if peer.conn is not None and peer.keepalive is not None:
            ka = peer.keepalive
            self._keepalive_deadlines[peer.conn] = (
                now + (ka.idle_ms + ka.interval_ms * ka.probes) / 1000
            )

    def _forget(self, peer: FakePeer) -> None:
        if peer.conn is not None:
            self._peers.pop(peer.conn, None)
            self._keepalive_deadlines.pop(peer.conn, None)

    def _post(self, event: m.NetEvent) -> None:
        self._events.append(event)


def _tls_refusal(settings: m.TlsSettings, tls: FakeTls | None) -> str | None:
    """Why a handshake fails, or None when it succeeds."""
    if tls is None:
        return "wrong version number"  # the server does not speak TLS
    ca_given = bool(settings.ca_pem)
    checked = settings.verify is m.TlsVerify.REQUIRED or (
        settings.verify is m.TlsVerify.OPTIONAL and ca_given
    )
    if checked and not (ca_given and tls.ca in settings.ca_pem):
        return "certificate verify failed: unable to get local issuer certificate"
    if checked and settings.server_name is not None and settings.server_name not in tls.names:
        return "certificate verify failed: Hostname mismatch"
    if tls.require_client_certificate and not (settings.cert_pem and settings.key_pem):
        return "tlsv13 alert certificate required"
    return None
