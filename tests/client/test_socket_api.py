"""The socket facade against the in-process module (UART and SPI builds, virtual time)."""

from __future__ import annotations

import errno
import socket

import pytest

from eswifi.client import Module
from eswifi.errors import CommandError, SocketError
from eswifi.testing.link import EngineLink

from .conftest import Recorder

PEER = ("10.0.0.7", 40000)


def serve(module: Module, port: int = 8080):
    server = module.socket()
    server.bind(("", port))
    server.listen()
    return server


def test_module_api(module: Module, link: EngineLink, link_kind: str) -> None:
    info = module.info()
    assert info.product.startswith("ISM43362-M3G-L44")
    assert info.cpu_clock == 120_000_000
    assert module.mac() == "C4:7F:51:01:12:31"
    status = module.status()
    assert status.connected and status.ssid == "eswifi-lab" and status.ip == "127.0.0.1"
    assert module.is_joined()
    assert module.rssi() == -48
    assert module.resolve("10.1.2.3") == "10.1.2.3"
    assert module.command("P0").value == "0"
    with pytest.raises(CommandError, match="P1=9"):
        module.command("P1=9")
    assert not module.command("P1=9", check=False).ok
    module.leave()
    assert not module.status().connected


def test_join_failure_is_a_command_error(link: EngineLink, link_kind: str) -> None:
    module = Module(link, spi=link_kind == "spi")
    with pytest.raises(CommandError, match="Failed"):
        module.join("eswifi-lab", "wrong-pass")
    assert module.join("eswifi-open") == "127.0.0.1"
    with pytest.raises(ValueError, match="comma"):
        module.join("a,b", "x")


def test_accept_recv_send_close(module: Module, link: EngineLink, recorder: Recorder) -> None:
    with serve(module) as server:
        assert server.getsockname() == ("127.0.0.1", 8080)
        peer = link.network.connect("127.0.0.1", 8080, source=PEER)
        peer.send(b"hello")
        conn, address = server.accept()
        with conn:
            assert address == PEER
            assert conn.getpeername() == PEER
            assert conn.getsockname() == ("127.0.0.1", 8080)
            assert conn.recv(2) == b"he"
            assert conn.recv(100) == b"llo"
            conn.sendall(b"world")
            assert bytes(peer.received) == b"world"
            peer.close()
            assert conn.recv(100) == b""
            assert conn.recv(100) == b""
        assert b"P5=10" in recorder.lines


def test_three_clients_in_turn(module: Module, link: EngineLink) -> None:
    with serve(module) as server:
        peers = [
            link.network.connect("127.0.0.1", 8080, source=("10.0.0.7", 40000 + i))
            for i in range(3)
        ]
        for i, peer in enumerate(peers):
            peer.send(b"n%d" % i)
            conn, address = server.accept()
            assert address == ("10.0.0.7", 40000 + i)
            assert conn.recv(10) == b"n%d" % i
            conn.sendall(b"bye")
            conn.close()
            assert bytes(peer.received) == b"bye"


def test_second_accept_needs_the_first_connection_closed(module: Module, link: EngineLink) -> None:
    with serve(module) as server:
        link.network.connect("127.0.0.1", 8080, source=PEER)
        conn, _ = server.accept()
        with pytest.raises(OSError) as info:
            server.accept()
        assert info.value.errno == errno.EBUSY
        conn.close()
        server.settimeout(0)
        with pytest.raises(BlockingIOError):
            server.accept()


def test_timeouts_like_cpython(module: Module, link: EngineLink) -> None:
    with serve(module) as server:
        server.settimeout(0)
        with pytest.raises(BlockingIOError):
            server.accept()
        server.settimeout(2.5)
        start = link.monotonic()
        with pytest.raises(TimeoutError):
            server.accept()
        assert 2.5 <= link.monotonic() - start < 3.5
        link.network.connect("127.0.0.1", 8080, source=PEER)
        server.settimeout(None)
        conn, _ = server.accept()
        assert conn.gettimeout() is None and conn.getblocking()
        conn.setblocking(False)
        assert conn.gettimeout() == 0.0
        with pytest.raises(BlockingIOError) as info:
            conn.recv(10)
        assert info.value.errno == errno.EAGAIN
        conn.settimeout(1.0)
        start = link.monotonic()
        with pytest.raises(TimeoutError):
            conn.recv(10)
        assert 1.0 <= link.monotonic() - start < 1.5
        with pytest.raises(ValueError):
            conn.settimeout(-1)
        conn.close()


def test_blocking_recv_polls_until_data_arrives(module: Module, link: EngineLink) -> None:
    with serve(module) as server:
        peer = link.network.connect("127.0.0.1", 8080, source=PEER)
        conn, _ = server.accept()
        reads = []

        def on_transfer(direction: str, data: bytes) -> None:
            # Runs under the command lock: the peer sends just before the third read.
            if direction == "tx" and data.startswith((b"R0", b"R4")):
                reads.append(link.monotonic())
                if len(reads) == 3:
                    peer.send(b"late")

        module.channel.trace = on_transfer
        start = link.monotonic()
        assert conn.recv(10) == b"late"
        assert len(reads) == 3
        assert link.monotonic() - start >= 0.4  # two empty 200 ms module waits
        conn.close()


