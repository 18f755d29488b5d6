"""BSD-style sockets over the module's AT commands, behaving like CPython's where possible.

:class:`EsWifiSocket` maps each call onto a command sequence on its module socket
(docs/protocol.md §2.9; ``docs/client.md`` has the full table):

============================  ===============================================
``connect((ip, port))``       ``P1`` ``PK`` ``P2`` ``P3`` ``P4`` ``P6=1``
``bind``/``listen``           ``P2`` ``P8`` ``P5=11`` (multi-accept server)
``accept()``                  poll ``P?`` for the accepted peer; ``P5=10`` on close
``send``/``sendall``          ``S3=<n>`` per 1460 bytes
``recv``/``recv_into``        ``R1`` ``R2`` ``R0`` (polled; there is no data event)
``sendto``/``recvfrom``       UDP: ``P3``/``P4`` + ``S3``; ``R0`` + ``P?`` for the sender
``close()``                   ``P6=0`` / ``P5=10`` / ``P5=0``
============================  ===============================================

Timeouts follow CPython: ``None`` blocks, ``0`` raises :class:`BlockingIOError` when
nothing is ready, a float raises :class:`TimeoutError` when it runs out. Blocking waits
are cut into short module waits (``R2`` ≤ :data:`POLL_SLICE`) so that other threads'
commands get the link in between. Each command sequence holds the module's command lock.
"""

from __future__ import annotations

import builtins
import errno
import io
import socket as _socket
from collections import deque
from enum import Enum
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from eswifi.client.answers import command_error
from eswifi.client.timeouts import Deadline, check_timeout, to_ms
from eswifi.errors import (
    ConnectionRefused,
    ConnectionReset,
    EsWifiError,
    RemoteProtocolError,
    SocketError,
    SocketTimeout,
    WouldBlock,
)
from eswifi.wire.replies import MAX_READ

if TYPE_CHECKING:
    from typing_extensions import Buffer  # collections.abc.Buffer from Python 3.12

    from eswifi.client.module import Module

MAX_PAYLOAD = 1460
"""Largest S3 payload; longer sends are split."""
POLL_SLICE = 0.2
"""Longest single module wait (R2) of a blocking receive, in seconds."""
ACCEPT_SLICE = 0.5
"""Longest wait for an ``Accepted`` message before ``P?`` is asked again."""
REPLY_MARGIN = 5.0
"""Seconds allowed on top of a module-side wait for its reply to arrive."""
CONNECT_TIMEOUT = 30.0
"""How long ``connect()`` waits for the module when the socket has no timeout."""
CONNECT_ATTEMPTS = 3
"""Local ports tried by ``connect()`` on an unbound socket before it reports a refusal."""
LISTEN_RETRIES = 8
"""Random ports tried by ``listen()`` on a socket bound to port 0."""
MAX_BACKLOG = 6
"""``listen()`` clamps its backlog to 1..6, the range every firmware accepts for P8."""

_TCP = 0
_UDP = 1


class _State(Enum):
    FRESH = "fresh"
    BOUND = "bound"
    LISTENING = "listening"
    CONNECTED = "connected"
    CLOSED = "closed"


