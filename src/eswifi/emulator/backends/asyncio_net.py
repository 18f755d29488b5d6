"""The real network backend: module sockets become host sockets, driven by asyncio.

:class:`AsyncioNetwork` owns every listening socket and connection the engine asked for,
keyed by the engine's ids. Requests never block: they start work on the event loop and
each result is reported later through ``post``. Listening sockets are created by hand so
that clients wait in the kernel backlog, in arrival order, until the engine asks for the
next one (:class:`~eswifi.emulator.messages.AcceptNext`). Client connections may run TLS
(:mod:`~eswifi.emulator.backends.tls_context`); UDP and UDP-Lite sockets are unconnected
datagram endpoints (UDP-Lite falls back to UDP where the OS has no UDP-Lite). Name lookups
go through the loop's resolver and pings through :mod:`~eswifi.emulator.backends.icmp`,
each bounded by the timeout its request carries.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import struct
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, cast

from eswifi.emulator import messages as m
from eswifi.emulator.backends import icmp, tls_context
from eswifi.errors import CredentialError, LocalProtocolError

Post = Callable[[m.NetEvent], None]


def set_keepalive(sock: socket.socket, keepalive: m.KeepAlive) -> None:
    """Turn on TCP keep-alive with the given timings (whole seconds, at least 1).

    Options the platform does not have are skipped.
    """
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    idle = getattr(socket, "TCP_KEEPIDLE", None)
    if idle is None:
        idle = getattr(socket, "TCP_KEEPALIVE", None)  # macOS spelling of the idle time
    settings = (
        (idle, _seconds(keepalive.idle_ms)),
        (getattr(socket, "TCP_KEEPINTVL", None), _seconds(keepalive.interval_ms)),
        (getattr(socket, "TCP_KEEPCNT", None), max(1, keepalive.probes)),
    )
    for option, value in settings:
        if option is not None:
            sock.setsockopt(socket.IPPROTO_TCP, option, value)


def _seconds(ms: int) -> int:
    return max(1, (ms + 999) // 1000)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _bind_client(sock: socket.socket, host: str, port: int) -> None:
    """Bind a client connection's local end to the module's port ``port`` (P2).

    The module has a port space of its own; the emulator shares the host's. When another
    program on the host holds ``port`` (often a connection of its own in TIME_WAIT), the
    connection goes out from a free port instead of failing, as it would on the module.
    """
    try:
        sock.bind((host, port))
    except OSError as exc:
        if not port or exc.errno != errno.EADDRINUSE:
            raise
        sock.bind((host, 0))


_LINGER_RESET = struct.pack("ii", 1, 0)
"""SO_LINGER on, zero seconds: close() sends RST instead of FIN."""


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


@dataclass(slots=True, kw_only=True)
class _Listener:
    sock: socket.socket
    keepalive: m.KeepAlive | None
    accept_task: asyncio.Task[None] | None = None


class _Connection(asyncio.Protocol):
    """One TCP connection: turns transport callbacks into network events."""

    def __init__(
        self,
        network: AsyncioNetwork,
        conn: int,
        *,
        opened: Callable[[asyncio.Transport], m.NetEvent],
        keepalive: m.KeepAlive | None,
    ) -> None:
        self._network = network
        self.conn = conn
        self._opened = opened
        self._keepalive = keepalive
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = network.loop.create_future()
        self._write_paused = False
        self._held: deque[bytes] = deque()
        self._closing_locally = False
        self._peer_closed = False

    # ---------------------------------------------------------------- asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self._keepalive is not None:
            sock = transport.get_extra_info("socket")
            with contextlib.suppress(OSError):
                set_keepalive(sock, self._keepalive)
        # Announced from here, not after the awaiting coroutine resumes: data can be
        # delivered before that, and the engine must learn of the connection first.
        self._network._opened(self, self._opened(transport))

    def data_received(self, data: bytes) -> None:
        if not self._closing_locally:
            self._network.post(m.Received(conn=self.conn, data=bytes(data)))

    def eof_received(self) -> bool:
        if not self._closing_locally and not self._peer_closed:
            self._peer_closed = True
            self._network.post(m.PeerClosed(conn=self.conn))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._network._forget(self)
        if not self._closing_locally:
            if self._held:
                self._held.clear()
                reason = _reason(exc) if exc is not None else "connection closed"
                self._network.post(m.SendFailed(conn=self.conn, reason=reason))
            if exc is not None:
                self._network.post(m.ConnectionLost(conn=self.conn, reason=_reason(exc)))
            elif not self._peer_closed:
                self._peer_closed = True
                self._network.post(m.PeerClosed(conn=self.conn))
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        while self._held and not self._write_paused and self.can_send():
            self._write(self._held.popleft())

    # ---------------------------------------------------------------- requests

    def can_send(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def send(self, data: bytes) -> None:
        if self._write_paused:
            self._held.append(data)
        else:
            self._write(data)

    def cancel_send(self) -> None:
        self._held.clear()

    def close(self, *, abort: bool) -> None:
        self._closing_locally = True
        self._held.clear()
        if self.transport is not None:
            if abort:
                # An abort resets the connection (RST), as lwIP's tcp_abort does.
                sock = self.transport.get_extra_info("socket")
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
                self.transport.abort()
            else:
                self.transport.close()

    def _write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)
        self._network.post(m.Sent(conn=self.conn, count=len(data)))


class _DatagramSocket(asyncio.DatagramProtocol):
    """One UDP socket: every datagram becomes a DatagramReceived event."""

    def __init__(self, network: AsyncioNetwork, conn: int) -> None:
        self._network = network
        self.conn = conn
        self.transport: asyncio.DatagramTransport | None = None
        self.closed: asyncio.Future[None] = network.loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (CPython's selector datagram transport does not subclass DatagramTransport.)
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        host, port = addr[0], addr[1]
        self._network.post(m.DatagramReceived(conn=self.conn, data=data, host=host, port=port))

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP errors (port unreachable …): UDP on the module reports nothing either

    def connection_lost(self, exc: Exception | None) -> None:
        self._network._forget_datagram(self)
        if not self.closed.done():
            self.closed.set_result(None)

    def send(self, data: bytes, host: str, port: int) -> None:
        assert self.transport is not None
        self.transport.sendto(data, (host, port))
        self._network.post(m.Sent(conn=self.conn, count=len(data)))


def _datagram_socket(transport: m.Transport, host: str) -> socket.socket:
    """A UDP socket, or a UDP-Lite one where the OS has it."""
    lite = getattr(socket, "IPPROTO_UDPLITE", None)
    if transport is m.Transport.UDP_LITE and lite is not None:
        with contextlib.suppress(OSError):
            return socket.socket(_family(host), socket.SOCK_DGRAM, lite)
    return socket.socket(_family(host), socket.SOCK_DGRAM)


class AsyncioNetwork:
    """Executes network requests with real sockets on the running event loop.

    Args:
        post: receives every network event, in the order it happened.
        task_group: where background work (accepting, connecting) runs; without one the
            backend creates and tracks its own tasks.

    Build it inside the running loop. Unknown connection or listener ids in requests are
    ignored (the engine may close something a request still refers to), except that
    requests which promise an answer (AcceptNext, Send) get a failure event.
    """

    def __init__(self, post: Post, *, task_group: asyncio.TaskGroup | None = None) -> None:
        self.post = post
        self.loop = asyncio.get_running_loop()
        self._task_group = task_group
        self._tasks: set[asyncio.Task[None]] = set()
        self._listeners: dict[int, _Listener] = {}
        self._conns: dict[int, _Connection] = {}
        self._live: set[_Connection] = set()
        self._pending: dict[int, asyncio.Task[None]] = {}
        self._datagrams: dict[int, _DatagramSocket] = {}
        self._closed = False

    def execute(self, effect: m.Effect) -> None:
        """Start one network request; its result is posted later."""
        if self._closed:
            return
        match effect:
            case m.Listen():
                self._listen(effect)
            case m.AcceptNext():
                self._accept_next(effect)
            case m.StopListening(listener=listener):
                self._stop_listening(listener)
            case m.Connect():
                self._connect(effect)
            case m.Send(conn=conn, data=data):
                connection = self._conns.get(conn)
                if connection is None or not connection.can_send():
                    self.post(m.SendFailed(conn=conn, reason="not connected"))
                else:
                    connection.send(data)
            case m.SendDatagram(conn=conn, data=data, host=host, port=port):
                self._send_datagram(conn, data, host, port)
            case m.CancelSend(conn=conn):
                if connection := self._conns.get(conn):
                    connection.cancel_send()
            case m.PauseReading(conn=conn):
                if (connection := self._conns.get(conn)) and connection.transport:
                    connection.transport.pause_reading()
            case m.ResumeReading(conn=conn):
                if (connection := self._conns.get(conn)) and connection.transport:
                    connection.transport.resume_reading()
            case m.CloseConnection(conn=conn, abort=abort):
                self._close_connection(conn, abort=abort)
            case m.Resolve():
                self._spawn(self._resolve(effect), effect.request)
            case m.Ping():
                self._spawn(self._ping(effect), effect.request)
            case _:
                raise LocalProtocolError(f"not a network request: {effect!r}")

    async def aclose(self) -> None:
        """Stop pending accepts and connects, close every listener and connection."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for listener in self._listeners.values():
            listener.sock.close()
        self._listeners.clear()
        datagrams = list(self._datagrams.values())
        for endpoint in datagrams:
            if endpoint.transport is not None:
                endpoint.transport.close()
        await asyncio.gather(*(endpoint.closed for endpoint in datagrams))
        while self._live:
            live = list(self._live)
            for connection in live:
                transport = connection.transport
                abort = transport is not None and transport.get_write_buffer_size() > 0
                connection.close(abort=abort)
            await asyncio.gather(*(connection.closed for connection in live))
        self._conns.clear()

    # ------------------------------------------------------------------ listeners

    def _listen(self, request: m.Listen) -> None:
        try:
            sock = socket.socket(_family(request.host), socket.SOCK_STREAM)
        except OSError as exc:
            self._listen_failed(request, exc, bind_failed=False)
            return
        step = "setup"
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if request.keepalive is not None:
                set_keepalive(sock, request.keepalive)
            sock.setblocking(False)
            step = "bind"
            sock.bind((request.host, request.port))
            step = "listen"
            sock.listen(request.backlog)
        except OSError as exc:
            sock.close()
            self._listen_failed(request, exc, bind_failed=step == "bind")
            return
        self._listeners[request.listener] = _Listener(sock=sock, keepalive=request.keepalive)
        self.post(m.Listening(listener=request.listener, port=sock.getsockname()[1]))

    def _listen_failed(self, request: m.Listen, exc: OSError, *, bind_failed: bool) -> None:
        self.post(
            m.ListenFailed(listener=request.listener, reason=_reason(exc), bind_failed=bind_failed)
        )

    def _accept_next(self, request: m.AcceptNext) -> None:
        listener = self._listeners.get(request.listener)
        if listener is None or listener.accept_task is not None:
            reason = "not listening" if listener is None else "an accept is already pending"
            self.post(m.AcceptFailed(listener=request.listener, conn=request.conn, reason=reason))
            return
        task = self._spawn(self._accept(request.listener, listener, request.conn), request.conn)
        listener.accept_task = task

        def done(_: asyncio.Task[None]) -> None:
            if listener.accept_task is task:
                listener.accept_task = None

        task.add_done_callback(done)

    async def _accept(self, listener_id: int, listener: _Listener, conn: int) -> None:
        try:
            sock, address = await self.loop.sock_accept(listener.sock)
        except OSError as exc:
            self.post(m.AcceptFailed(listener=listener_id, conn=conn, reason=_reason(exc)))
            return
        if listener.accept_task is asyncio.current_task():
            # The accept is over: the engine may ask for the next one as soon as it hears
            # of this connection, before this task has finished wrapping the socket.
            listener.accept_task = None
        accepted = m.Accepted(
            listener=listener_id, conn=conn, peer_host=address[0], peer_port=address[1]
        )
        try:
            await self.loop.connect_accepted_socket(
                lambda: _Connection(
                    self, conn, opened=lambda _: accepted, keepalive=listener.keepalive
                ),
                sock,
            )
        except OSError as exc:
            sock.close()
            self.post(m.AcceptFailed(listener=listener_id, conn=conn, reason=_reason(exc)))

    def _stop_listening(self, listener_id: int) -> None:
        listener = self._listeners.pop(listener_id, None)
        if listener is None:
            return
        if listener.accept_task is not None:
            listener.accept_task.cancel()
            # Unregister the pending accept now (asyncio would do it a loop turn later), so
            # the descriptor can be closed at once and its port and number reused safely.
            self.loop.remove_reader(listener.sock.fileno())
        listener.sock.close()

    # ------------------------------------------------------------------ connections

    def _connect(self, request: m.Connect) -> None:
        if request.transport is m.Transport.TCP:
            self._spawn(self._open(request), request.conn)
        else:
            self._spawn(self._open_datagram(request), request.conn)

    async def _open(self, request: m.Connect) -> None:
        def opened(transport: asyncio.Transport) -> m.NetEvent:
            local_port = transport.get_extra_info("sockname")[1]
            return m.Connected(conn=request.conn, local_port=local_port)

        context = None
        if request.tls is not None:
            try:
                context = tls_context.client_context(request.tls)
            except CredentialError as exc:
                self.post(m.ConnectFailed(conn=request.conn, reason=_reason(exc)))
                return
        sock = None
        try:
            sock = socket.socket(_family(request.host), socket.SOCK_STREAM)
            sock.setblocking(False)
            if request.local_port:
                # A fixed local port (P2) is reused at once, as lwIP's SO_REUSE allows.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if request.local_host or request.local_port:
                _bind_client(sock, request.local_host or "0.0.0.0", request.local_port)
            await self.loop.sock_connect(sock, (request.host, request.port))
            handed, sock = sock, None
            await self.loop.create_connection(
                lambda: _Connection(self, request.conn, opened=opened, keepalive=request.keepalive),
                sock=handed,
                ssl=context,
                server_hostname=tls_context.server_hostname(request.tls) if request.tls else None,
            )
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            self.post(m.ConnectFailed(conn=request.conn, reason=_reason(exc)))
        finally:
            if sock is not None:
                sock.close()

    async def _open_datagram(self, request: m.Connect) -> None:
        try:
            sock = _datagram_socket(request.transport, request.local_host)
        except OSError as exc:
            self.post(m.ConnectFailed(conn=request.conn, reason=_reason(exc)))
            return
        try:
            sock.setblocking(False)
            sock.bind((request.local_host or "0.0.0.0", request.local_port))
            _, endpoint = await self.loop.create_datagram_endpoint(
                lambda: _DatagramSocket(self, request.conn), sock=sock
            )
        except OSError as exc:
            sock.close()
            self.post(m.ConnectFailed(conn=request.conn, reason=_reason(exc)))
            return
        except BaseException:
            sock.close()
            raise
        assert endpoint.transport is not None
        if self._closed:
            endpoint.transport.close()
            return
        self._datagrams[request.conn] = endpoint
        self.post(m.Connected(conn=request.conn, local_port=sock.getsockname()[1]))

    def _send_datagram(self, conn: int, data: bytes, host: str, port: int) -> None:
        endpoint = self._datagrams.get(conn)
        if endpoint is None or endpoint.transport is None or endpoint.transport.is_closing():
            self.post(m.SendFailed(conn=conn, reason="not open"))
            return
        try:
            endpoint.send(data, host, port)
        except (OSError, ValueError) as exc:
            self.post(m.SendFailed(conn=conn, reason=_reason(exc)))

    def _forget_datagram(self, endpoint: _DatagramSocket) -> None:
        if self._datagrams.get(endpoint.conn) is endpoint:
            del self._datagrams[endpoint.conn]

    def _close_connection(self, conn: int, *, abort: bool) -> None:
        pending = self._pending.pop(conn, None)
        if pending is not None:
            pending.cancel()
        connection = self._conns.pop(conn, None)
        if connection is not None:
            connection.close(abort=abort)
        endpoint = self._datagrams.pop(conn, None)
        if endpoint is not None and endpoint.transport is not None:
            endpoint.transport.close()

    def _opened(self, connection: _Connection, event: m.NetEvent) -> None:
        self._live.add(connection)
        if self._closed:
            connection.close(abort=True)
            return
        self._conns[connection.conn] = connection
        self.post(event)

    def _forget(self, connection: _Connection) -> None:
        self._live.discard(connection)
        if self._conns.get(connection.conn) is connection:
            del self._conns[connection.conn]

    # ------------------------------------------------------------------ lookups

    async def _resolve(self, request: m.Resolve) -> None:
        try:
            async with asyncio.timeout(request.timeout_ms / 1000):
                infos = await self.loop.getaddrinfo(
                    request.name, None, family=socket.AF_INET, type=socket.SOCK_STREAM
                )
        except (OSError, TimeoutError, UnicodeError) as exc:
            self.post(m.ResolveFailed(request=request.request, reason=_reason(exc)))
            return
        address = str(infos[0][4][0]) if infos else None
        if address is None:
            self.post(m.ResolveFailed(request=request.request, reason="no address"))
        else:
            self.post(m.Resolved(request=request.request, address=address))

    async def _ping(self, request: m.Ping) -> None:
        try:
            async with asyncio.timeout(request.timeout_ms / 1000):
                rtt_ms = await icmp.echo(request.host)
        except (OSError, TimeoutError) as exc:
            self.post(m.PingFailed(request=request.request, reason=_reason(exc)))
            return
        self.post(m.PingReply(request=request.request, rtt_ms=rtt_ms))

    # ------------------------------------------------------------------ tasks

    def _spawn(self, work: Coroutine[Any, Any, None], conn: int) -> asyncio.Task[None]:
        if self._task_group is not None:
            task = self._task_group.create_task(work)
        else:
            task = self.loop.create_task(work)
        self._tasks.add(task)
        self._pending[conn] = task

        def done(_: asyncio.Task[None]) -> None:
            self._tasks.discard(task)
            if self._pending.get(conn) is task:
                del self._pending[conn]

        task.add_done_callback(done)
        return task