def test_large_send_is_split(module: Module, link: EngineLink, recorder: Recorder) -> None:
    payload = bytes(range(256)) * 12  # 3072 bytes
    with serve(module) as server:
        peer = link.network.connect("127.0.0.1", 8080, source=PEER)
        conn, _ = server.accept()
        assert conn.send(payload) == len(payload)
        assert bytes(peer.received) == payload
        sizes = [line for line in recorder.lines if line.startswith(b"S3=")]
        assert sizes == [b"S3=1460", b"S3=1460", b"S3=152"]
        conn.close()


def test_large_receive_is_reassembled(module: Module, link: EngineLink) -> None:
    payload = bytes(range(256)) * 40 + b"\r\nOK\r\n> " * 3
    with serve(module) as server:
        peer = link.network.connect("127.0.0.1", 8080, source=PEER)
        peer.send(payload)
        peer.close()
        conn, _ = server.accept()
        got = bytearray()
        while chunk := conn.recv(4096):
            got += chunk
        assert bytes(got) == payload
        conn.close()


def test_recv_into_peek_and_makefile(module: Module, link: EngineLink, recorder: Recorder) -> None:
    with serve(module) as server:
        peer = link.network.connect("127.0.0.1", 8080, source=PEER)
        peer.send(b"GET / HTTP/1.0\r\nHost: x\r\n\r\nrest")
        conn, _ = server.accept()
        assert conn.recv(3, socket.MSG_PEEK) == b"GET"
        buffer = bytearray(4)
        assert conn.recv_into(buffer) == 4 and buffer == b"GET "
        reader = conn.makefile("rb")
        assert reader.readline() == b"/ HTTP/1.0\r\n"
        assert reader.readline() == b"Host: x\r\n"
        writer = conn.makefile("w", encoding="ascii")
        writer.write("HTTP/1.0 200 OK\r\n\r\n")
        writer.flush()
        assert bytes(peer.received) == b"HTTP/1.0 200 OK\r\n\r\n"
        conn.close()  # the files keep the connection open until they close
        assert b"P5=10" not in recorder.lines
        reader.close()
        writer.close()
        assert b"P5=10" in recorder.lines


def test_lost_connection(module: Module, link: EngineLink) -> None:
    with serve(module) as server:
        peer = link.network.connect("127.0.0.1", 8080, source=PEER)
        conn, _ = server.accept()
        peer.reset()
        assert conn.recv(10) == b""
        with pytest.raises(ConnectionResetError):
            conn.send(b"x")
        conn.close()


def test_keepalive_becomes_pk(module: Module, link: EngineLink, recorder: Recorder) -> None:
    server = module.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    server.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 3)
    assert server.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    with pytest.raises(OSError) as info:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    assert info.value.errno == errno.ENOPROTOOPT
    server.bind(("", 8080))
    server.listen()
    assert b"PK=1,3000" in recorder.lines
    peer = link.network.connect("127.0.0.1", 8080, source=PEER)
    conn, _ = server.accept()
    peer.vanish(now=link.monotonic())
    # Keep-alive declares the silent peer dead after idle + 3 probes (12 s, virtual).
    conn.settimeout(30)
    assert conn.recv(10) == b""
    conn.close()
    server.close()


def test_four_sockets_then_emfile(module: Module) -> None:
    sockets = [module.socket() for _ in range(4)]
    with pytest.raises(OSError) as info:
        module.socket()
    assert info.value.errno == errno.EMFILE
    assert isinstance(info.value, SocketError)
    sockets[2].close()
    again = module.socket()
    assert again.slot == 2
    for sock in [*sockets, again]:
        sock.close()


def test_unsupported_family_and_type(module: Module) -> None:
    with pytest.raises(OSError) as info:
        module.socket(socket.AF_INET6)
    assert info.value.errno == errno.EAFNOSUPPORT
    with pytest.raises(OSError):
        module.socket(socket.AF_INET, socket.SOCK_RAW)


def test_cpython_errors_for_misuse(module: Module) -> None:
    sock = module.socket()
    assert sock.getsockname() == ("0.0.0.0", 0)
    with pytest.raises(OSError) as info:
        sock.getpeername()
    assert info.value.errno == errno.ENOTCONN
    with pytest.raises(OSError) as info:
        sock.recv(1)
    assert info.value.errno == errno.ENOTCONN
    with pytest.raises(OverflowError):
        sock.bind(("", 70000))
    with pytest.raises(TypeError):
        sock.connect("127.0.0.1:80")  # type: ignore[arg-type]
    with pytest.raises(OSError) as info:
        sock.bind(("192.0.2.1", 80))
    assert info.value.errno == errno.EADDRNOTAVAIL
    sock.close()
    sock.close()
    with pytest.raises(OSError) as info:
        sock.recv(1)
    assert info.value.errno == errno.EBADF