class EsWifiSocket:
    """A socket on one of the module's four; create it with :meth:`Module.socket`."""

    def __init__(
        self,
        module: Module,
        slot: int,
        *,
        family: int = _socket.AF_INET,
        type: int = _socket.SOCK_STREAM,
        proto: int = 0,
        accepted_from: EsWifiSocket | None = None,
    ) -> None:
        self._module = module
        self.slot = slot
        """The module socket number (P0)."""
        self._family = family
        self._type = type
        self._proto = proto
        self._timeout: float | None = _socket.getdefaulttimeout()
        self._state = _State.FRESH
        self._local_port: int | None = None
        self._port_chosen = False
        self._peer: tuple[str, int] | None = None
        self._rx = bytearray()
        self._datagrams: deque[tuple[bytes, tuple[str, int]]] = deque()
        self._eof = False
        self._gone = False
        self._read_shut = False
        self._write_shut = False
        self._options: dict[tuple[int, int], int] = {}
        self._listener = accepted_from
        self._current: EsWifiSocket | None = None
        self._udp_server = False
        self._udp_client = False
        self._io_refs = 0
        self._closing = False

    # ------------------------------------------------------------------ identity

    @property
    def family(self) -> _socket.AddressFamily:
        return _socket.AddressFamily(self._family)

    @property
    def type(self) -> _socket.SocketKind:
        return _socket.SocketKind(self._type)

    @property
    def proto(self) -> int:
        return self._proto

    @property
    def module(self) -> Module:
        return self._module

    def fileno(self) -> int:
        """Always -1: a module socket has no file descriptor (see ``eswifi.client.readiness``)."""
        return -1

    def __repr__(self) -> str:
        parts = [f"slot={self.slot}", f"state={self._state.value}", f"type={self.type.name}"]
        if self._local_port is not None:
            parts.append(f"laddr={self._local_port}")
        if self._peer is not None:
            parts.append(f"raddr={self._peer[0]}:{self._peer[1]}")
        return f"<EsWifiSocket {' '.join(parts)}>"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: builtins.type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ timeouts

    def settimeout(self, value: float | None) -> None:
        """``None`` blocks, ``0`` never waits, a number of seconds bounds each call."""
        self._timeout = check_timeout(value)

    def gettimeout(self) -> float | None:
        return self._timeout

    def setblocking(self, flag: bool) -> None:
        self._timeout = None if flag else 0.0

    def getblocking(self) -> bool:
        return self._timeout != 0.0

    # ------------------------------------------------------------------ options

    def setsockopt(self, level: int, optname: int, value: int | Buffer, optlen: Any = None) -> None:
        """``SO_KEEPALIVE`` and ``TCP_KEEPIDLE`` become ``PK`` (applied at connect/listen);
        ``SO_REUSEADDR`` and ``TCP_NODELAY`` are accepted and have no effect.

        Raises:
            SocketError: ``ENOPROTOOPT`` for any other option.
        """
        self._check_open()
        if not isinstance(value, int):
            value = int.from_bytes(bytes(memoryview(value)), "little", signed=True)
        key = (level, optname)
        if key not in _OPTIONS:
            raise SocketError(errno.ENOPROTOOPT, "Protocol not available")
        if key == (_socket.IPPROTO_TCP, _TCP_KEEPIDLE) and not 1 <= value <= 7200:
            raise SocketError(errno.EINVAL, "Invalid argument (idle time must be 1..7200 s)")
        self._options[key] = value

    def getsockopt(self, level: int, optname: int, buflen: int | None = None) -> int:
        self._check_open()
        key = (level, optname)
        if key == (_socket.SOL_SOCKET, _socket.SO_TYPE):
            return self._type
        if key == (_socket.SOL_SOCKET, _socket.SO_ERROR):
            return 0
        if key not in _OPTIONS:
            raise SocketError(errno.ENOPROTOOPT, "Protocol not available")
        return self._options.get(key, _OPTIONS[key])

    # ------------------------------------------------------------------ addresses

    def getsockname(self) -> tuple[str, int]:
        """``(module IP, local port)``; ``("0.0.0.0", 0)`` before bind/connect."""
        self._check_open()
        if self._local_port is None:
            return ("0.0.0.0", 0)
        return (self._module.ip(), self._local_port)

    def getpeername(self) -> tuple[str, int]:
        self._check_open()
        if self._peer is None or self._state is not _State.CONNECTED:
            raise SocketError(errno.ENOTCONN, "Transport endpoint is not connected")
        return self._peer

    # ------------------------------------------------------------------ connecting

    def bind(self, address: tuple[str, int]) -> None:
        """Choose the local port (port 0: a random one from 49152–65535).

        The module can only bind its own address: ``""``, ``"0.0.0.0"``, its IP, or a
        loopback address when its IP is one. A UDP socket starts receiving at once
        (``P5=1``).

        Raises:
            SocketError: ``EINVAL`` if already bound, ``EADDRNOTAVAIL`` for a foreign
                address, ``EADDRINUSE`` when a UDP port is taken.
        """
        self._check_open()
        host, port = _split_address(address, "bind")
        if self._state is not _State.FRESH or self._udp_client:
            raise SocketError(errno.EINVAL, "Invalid argument (already bound)")
        if host not in ("", "0.0.0.0"):
            own = self._module.ip()
            if host != own and not (host.startswith("127.") and own.startswith("127.")):
                raise SocketError(errno.EADDRNOTAVAIL, "Cannot assign requested address")
        self._port_chosen = port == 0
        self._local_port = port or self._module._pick_port()
        self._state = _State.BOUND
        if self._type == _socket.SOCK_DGRAM:
            self._start_udp_server()

    def listen(self, backlog: int = MAX_BACKLOG) -> None:
        """Start the module's multi-accept server (``P8``, ``P5=11``) on the bound port.

        Clients can connect from now on; each :meth:`accept` hands one of them out.

        Raises:
            SocketError: ``EOPNOTSUPP`` on UDP, ``EINVAL`` when connected,
                ``EADDRINUSE`` when the module cannot listen on the port.
        """
        self._check_open()
        if self._type != _socket.SOCK_STREAM:
            raise SocketError(errno.EOPNOTSUPP, "Operation not supported")
        if self._state is _State.LISTENING:
            return
        if self._state is _State.FRESH:
            self.bind(("", 0))
        if self._state is not _State.BOUND:
            raise SocketError(errno.EINVAL, "Invalid argument")
        backlog = max(1, min(MAX_BACKLOG, backlog))
        module = self._module
        with module._lock:
            for _attempt in range(LISTEN_RETRIES):
                self._prepare(_TCP)
                assert self._local_port is not None
                module._set(self.slot, "P2", self._local_port)
                module._set(self.slot, "P8", backlog)
                reply = module._run("P5", 11, check=False)
                if reply.ok:
                    self._state = _State.LISTENING
                    return
                module._forget(self.slot, "P2")
                if not self._port_chosen:
                    break
                self._local_port = module._pick_port()
        detail = reply.text.strip() or "the module refused to listen"
        raise SocketError(errno.EADDRINUSE, f"Address already in use ({detail})")

    def accept(self) -> tuple[EsWifiSocket, tuple[str, int]]:
        """Wait for a client; returns ``(connection, (ip, port))`` like CPython.

        The module serves one client per listening socket at a time: close the previous
        connection (``P5=10``) before accepting the next.

        Raises:
            SocketError: ``EINVAL`` when not listening; ``EBUSY`` while the previous
                accepted connection is still open.
            BlockingIOError: non-blocking and no client is waiting.
            TimeoutError: no client within the timeout.
        """
        self._check_open()
        if self._state is not _State.LISTENING:
            raise SocketError(errno.EINVAL, "Invalid argument (not listening)")
        if self._current is not None:
            raise SocketError(
                errno.EBUSY,
                "Device or resource busy: close the previous accepted connection first "
                "(the module serves one client per listening socket)",
            )
        module = self._module
        deadline = Deadline(module.channel.link.monotonic(), self._timeout)
        while True:
            peer = self._accepted_peer()
            if peer is not None:
                break
            if self._timeout == 0:
                raise WouldBlock(errno.EAGAIN, "Resource temporarily unavailable")
            remaining = deadline.remaining(module.channel.link.monotonic())
            if remaining == 0:
                raise SocketTimeout("timed out")
            module._idle(ACCEPT_SLICE if remaining is None else min(ACCEPT_SLICE, remaining))
        conn = EsWifiSocket(
            module, self.slot, family=self._family, type=self._type, accepted_from=self
        )
        conn._state = _State.CONNECTED
        conn._peer = peer
        conn._local_port = self._local_port
        self._current = conn
        return conn, peer

    def connect(self, address: tuple[str, int]) -> None:
        """Connect to ``(host, port)``; a host name is resolved by the module (``D0``).

        A UDP socket only records the default destination.

        Raises:
            ConnectionRefusedError: the module could not connect.
            SocketError: ``EISCONN`` when already connected, ``EINVAL`` when listening.
            socket.gaierror: the name cannot be resolved.
        """
        self._check_open()
        host, port = _split_address(address, "connect")
        if self._state is _State.CONNECTED:
            raise SocketError(errno.EISCONN, "Transport endpoint is already connected")
        if self._state is _State.LISTENING:
            raise SocketError(errno.EINVAL, "Invalid argument")
        ip = self._module.resolve(host)
        if self._type == _socket.SOCK_DGRAM:
            self._udp_target(ip, port)
            self._peer = (ip, port)
            self._state = _State.CONNECTED
            return
        module = self._module
        timeout = CONNECT_TIMEOUT if not self._timeout else self._timeout + REPLY_MARGIN
        clock = module.channel.link.monotonic
        deadline = clock() + timeout
        with module._lock:
            for _attempt in range(CONNECT_ATTEMPTS):
                self._prepare(_TCP)
                local = self._local_port or module._pick_port()
                module._set(self.slot, "P2", local)
                module._set(self.slot, "P3", ip)
                module._set(self.slot, "P4", port)
                reply = module._run("P6", 1, check=False, timeout=max(0.1, deadline - clock()))
                # A random local port may be taken where the module's stack runs (the
                # emulator shares the host's ports): try another while time remains.
                if reply.ok or self._local_port is not None or clock() >= deadline:
                    break
                module._forget(self.slot, "P2")
        if not reply.ok:
            detail = reply.text.strip().replace("\r\n", " / ")
            raise ConnectionRefused(errno.ECONNREFUSED, f"Connection refused ({detail})")
        self._local_port = local
        self._peer = (ip, port)
        self._state = _State.CONNECTED

    def connect_ex(self, address: tuple[str, int]) -> int:
        """Like :meth:`connect`, returning an errno instead of raising ``OSError``."""
        try:
            self.connect(address)
        except OSError as exc:
            return exc.errno or errno.EIO
        return 0

    # ------------------------------------------------------------------ receiving

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """Up to ``bufsize`` bytes; ``b""`` once the peer closed (the module's ``-1``).

        ``MSG_PEEK`` and ``MSG_DONTWAIT`` are supported.

        Raises:
            BlockingIOError, TimeoutError: as CPython for non-blocking / timed sockets.
            SocketError: ``ENOTCONN`` when not connected.
        """
        if bufsize < 0:
            raise ValueError("negative buffersize in recv")
        if self._type == _socket.SOCK_DGRAM:
            return self._recv_datagram(bufsize, flags)[0]
        self._check_flags(flags)
        self._check_connected()
        if bufsize == 0 or self._read_shut:
            return b""
        if not self._rx and not self._eof:
            self._fill(0.0 if flags & _socket.MSG_DONTWAIT else self._timeout)
        data = bytes(self._rx[:bufsize])
        if not flags & _socket.MSG_PEEK:
            del self._rx[:bufsize]
        return data

    def recv_into(self, buffer: Buffer, nbytes: int = 0, flags: int = 0) -> int:
        """Like :meth:`recv`, into a writable buffer; returns the byte count."""
        view = memoryview(buffer).cast("B")
        if nbytes < 0:
            raise ValueError("negative buffersize in recv_into")
        if nbytes > len(view):
            raise ValueError("buffer too small for requested bytes")
        data = self.recv(nbytes or len(view), flags)
        view[: len(data)] = data
        return len(data)

    def recvfrom(self, bufsize: int, flags: int = 0) -> tuple[bytes, tuple[str, int] | None]:
        """``(data, address)``; for UDP the sender, for TCP None (as CPython on Linux)."""
        if self._type == _socket.SOCK_DGRAM:
            return self._recv_datagram(bufsize, flags)
        return self.recv(bufsize, flags), None

    def recvfrom_into(
        self, buffer: Buffer, nbytes: int = 0, flags: int = 0
    ) -> tuple[int, tuple[str, int] | None]:
        view = memoryview(buffer).cast("B")
        data, address = self.recvfrom(nbytes or len(view), flags)
        view[: len(data)] = data
        return len(data), address

    # ------------------------------------------------------------------ sending

    def send(self, data: Buffer, flags: int = 0) -> int:
        """Send bytes (``S3``, split into 1460-byte commands); returns how many went out.

        Raises:
            ConnectionResetError: the module answered ``-1`` (connection lost).
            SocketError: ``ENOTCONN`` / ``EDESTADDRREQ`` when there is no peer,
                ``EMSGSIZE`` for a UDP datagram over 1460 bytes.
        """
        self._check_flags(flags & ~_socket.MSG_DONTWAIT)
        view = memoryview(data).cast("B")
        if self._type == _socket.SOCK_DGRAM:
            if self._peer is None:
                raise SocketError(errno.EDESTADDRREQ, "Destination address required")
            return self._send_datagram(view, self._peer)
        self._check_connected()
        if self._write_shut:
            raise SocketError(errno.EPIPE, "Broken pipe")
        total = 0
        if not view:
            return 0
        for start in range(0, len(view), MAX_PAYLOAD):
            chunk = bytes(view[start : start + MAX_PAYLOAD])
            sent = self._send_chunk(chunk)
            total += sent
            if sent < len(chunk):
                break
        return total

    def sendall(self, data: Buffer, flags: int = 0) -> None:
        """Send every byte (several ``S3`` when needed).

        Raises:
            ConnectionResetError, TimeoutError: as CPython.
        """
        view = memoryview(data).cast("B")
        module = self._module
        deadline = Deadline(module.channel.link.monotonic(), self._timeout or None)
        sent = self.send(view, flags)
        while sent < len(view):
            if deadline.expired(module.channel.link.monotonic()):
                raise SocketTimeout("timed out")
            sent += self.send(view[sent:], flags)

    def sendto(self, data: Buffer, *args: Any) -> int:
        """``sendto(data, address)`` or ``sendto(data, flags, address)``; UDP only needs the
        address, a connected TCP socket ignores it as CPython does."""
        if len(args) == 1:
            flags, address = 0, args[0]
        elif len(args) == 2:
            flags, address = args
        else:
            raise TypeError(f"sendto() takes 2 or 3 arguments ({len(args) + 1} given)")
        if self._type != _socket.SOCK_DGRAM:
            if self._state is not _State.CONNECTED:
                raise SocketError(errno.ENOTCONN, "Transport endpoint is not connected")
            return self.send(data, flags)
        self._check_flags(flags & ~_socket.MSG_DONTWAIT)
        self._check_open()
        host, port = _split_address(address, "sendto")
        ip = self._module.resolve(host)
        return self._send_datagram(memoryview(data).cast("B"), (ip, port))

    # ------------------------------------------------------------------ closing

    def shutdown(self, how: int) -> None:
        """``SHUT_RD`` stops receiving locally; ``SHUT_WR``/``SHUT_RDWR`` close the module's
        connection (it has no half-close): the peer sees end-of-file and later receives
        return what was already buffered, then ``b""``."""
        self._check_open()
        if how not in (_socket.SHUT_RD, _socket.SHUT_WR, _socket.SHUT_RDWR):
            raise ValueError("invalid shutdown mode")
        if self._state is not _State.CONNECTED:
            raise SocketError(errno.ENOTCONN, "Transport endpoint is not connected")
        if how in (_socket.SHUT_RD, _socket.SHUT_RDWR):
            self._read_shut = True
        if how in (_socket.SHUT_WR, _socket.SHUT_RDWR) and not self._write_shut:
            self._write_shut = True
            self._eof = True
            self._close_connection()

    def close(self) -> None:
        """Close the socket; the module socket is free again (idempotent).

        Module errors while closing are ignored, as CPython ignores a peer's reset.
        """
        self._closing = True
        if self._io_refs <= 0:
            self._real_close()

    def _real_close(self) -> None:
        if self._state is _State.CLOSED:
            return
        module = self._module
        try:
            with module._lock:
                if self._listener is not None:
                    if not self._write_shut:
                        self._close_connection()
                else:
                    if self._current is not None:
                        self._current._gone = True
                        self._current._eof = True
                        self._current = None
                    if not self._gone and not module.channel.closed:
                        self._teardown()
        except (EsWifiError, OSError):
            # A dead link or a refused command must not mask the caller's own error.
            pass
        finally:
            self._state = _State.CLOSED
            if self._listener is None:
                module._release(self)

    def detach(self) -> int:
        raise SocketError(errno.EOPNOTSUPP, "a module socket has no file descriptor to detach")

    def makefile(
        self,
        mode: str = "r",
        buffering: int | None = None,
        *,
        encoding: str | None = None,
        errors: str | None = None,
        newline: str | None = None,
    ) -> Any:
        """A file object over the socket, exactly as CPython's ``socket.makefile``."""
        if not set(mode) <= {"r", "w", "b"}:
            raise ValueError(f"invalid mode {mode!r} (only r, w, b allowed)")
        writing = "w" in mode
        reading = "r" in mode or not writing
        binary = "b" in mode
        rawmode = ("r" if reading else "") + ("w" if writing else "")
        # SocketIO duck-types its socket (recv_into, send, _decref_socketios …).
        raw = _socket.SocketIO(self, rawmode)  # type: ignore[arg-type]
        self._io_refs += 1
        if buffering is None or buffering < 0:
            buffering = io.DEFAULT_BUFFER_SIZE
        if buffering == 0:
            if not binary:
                raise ValueError("unbuffered streams must be binary")
            return raw
        buffer: io.BufferedIOBase
        if reading and writing:
            buffer = io.BufferedRWPair(raw, raw, buffering)
        elif reading:
            buffer = io.BufferedReader(raw, buffering)
        else:
            buffer = io.BufferedWriter(raw, buffering)
        if binary:
            return buffer
        # typeshed wants a buffer with ``name``, which BufferedRWPair lacks; TextIOWrapper
        # only reads it when asked (CPython's socket.makefile wraps the same pair).
        text = io.TextIOWrapper(buffer, io.text_encoding(encoding), errors, newline)  # type: ignore[type-var]
        text.mode = mode  # type: ignore[misc]
        return text

    def _decref_socketios(self) -> None:
        if self._io_refs > 0:
            self._io_refs -= 1
        if self._closing:
            self.close()

    # ------------------------------------------------------------------ readiness

    def _readable_now(self) -> bool:
        """Whether a receive (or accept) would not block; may read into the local buffer."""
        if self._state is _State.LISTENING:
            return self._current is None and self._accepted_peer() is not None
        if self._state is not _State.CONNECTED and not self._udp_server:
            return False
        if self._rx or self._eof or self._datagrams or self._read_shut:
            return True
        self._read_once(1)
        return bool(self._rx or self._eof or self._datagrams)

    def _writable_now(self) -> bool:
        return self._state is _State.CONNECTED or self._type == _socket.SOCK_DGRAM

    # ------------------------------------------------------------------ internals

    def _check_open(self) -> None:
        if self._state is _State.CLOSED or self._closing:
            raise SocketError(errno.EBADF, "Bad file descriptor")

    def _check_connected(self) -> None:
        self._check_open()
        if self._state is not _State.CONNECTED:
            raise SocketError(errno.ENOTCONN, "Transport endpoint is not connected")

    @staticmethod
    def _check_flags(flags: int) -> None:
        if flags & ~(_socket.MSG_PEEK | _socket.MSG_DONTWAIT):
            raise SocketError(errno.EOPNOTSUPP, "Operation not supported (flags)")

    def _prepare(self, protocol: int) -> None:
        """Protocol and keep-alive registers before a client or server starts."""
        module = self._module
        module._set(self.slot, "P1", protocol)
        if protocol == _TCP:
            keepalive = self._options.get((_socket.SOL_SOCKET, _socket.SO_KEEPALIVE), 0)
            if keepalive:
                idle = self._options.get((_socket.IPPROTO_TCP, _TCP_KEEPIDLE), 7200)
                module._set(self.slot, "PK", 1, idle * 1000)
            else:
                module._set(self.slot, "PK", 0)

    def _fill(self, timeout: float | None) -> None:
        """Read from the module until data or end-of-file, honouring the timeout."""
        module = self._module
        clock = module.channel.link.monotonic
        deadline = Deadline(clock(), timeout)
        while True:
            remaining = deadline.remaining(clock())
            wait = POLL_SLICE if remaining is None else min(POLL_SLICE, remaining)
            self._read_once(to_ms(wait))
            if self._rx or self._eof or self._datagrams:
                return
            if timeout == 0:
                raise WouldBlock(errno.EAGAIN, "Resource temporarily unavailable")
            if deadline.expired(clock()):
                raise SocketTimeout("timed out")

    def _read_once(self, wait_ms: int) -> None:
        """One ``R4`` (or ``R0``) with ``R2=wait_ms``; data goes to the local buffer."""
        if self._gone:
            self._eof = True
            return
        module = self._module
        with module._lock:
            module._set(self.slot, "R1", MAX_READ)
            module._set(self.slot, "R2", wait_ms)
            module._select(self.slot)
            code = module._read_code
            timeout = wait_ms / 1000 + REPLY_MARGIN
            reply = module._run(code, check=False, timeout=timeout, read_limit=MAX_READ)
            if code == "R4" and not reply.ok and "unknown command" in reply.message.lower():
                module._read_code = "R0"
                reply = module._run("R0", check=False, timeout=timeout, read_limit=MAX_READ)
            if not reply.ok:
                if reply.minus_one or not reply.body.strip():
                    self._eof = True
                    return
                raise command_error(reply)
            if not reply.body:
                return
            if self._type == _socket.SOCK_DGRAM:
                self._datagrams.append((reply.body, self._last_sender()))
            else:
                self._rx += reply.body

    def _send_chunk(self, chunk: bytes) -> int:
        if self._gone:
            raise ConnectionReset(errno.ECONNRESET, "Connection reset by peer")
        module = self._module
        with module._lock:
            module._select(self.slot)
            reply = module._run("S3", len(chunk), payload=chunk, check=False)
        value = reply.value.strip()
        if reply.ok and value.isdigit() and int(value) <= len(chunk):
            return int(value)
        if reply.minus_one or (not reply.ok and not value.isdigit()):
            self._eof = True
            raise ConnectionReset(errno.ECONNRESET, "Connection reset by peer (module: -1)")
        if not value.isdigit() or int(value) > len(chunk):
            # Not a byte count for this send: the reply cannot be trusted, nor the link.
            module.channel.lose_step()
            raise RemoteProtocolError(
                f"S3={len(chunk)} answered {reply.raw[:80]!r}, not a count of bytes sent"
            )
        sent = int(value)
        if sent == 0:
            if self._timeout == 0:
                raise WouldBlock(errno.EAGAIN, "Resource temporarily unavailable")
            raise SocketTimeout("timed out (the module's send timeout expired)")
        return sent

    def _close_connection(self) -> None:
        """Close the connection on the module, keeping a listener's server running."""
        module = self._module
        if self._gone or module.channel.closed:
            return
        with module._lock:
            if self._listener is not None:
                listener = self._listener
                if listener._current is self:
                    listener._current = None
                    module._select(self.slot)
                    module._run("P5", 10)
            else:
                module._select(self.slot)
                module._run("P6", 0)

    def _teardown(self) -> None:
        module = self._module
        if self._state is _State.LISTENING or self._udp_server:
            module._select(self.slot)
            module._run("P5", 0)
        if (self._state is _State.CONNECTED and not self._write_shut) or self._udp_client:
            module._select(self.slot)
            module._run("P6", 0)

    def _network_lost(self) -> None:
        """The module left the network or was reset: nothing of this socket survives."""
        self._gone = True
        self._eof = True
        if self._state in (_State.LISTENING, _State.BOUND):
            self._state = _State.CLOSED
            self._module._release(self)

    def _accepted_peer(self) -> tuple[str, int] | None:
        """The client the module's server holds now (``P?`` fields 2 and 5), if any."""
        fields = self._show_transport()
        if len(fields) < 5 or fields[1] in ("", "0.0.0.0"):
            return None
        try:
            return fields[1], int(fields[4])
        except ValueError:
            return None

    def _show_transport(self) -> list[str]:
        module = self._module
        with module._lock:
            module._select(self.slot)
            return module._run("P?").value.split(",")

    # ------------------------------------------------------------------ UDP

    def _start_udp_server(self) -> None:
        module = self._module
        with module._lock:
            for _attempt in range(LISTEN_RETRIES):
                self._prepare(_UDP)
                assert self._local_port is not None
                module._set(self.slot, "P2", self._local_port)
                reply = module._run("P5", 1, check=False)
                if reply.ok or not self._port_chosen:
                    break
                # A random port taken where the module's stack runs: take another.
                module._forget(self.slot, "P2")
                self._local_port = module._pick_port()
        if not reply.ok:
            raise SocketError(errno.EADDRINUSE, "Address already in use")
        self._udp_server = True

    def _udp_target(self, ip: str, port: int) -> None:
        """Point the module socket's datagrams at ``ip:port``, opening it if needed.

        Unbound sockets are opened as UDP clients with the Mbed workaround for the
        firmware's source-port quirk (docs/protocol.md §2.2 P6): ``P4=<local>``, ``P6=1``, then
        ``P4=<destination>``, so the local port is known whichever way the module binds.
        """
        module = self._module
        with module._lock:
            if not self._udp_server and not self._udp_client:
                for _attempt in range(CONNECT_ATTEMPTS):
                    local = self._local_port or module._pick_port()
                    self._prepare(_UDP)
                    module._set(self.slot, "P2", local)
                    module._set(self.slot, "P3", ip)
                    module._set(self.slot, "P4", local)
                    reply = module._run("P6", 1, check=False)
                    if reply.ok or self._local_port is not None:
                        break
                    module._forget(self.slot, "P2")
                if not reply.ok:
                    raise SocketError(errno.ENETUNREACH, "Network is unreachable")
                self._udp_client = True
                self._local_port = local
                if self._state is _State.FRESH:
                    self._state = _State.BOUND
            module._set(self.slot, "P3", ip)
            module._set(self.slot, "P4", port)

    def _send_datagram(self, view: memoryview, address: tuple[str, int]) -> int:
        if len(view) > MAX_PAYLOAD:
            raise SocketError(errno.EMSGSIZE, "Message too long (the module sends 1460 bytes)")
        module = self._module
        with module._lock:
            self._udp_target(*address)
            module._select(self.slot)
            reply = module._run("S3", len(view), payload=bytes(view), check=False)
        value = reply.value.strip()
        if reply.ok and value.isdigit():
            return int(value)
        raise SocketError(errno.EIO, f"the module did not send the datagram ({value or 'ERROR'})")

    def _recv_datagram(self, bufsize: int, flags: int) -> tuple[bytes, tuple[str, int]]:
        if bufsize < 0:
            raise ValueError("negative buffersize in recvfrom")
        self._check_flags(flags)
        self._check_open()
        if not self._udp_server and not self._udp_client:
            raise SocketError(errno.EINVAL, "Invalid argument (bind or send first)")
        if not self._datagrams:
            self._fill(0.0 if flags & _socket.MSG_DONTWAIT else self._timeout)
        if not self._datagrams:
            return b"", self._peer or ("0.0.0.0", 0)
        data, sender = self._datagrams[0]
        if not flags & _socket.MSG_PEEK:
            self._datagrams.popleft()
        return data[:bufsize], sender

    def _last_sender(self) -> tuple[str, int]:
        """The sender of the datagram just read: ``P?`` fields 4 and 5 (protocol.md §2.2)."""
        fields = self._show_transport()
        try:
            host, port = fields[3], int(fields[4])
        except (IndexError, ValueError):
            host, port = "0.0.0.0", 0
        if host == "0.0.0.0" and self._peer is not None:
            return self._peer
        return host, port


_TCP_KEEPIDLE = getattr(_socket, "TCP_KEEPIDLE", 4)
_OPTIONS: dict[tuple[int, int], int] = {
    (_socket.SOL_SOCKET, _socket.SO_KEEPALIVE): 0,
    (_socket.SOL_SOCKET, _socket.SO_REUSEADDR): 0,
    (_socket.IPPROTO_TCP, _socket.TCP_NODELAY): 0,
    (_socket.IPPROTO_TCP, _TCP_KEEPIDLE): 7200,
}
"""Options a module socket takes, with their defaults."""


def _split_address(address: object, call: str) -> tuple[str, int]:
    if not isinstance(address, tuple) or len(address) != 2:
        raise TypeError(f"{call}(): AF_INET address must be tuple, not {type(address).__name__}")
    host, port = address
    if not isinstance(host, str):
        raise TypeError(f"{call}(): host must be str")
    if not isinstance(port, int):
        raise TypeError(f"'{type(port).__name__}' object cannot be interpreted as an integer")
    if not 0 <= port <= 65535:
        raise OverflowError(f"{call}(): port must be 0-65535.")
    return host, port
