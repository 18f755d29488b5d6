"""An in-memory network for deterministic tests, itself sans-I/O.

:class:`FakeNetwork` executes the engine's effects and produces the network events a real
backend would, with no sockets and no clock of its own: the caller passes ``now`` and
fires :meth:`FakeNetwork.handle_timer` at :meth:`FakeNetwork.next_deadline` (keep-alive
expiry). Tests play the remote side through :class:`FakePeer` objects: connect to a
module server, send, close, reset or vanish, and read what the module sent. Name lookups
and pings are scripted: :attr:`FakeNetwork.hosts` and :attr:`FakeNetwork.ping_times`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from eswifi.emulator import messages as m

SEGMENT = 8192
"""Largest chunk a fake peer delivers in one event."""
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
                for peer in entry.waiting if entry else ():
                    peer.closed_by_module = True
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
            case m.Connect(conn=conn):
                self._post(m.ConnectFailed(conn=conn, reason="connection refused"))
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
            case m.CancelSend() | m.HostWrite() | m.SaveSettings():
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
            self._post(m.PeerClosed(conn=peer.conn))

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