def test_connect_refused_while_the_emulator_has_no_client_support(module: Module) -> None:
    # The fake network refuses every outgoing connection.
    with module.socket() as sock:
        with pytest.raises(ConnectionRefusedError):
            sock.connect(("127.0.0.1", 9))
        assert sock.connect_ex(("127.0.0.1", 9)) == errno.ECONNREFUSED


def test_bind_port_zero_picks_a_dynamic_port(module: Module) -> None:
    with module.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert 49152 <= port <= 65535


def test_listener_close_ends_its_connection(module: Module, link: EngineLink) -> None:
    server = serve(module)
    peer = link.network.connect("127.0.0.1", 8080, source=PEER)
    conn, _ = server.accept()
    server.close()
    assert peer.closed_by_module
    assert conn.recv(10) == b""
    conn.close()
    assert module.sockets() == (None, None, None, None)


def test_shutdown_write_closes_the_module_connection(module: Module, link: EngineLink) -> None:
    with serve(module) as server:
        peer = link.network.connect("127.0.0.1", 8080, source=PEER)
        conn, _ = server.accept()
        conn.shutdown(socket.SHUT_WR)
        assert peer.closed_by_module
        with pytest.raises(OSError) as info:
            conn.send(b"x")
        assert info.value.errno == errno.EPIPE
        conn.close()


def test_two_servers_on_two_sockets(module: Module, link: EngineLink) -> None:
    first, second = serve(module, 8080), serve(module, 8081)
    peer_b = link.network.connect("127.0.0.1", 8081, source=("10.0.0.8", 40001))
    peer_a = link.network.connect("127.0.0.1", 8080, source=("10.0.0.7", 40000))
    peer_a.send(b"to-a")
    peer_b.send(b"to-b")
    conn_a, addr_a = first.accept()
    conn_b, addr_b = second.accept()
    assert (addr_a, addr_b) == (("10.0.0.7", 40000), ("10.0.0.8", 40001))
    assert conn_b.recv(10) == b"to-b"
    assert conn_a.recv(10) == b"to-a"
    for sock in (conn_a, conn_b, first, second):
        sock.close()


def test_select_and_selector(module: Module, link: EngineLink) -> None:
    import selectors

    from eswifi.client import EsWifiSelector, select

    with serve(module) as server:
        assert select([server], [], [], 0) == ([], [], [])
        peer = link.network.connect("127.0.0.1", 8080, source=PEER)
        assert select([server], [], [], 1.0)[0] == [server]
        conn, _ = server.accept()
        assert select([conn], [conn], [], 0) == ([], [conn], [])
        with EsWifiSelector() as selector:
            selector.register(conn, selectors.EVENT_READ, "conn")
            assert selector.select(0.5) == []
            peer.send(b"data")
            [(key, events)] = selector.select(0.5)
            assert key.data == "conn" and events == selectors.EVENT_READ
        assert conn.recv(10) == b"data"
        conn.close()


def test_raw_command_drops_the_register_cache(module: Module, link: EngineLink) -> None:
    with serve(module) as server:
        peer = link.network.connect("127.0.0.1", 8080, source=PEER)
        peer.send(b"abc")
        conn, _ = server.accept()
        assert conn.recv(1) == b"a"
        module.command("P0=3")
        module.command("R1=1")
        assert conn.recv(10) == b"bc"
        conn.close()


def test_close_survives_a_dead_link(module: Module, link: EngineLink) -> None:
    server = serve(module)
    link.close()
    server.close()  # the module cannot be told; the socket is closed all the same
    assert module.sockets() == (None, None, None, None)


def test_scan_resolve_ping_and_reset_against_the_emulator(module: Module, link: EngineLink) -> None:
    found = {ap.ssid: ap for ap in module.scan()}
    assert found["eswifi-lab"].security == "WPA2 AES" and found["eswifi-lab"].channel == 6
    assert found["eswifi-open"].security == "Open"
    assert module.resolve("localhost") == "127.0.0.1"
    with pytest.raises(socket.gaierror):
        module.resolve("nowhere.invalid")
    times = module.ping("127.0.0.1", count=2)
    assert len(times) == 2 and all(t is not None and t >= 0 for t in times)
    server = serve(module)
    peer = link.network.connect("127.0.0.1", 8080, source=PEER)
    conn, _ = server.accept()
    module.reset()
    assert not module.is_joined()
    assert conn.recv(10) == b""
    assert peer.closed_by_module
    conn.close()
    server.close()
    assert module.sockets() == (None, None, None, None)
    assert module.join("eswifi-lab", "eswifi-pass") == "127.0.0.1"


def test_raw_queries_keep_the_register_cache(
    module: Module, link: EngineLink, recorder: Recorder
) -> None:
    with serve(module) as server:
        peer = link.network.connect("127.0.0.1", 8080, source=PEER)
        peer.send(b"abc")
        conn, _ = server.accept()
        assert conn.recv(10) == b"abc"
        assert module.command("P?").ok and module.command("CS").value == "1"
        peer.send(b"de")
        recorder.lines.clear()
        assert conn.recv(10) == b"de"
        assert recorder.lines == [b"R4"]  # no P0/R1/R2 again
        conn.close()
