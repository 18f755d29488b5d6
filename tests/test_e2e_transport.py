"""``eswifi emulate`` end to end over both link profiles, with real loopback peers.

Drivers' sequences are sent as the drivers send them: on SPI every transfer is padded to
an even length with 0x0A (and Zephyr adds its stray byte after a payload); replies must
then be even, padded with 0x15.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial
import trustme
from test_cli_emulate import free_port

from eswifi.testing.launch import EmulatorProcess

pytestmark = [pytest.mark.timeout(60), pytest.mark.subprocess]

WAIT = 10.0
HOST = "127.0.0.1"
OK = b"\r\n\r\nOK\r\n> "
OK_END = b"\r\nOK\r\n> "
LINKS = ["uart", "spi"]


class Host:
    """The host side of the link: sends transfers, reads replies and async messages."""

    def __init__(self, port: serial.SerialBase, *, spi: bool) -> None:
        self.port = port
        self.spi = spi
        if spi:
            assert self._read_exactly(6) == b"\x15\x15\r\n> "

    def transfer(self, data: bytes) -> None:
        """Send one transfer as a driver would (padded to even with 0x0A on SPI)."""
        if self.spi and len(data) % 2:
            data += b"\n"
        self.port.write(data)

    def reply(self) -> bytes:
        """Read one reply (up to its prompt); on SPI check and drop the 0x15 pad."""
        data = self.port.read_until(b"> ")
        assert data.endswith(b"> "), f"timed out with {data!r}"
        if self.spi and len(data) % 2:
            assert self._read_exactly(1) == b"\x15"
        return data

    def command(self, data: bytes) -> bytes:
        self.transfer(data)
        return self.reply()

    def ok(self, *commands: bytes) -> None:
        for data in commands:
            assert self.command(data) == OK, data

    def accepted(self) -> bytes:
        """Wait for the next asynchronous message: pushed on UART, polled with MR on SPI."""
        if not self.spi:
            message = self.reply()
            assert message.startswith(b"\r\n[") and message.endswith(b"\r\n> "), message
            return message[2:-4]
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            reply = self.command(b"MR\r")
            assert reply.startswith(b"\r\n[SOMA]") and reply.endswith(b"[EOMA]" + OK_END)
            if message := reply[8 : -len(b"[EOMA]" + OK_END)]:
                return message
        raise AssertionError("no asynchronous message")

    def join(self) -> None:
        self.ok(b"C1=eswifi-lab\r", b"C2=eswifi-pass\r", b"C3=3\r")
        assert self.command(b"C0\r") == b"\r\n[JOIN   ] eswifi-lab,127.0.0.1,0,0" + OK_END

    def _read_exactly(self, count: int) -> bytes:
        data = self.port.read(count)
        assert len(data) == count, f"timed out with {data!r}"
        return data


@contextlib.contextmanager
def module(tmp_path: Path, link: str) -> Iterator[Host]:
    with EmulatorProcess("--listen", f"{HOST}:0", "--link", link) as emulator:
        assert emulator.url.startswith("socket://")
        with serial.serial_for_url(emulator.url, timeout=WAIT) as port:
            yield Host(port, spi=link == "spi")
        assert emulator.stop(wait=WAIT) == 0
        assert emulator.errors() == ""


def recv_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        assert chunk, f"closed after {data!r}"
        data += chunk
    return data


def read_until(host: Host, command: bytes, expected: bytes) -> bytes:
    """Send a read command until data comes (the peer's bytes may still be on their way)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        reply = host.command(command)
        if reply != OK:
            assert reply == b"\r\n" + expected + OK_END
            return reply
    raise AssertionError("no data")


# --------------------------------------------------------------------------- ST


@pytest.mark.parametrize("link", LINKS)
def test_st_multi_connection_server_start_and_stop(tmp_path: Path, link: str) -> None:
    port = free_port()
    with module(tmp_path, link) as host:
        host.join()
        # ES_WIFI_StartServerMultiConn
        host.ok(b"PK=1,3000\r", b"P0=0\r", b"P1=0\r", b"P2=%d\r" % port, b"P8=6\r")
        setup = b"\r\n[TCP TSK] Setup\r\n[TCP SVR] Waiting on connection ...\r\n" + OK_END
        assert host.command(b"P5=1\r") == setup
        assert host.command(b"P7=1\r") == setup
        first = socket.create_connection((HOST, port), timeout=WAIT)
        second = socket.create_connection((HOST, port), timeout=WAIT)
        with first, second:
            # ES_WIFI_WaitServerConnection: MR (SPI) and P? until a client shows
            assert host.accepted() == b"[TCP SVR] Accepted 127.0.0.1:%d" % port
            info = host.command(b"P?\r")
            # Field 5: the served client's port, which ST keeps as its RemotePort.
            client_port = first.getsockname()[1]
            assert info.startswith(b"\r\n0,127.0.0.1,%d,0.0.0.0,%d,1,0,6,1," % (port, client_port))
            # ES_WIFI_ReceiveData / ES_WIFI_SendData
            first.sendall(b"GET / HTTP/1.0\r\n\r\n")
            host.ok(b"P0=0\r", b"R1=1200\r", b"R2=1000\r")
            read_until(host, b"R0\r", b"GET / HTTP/1.0\r\n\r\n")
            host.ok(b"P0=0\r", b"S2=1000\r")
            host.transfer(b"S3=0021\r")
            host.transfer(b"HTTP/1.0 200 OK\r\n\r\nhi")
            assert host.reply() == b"\r\n21" + OK_END
            assert recv_exactly(first, 21) == b"HTTP/1.0 200 OK\r\n\r\nhi"
            # ES_WIFI_StopServerMultiConn: close this client, wait for the next
            assert host.command(b"P7=2\r") == OK
            assert host.command(b"P7=3\r") == b"\r\n[TCP SVR] Waiting on connection ..." + OK
            assert host.accepted() == b"[TCP SVR] Accepted 127.0.0.1:%d" % port
            assert first.recv(10) == b""  # the first client was closed
            second.sendall(b"bye")
            read_until(host, b"R0\r", b"bye")
        host.ok(b"P0=0\r")
        assert host.command(b"P5=0\r") == b"\r\n[TCP TSK] Killed\r\n" + OK_END
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((HOST, port), timeout=WAIT).close()


# --------------------------------------------------------------------------- Zephyr


@pytest.mark.parametrize("link", LINKS)
def test_zephyr_client_sequence(tmp_path: Path, link: str) -> None:
    with socket.create_server((HOST, 0)) as server, module(tmp_path, link) as host:
        server.settimeout(WAIT)
        server_port = server.getsockname()[1]
        host.ok(b"C4=1\r", b"PR=0\r")
        host.join()
        host.ok(b"P0=0\r", b"P1=0\r")  # socket()
        host.ok(b"P0=0\r", b"P6=0\r")  # connect()
        assert host.command(b"P5=0\r") == b"\r\n[TCP TSK] Killed\r\n" + OK_END
        host.ok(b"P2=0\r", b"P3=127.0.0.1\r", b"P4=%d\r" % server_port)
        assert host.command(b"P6=1\r") == b"\r\n[TCP  RC] Connecting to 127.0.0.1" + OK_END
        peer, _ = server.accept()
        with peer:
            peer.settimeout(WAIT)
            # send(): header + payload + one stray byte in one transfer (whatever is left
            # in Zephyr's buffer: on UART only a NUL is harmless, on SPI anything is)
            stray = b"X" if host.spi else b"\x00"
            host.ok(b"P0=0\r")
            host.transfer(b"S3=5\rhello" + stray)
            assert host.reply() == b"\r\n5" + OK_END
            host.ok(b"P0=0\r")
            host.transfer(b"S3=4\rping\x00")
            assert host.reply() == b"\r\n4" + OK_END
            assert recv_exactly(peer, 9) == b"helloping"
            # the read worker
            peer.sendall(b"world")
            host.ok(b"P0=0\r", b"R1=1460\r", b"R2=30\r")
            read_until(host, b"R0\r", b"world")
        # the peer closed: -1, and Zephyr stops the socket
        host.ok(b"P0=0\r", b"R1=1460\r", b"R2=30\r")
        deadline = time.monotonic() + WAIT
        while (reply := host.command(b"R0\r")) == OK and time.monotonic() < deadline:
            pass
        assert reply == b"\r\n-1\r\n\r\nERROR\r\n> "
        host.ok(b"P6=0\r", b"P0=0\r", b"P6=0\r")


# --------------------------------------------------------------------------- four at once


@pytest.mark.parametrize("link", LINKS)
def test_four_sockets_at_once(tmp_path: Path, link: str) -> None:
    tcp_port, udp_port, mbed_port = (
        free_port(),
        free_port(socket.SOCK_DGRAM),
        free_port(socket.SOCK_DGRAM),
    )
    with (
        socket.create_server((HOST, 0)) as remote_tcp,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as remote_udp,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp_client,
        module(tmp_path, link) as host,
    ):
        remote_tcp.settimeout(WAIT)
        remote_udp.settimeout(WAIT)
        udp_client.settimeout(WAIT)
        remote_udp.bind((HOST, 0))
        host.join()
        # socket 0: TCP server with one client served and one queued
        host.ok(b"P0=0\r", b"P1=0\r", b"P2=%d\r" % tcp_port, b"P8=4\r")
        assert host.command(b"P5=11\r").endswith(b"Waiting on connection ...\r\n" + OK_END)
        served = socket.create_connection((HOST, tcp_port), timeout=WAIT)
        assert host.accepted() == b"[TCP SVR] Accepted 127.0.0.1:%d" % served.getsockname()[1]
        queued = socket.create_connection((HOST, tcp_port), timeout=WAIT)
        # socket 1: TCP client
        host.ok(b"P0=1\r", b"P1=0\r", b"P2=0\r", b"P3=127.0.0.1\r")
        host.ok(b"P4=%d\r" % remote_tcp.getsockname()[1])
        assert host.command(b"P6=1\r") == b"\r\n[TCP  RC] Connecting to 127.0.0.1" + OK_END
        client_peer, _ = remote_tcp.accept()
        # socket 2: UDP client, Mbed's way round the source-port quirk
        host.ok(b"P0=2\r", b"P1=1\r", b"P3=127.0.0.1\r", b"P4=%d\r" % mbed_port)
        assert host.command(b"P6=1\r") == b"\r\n[UDP  RC] Socket opened on port %d" % mbed_port + (
            OK_END
        )
        host.ok(b"P4=%d\r" % remote_udp.getsockname()[1])
        # socket 3: UDP server
        host.ok(b"P0=3\r", b"P1=1\r", b"P2=%d\r" % udp_port)
        assert host.command(b"P5=1\r") == (
            b"\r\n[UDP TSK] Setup\r\n[UDP SVR] Waiting on connection ...\r\n" + OK_END
        )
        with served, queued, client_peer:
            client_peer.settimeout(WAIT)
            udp_client.sendto(b"to-3", (HOST, udp_port))
            assert (
                host.accepted()
                == b"[UDP SVR] Accepted 127.0.0.1:%d" % (udp_client.getsockname()[1])
            )
            served.sendall(b"to-0")
            client_peer.sendall(b"to-1")
            remote_udp.sendto(b"to-2", (HOST, mbed_port))
            for index in (3, 1, 0, 2):
                host.ok(b"P0=%d\r" % index)
                read_until(host, b"R0\r", b"to-%d" % index)
                assert host.command(b"S3=6\rfrom-%d" % index) == b"\r\n6" + OK_END
            assert recv_exactly(served, 6) == b"from-0"
            assert recv_exactly(client_peer, 6) == b"from-1"
            assert remote_udp.recvfrom(100) == (b"from-2", (HOST, mbed_port))
            assert udp_client.recvfrom(100) == (b"from-3", (HOST, udp_port))
            # the queued client is next on socket 0; the others are untouched
            host.ok(b"P0=0\r")
            assert host.command(b"P5=10\r") == b"\r\n[TCP SVR] Waiting on connection ..." + OK
            assert host.accepted() == b"[TCP SVR] Accepted 127.0.0.1:%d" % (queued.getsockname()[1])
            queued.sendall(b"next")
            read_until(host, b"R0\r", b"next")
            client_peer.sendall(b"still")
            host.ok(b"P0=1\r")
            read_until(host, b"R0\r", b"still")


# --------------------------------------------------------------------------- TLS


class TlsEchoServer:
    """A loopback TLS echo server on a thread (one connection at a time)."""

    def __init__(self, ca: trustme.CA) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("localhost", HOST).configure_cert(self.context)
        self.listener = socket.create_server((HOST, 0))
        self.listener.settimeout(WAIT)
        self.port = self.listener.getsockname()[1]
        self.errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._stop = False

    def __enter__(self) -> TlsEchoServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._thread.join(WAIT)
        self.listener.close()
        assert not self._thread.is_alive()

    def _serve(self) -> None:
        while not self._stop:
            try:
                raw, _ = self.listener.accept()
            except TimeoutError:
                continue  # a slow test: keep serving until told to stop
            except OSError:
                return
            try:
                with self.context.wrap_socket(raw, server_side=True) as conn:
                    conn.settimeout(WAIT)
                    while data := conn.recv(1024):
                        conn.sendall(data)
            except (OSError, ssl.SSLError) as exc:
                self.errors.append(exc)


@pytest.mark.parametrize("link", LINKS)
def test_tls_client_with_a_ca_uploaded_by_pg(tmp_path: Path, link: str) -> None:
    ca = trustme.CA()
    pem = ca.cert_pem.bytes()
    wrong = trustme.CA().cert_pem.bytes()
    with TlsEchoServer(ca) as server, module(tmp_path, link) as host:
        host.join()
        host.ok(b"P0=1\r", b"P1=3\r", b"P3=127.0.0.1\r", b"P4=%d\r" % server.port, b"P9=2\r")
        failed = (
            b"\r\n[TCP  RC] Connecting to 127.0.0.1\r\n[TCP  RC] Failed to connect\r\nERROR\r\n> "
        )
        # A wrong CA: the handshake fails and so does P6=1.
        host.ok(b"PF=0,0\r")
        host.transfer(b"PG=0,0,%04d\r" % len(wrong))  # ST: header, then the payload
        host.transfer(wrong)
        assert host.reply() == OK
        assert host.command(b"P6=1\r") == failed
        # The right CA, Zephyr style: header + payload (+ stray byte on SPI) in one transfer.
        host.transfer(b"PG=0,0,%d\r" % len(pem) + pem + (b"Z" if host.spi else b""))
        assert host.reply() == OK
        host.ok(b"PF=0,0\r")
        assert host.command(b"PE=0\r") == b"\r\n0,1,1" + OK_END
        assert host.command(b"P6=1\r") == b"\r\n[TCP  RC] Connecting to 127.0.0.1" + OK_END
        assert host.command(b"S3=6\rsecret") == b"\r\n6" + OK_END
        host.ok(b"R2=100\r")
        read_until(host, b"R0\r", b"secret")
        host.ok(b"P6=0\r")
    assert len(server.errors) == 1  # the handshake the module aborted


@pytest.mark.pty
@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pty")
def test_spi_profile_over_a_pty(tmp_path: Path) -> None:
    with EmulatorProcess("--pty", "--link", "spi") as emulator:
        assert emulator.url.startswith("/dev/")
        with serial.Serial(emulator.url, timeout=WAIT) as port:
            host = Host(port, spi=True)  # reads the greeting
            assert host.command(b"P0=2\r") == OK
            assert host.command(b"MR\r") == b"\r\n[SOMA][EOMA]" + OK_END
            host.transfer(b"S3=3\rabcZ")  # no connection: -1, and the stray byte is dropped
            assert host.reply() == b"\r\n-1\r\nERROR\r\n> "
            assert host.command(b"P0\r") == b"\r\n2" + OK_END
        assert emulator.stop(wait=WAIT) == 0
