"""Socket conformance: the same test bodies on CPython sockets and on eswifi sockets.

Every test uses ``net.socket()`` for the socket under test and plain CPython sockets on
127.0.0.1 for the peers, and must pass unchanged on every implementation.
"""

from __future__ import annotations

import errno
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from .conftest import Net

PEER_TIMEOUT = 10.0


@contextmanager
def echo_server() -> Iterator[tuple[str, int]]:
    """A CPython TCP echo server for one client at a time, on 127.0.0.1."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(PEER_TIMEOUT)

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(PEER_TIMEOUT)
            while data := conn.recv(65536):
                conn.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()
    finally:
        listener.close()
        thread.join(timeout=PEER_TIMEOUT)


def listening(net: Net, backlog: int = 5):
    server = net.socket()
    server.bind((net.host, 0))
    server.listen(backlog)
    server.settimeout(PEER_TIMEOUT)
    return server


def connect_peer(server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.getsockname()[1]), timeout=PEER_TIMEOUT)


def read_all(sock) -> bytes:
    data = bytearray()
    while chunk := sock.recv(65536):
        data += chunk
    return bytes(data)


def read_exactly(sock, count: int) -> bytes:
    data = bytearray()
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        assert chunk, f"end of stream after {len(data)} of {count} bytes"
        data += chunk
    return bytes(data)


# ---------------------------------------------------------------------- TCP server


@pytest.mark.timeout(60)
def test_tcp_server_accepts_three_clients_in_turn(net: Net) -> None:
    with listening(net) as server:
        for number in range(3):
            with connect_peer(server) as peer:
                peer.sendall(b"client %d" % number)
                conn, address = server.accept()
                with conn:
                    assert address == peer.getsockname()
                    assert conn.getpeername() == address
                    conn.settimeout(PEER_TIMEOUT)
                    assert read_exactly(conn, 8) == b"client %d" % number
                    conn.sendall(b"hello %d" % number)
                assert read_all(peer) == b"hello %d" % number


@pytest.mark.timeout(60)
def test_large_transfer_both_ways(net: Net) -> None:
    upstream = bytes(range(256)) * 80  # 20480 bytes, every byte value
    downstream = upstream[::-1] + b"\r\nOK\r\n> "
    with listening(net) as server, connect_peer(server) as peer:
        conn, _ = server.accept()
        with conn:
            conn.settimeout(PEER_TIMEOUT)
            sender = threading.Thread(target=peer.sendall, args=(upstream,))
            sender.start()
            assert read_exactly(conn, len(upstream)) == upstream
            sender.join(PEER_TIMEOUT)
            conn.sendall(downstream)
        assert read_all(peer) == downstream


@pytest.mark.timeout(60)
def test_peer_close_gives_end_of_file(net: Net) -> None:
    with listening(net) as server:
        peer = connect_peer(server)
        peer.sendall(b"last words")
        peer.close()
        conn, _ = server.accept()
        with conn:
            conn.settimeout(PEER_TIMEOUT)
            assert read_all(conn) == b"last words"
            assert conn.recv(10) == b""


@pytest.mark.timeout(60)
def test_recv_into_peek_and_makefile(net: Net) -> None:
    with listening(net) as server, connect_peer(server) as peer:
        peer.sendall(b"GET / HTTP/1.0\r\nHost: example\r\n\r\n")
        conn, _ = server.accept()
        with conn:
            conn.settimeout(PEER_TIMEOUT)
            assert read_exactly(conn, 0) == b""
            first = conn.recv(3, socket.MSG_PEEK)
            assert b"GET".startswith(first) and first
            buffer = bytearray(4)
            count = conn.recv_into(buffer, 4)
            assert buffer[:count] == b"GET "[:count]
            rest = read_exactly(conn, 4 - count)
            assert bytes(buffer[:count]) + rest == b"GET "
            with conn.makefile("rwb") as stream:
                assert stream.readline() == b"/ HTTP/1.0\r\n"
                assert stream.readline() == b"Host: example\r\n"
                assert stream.readline() == b"\r\n"
                stream.write(b"HTTP/1.0 200 OK\r\n\r\nbody")
                stream.flush()
        assert read_all(peer) == b"HTTP/1.0 200 OK\r\n\r\nbody"


@pytest.mark.timeout(60)
def test_addresses(net: Net) -> None:
    with listening(net) as server:
        host, port = server.getsockname()
        assert host == "127.0.0.1" and port > 0
        with connect_peer(server) as peer:
            conn, address = server.accept()
            with conn:
                assert conn.getsockname() == (host, port)
                assert conn.getpeername() == address == peer.getsockname()
                assert conn.family == socket.AF_INET and conn.type == socket.SOCK_STREAM
    fresh = net.socket()
    with fresh:
        with pytest.raises(OSError) as info:
            fresh.getpeername()
        assert info.value.errno == errno.ENOTCONN


# ---------------------------------------------------------------------- timeouts


@pytest.mark.timeout(60)
def test_accept_timeouts(net: Net) -> None:
    with listening(net) as server:
        server.settimeout(0)
        assert server.gettimeout() == 0.0 and not server.getblocking()
        with pytest.raises(BlockingIOError):
            server.accept()
        server.settimeout(0.3)
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            server.accept()
        assert time.monotonic() - start >= 0.25
        server.setblocking(True)
        assert server.gettimeout() is None
        with connect_peer(server):
            server.settimeout(PEER_TIMEOUT)
            conn, _ = server.accept()
            conn.close()


@pytest.mark.timeout(60)
def test_recv_timeouts(net: Net) -> None:
    with listening(net) as server, connect_peer(server) as peer:
        conn, _ = server.accept()
        with conn:
            conn.setblocking(False)
            with pytest.raises(BlockingIOError) as blocking:
                conn.recv(10)
            assert blocking.value.errno in (errno.EAGAIN, errno.EWOULDBLOCK)
            conn.settimeout(0.3)
            start = time.monotonic()
            with pytest.raises(TimeoutError):
                conn.recv(10)
            assert time.monotonic() - start >= 0.25
            peer.sendall(b"now")
            conn.settimeout(PEER_TIMEOUT)
            assert read_exactly(conn, 3) == b"now"
            with pytest.raises(ValueError):
                conn.settimeout(-1)


# ---------------------------------------------------------------------- lifecycle


@pytest.mark.timeout(60)
def test_context_managers_close(net: Net) -> None:
    with listening(net) as server, connect_peer(server) as peer:
        with server.accept()[0] as conn:
            conn.sendall(b"x")
        assert read_all(peer) == b"x"
        with pytest.raises(OSError) as info:
            conn.recv(1)
        assert info.value.errno == errno.EBADF
    assert server.fileno() == -1
    with pytest.raises(OSError):
        server.accept()
    conn.close()  # closing twice is fine


# ---------------------------------------------------------------------- TCP client


@pytest.mark.timeout(60)
def test_tcp_echo_client(net: Net) -> None:
    payload = b"echo me " * 500
    with echo_server() as address, net.socket() as sock:
        sock.settimeout(PEER_TIMEOUT)
        sock.connect(address)
        assert sock.getpeername() == address
        assert sock.getsockname()[1] > 0
        sock.sendall(payload)
        assert read_exactly(sock, len(payload)) == payload


@pytest.mark.timeout(60)
def test_tcp_client_sees_the_server_close(net: Net) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener, net.socket() as sock:
        listener.settimeout(PEER_TIMEOUT)
        sock.settimeout(PEER_TIMEOUT)
        sock.connect(listener.getsockname())
        conn, _ = listener.accept()
        conn.sendall(b"bye")
        conn.close()
        assert read_all(sock) == b"bye"


@pytest.mark.timeout(60)
def test_connect_refused(net: Net) -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        address = placeholder.getsockname()
    with net.socket() as sock:
        sock.settimeout(PEER_TIMEOUT)
        with pytest.raises(ConnectionRefusedError):
            sock.connect(address)


# ---------------------------------------------------------------------- UDP


@pytest.mark.timeout(60)
def test_udp_send_and_receive_with_addresses(net: Net) -> None:
    with net.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((net.host, 0))
        sock.settimeout(PEER_TIMEOUT)
        address = sock.getsockname()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.bind(("127.0.0.1", 0))
            peer.settimeout(PEER_TIMEOUT)
            peer.sendto(b"ping", ("127.0.0.1", address[1]))
            data, sender = sock.recvfrom(100)
            assert data == b"ping"
            assert sender == peer.getsockname()
            assert sock.sendto(b"pong", sender) == 4
            assert peer.recvfrom(100) == (b"pong", ("127.0.0.1", address[1]))


@pytest.mark.timeout(60)
def test_udp_client_sendto_and_reply(net: Net) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        peer.settimeout(PEER_TIMEOUT)
        with net.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(PEER_TIMEOUT)
            assert sock.sendto(b"hello", peer.getsockname()) == 5
            data, source = peer.recvfrom(100)
            assert data == b"hello"
            assert source[1] == sock.getsockname()[1]
            peer.sendto(b"back", source)
            assert sock.recvfrom(100) == (b"back", peer.getsockname())
