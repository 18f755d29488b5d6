"""The client against a real ``eswifi emulate`` subprocess and real loopback peers.

Binary data holding the module's own reply terminator, a megabyte of random bytes, and a
malformed reply injected into the link: the data arrives whole and in order, and every
later command still gets its own reply.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from eswifi.client import Module
from eswifi.client.link import SerialLink
from eswifi.errors import RemoteProtocolError
from eswifi.testing.launch import EmulatorProcess

pytestmark = [pytest.mark.timeout(60), pytest.mark.subprocess]

WAIT = 10.0
MAC = "C4:7F:51:01:12:31"


@pytest.fixture(scope="module", params=["tcp", "pty"])
def emulator(request: pytest.FixtureRequest) -> Iterator[EmulatorProcess]:
    options = ("--listen", "127.0.0.1:0") if request.param == "tcp" else ("--pty",)
    with EmulatorProcess(*options) as process:
        yield process


class Peer:
    """A loopback TCP server for one connection, run by ``handler`` in a thread."""

    def __init__(self, handler: Callable[[socket.socket], None]) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(WAIT)
        self.port = self._server.getsockname()[1]
        self.error: BaseException | None = None
        self._handler = handler
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            conn, _ = self._server.accept()
            with conn:
                conn.settimeout(WAIT)
                self._handler(conn)
        except BaseException as exc:  # reported by join()
            self.error = exc
        finally:
            self._server.close()

    def join(self) -> None:
        self._thread.join(WAIT)
        assert not self._thread.is_alive(), "the peer did not finish"
        if self.error is not None:
            raise self.error


def recv_exactly(sock, count: int) -> bytes:
    data = bytearray()
    while len(data) < count:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return bytes(data)


def joined(url: str, link: SerialLink | None = None) -> Module:
    module = Module(link or SerialLink.open(url))
    module.channel.discard()
    if not module.is_joined():  # the emulator serves every test of this file
        module.join("eswifi-lab", "eswifi-pass")
    return module


def test_data_holding_the_reply_terminator_arrives_in_order(emulator: EmulatorProcess) -> None:
    tricky = b"A\r\nOK\r\n> B"
    peer = Peer(lambda conn: (conn.sendall(tricky), conn.recv(1)))
    with joined(emulator.url) as module, module.socket() as sock:
        sock.settimeout(WAIT)
        sock.connect(("127.0.0.1", peer.port))
        assert recv_exactly(sock, len(tricky)) == tricky
        sock.sendall(b"!")
        assert module.info().firmware == "C6.2.1.11"
        assert module.mac() == MAC
    peer.join()


TRICKY = (
    b"\r\nOK\r\n> ",
    b"\r\n-1\r\nERROR\r\n> ",
    b"\r\n> ",
    b"\r\n[TCP SVR] Accepted 1.2.3.4:5\r\n> ",
)


def test_a_megabyte_of_random_bytes_arrives_whole(emulator: EmulatorProcess) -> None:
    """Random bytes with the module's own terminators, prompts and messages sprinkled in."""
    pieces = []
    for index in range(1_100):
        pieces.append(os.urandom(1_000))
        pieces.append(TRICKY[index % len(TRICKY)])
    data = b"".join(pieces)
    echo = hashlib.sha256()

    def serve(conn: socket.socket) -> None:
        conn.sendall(data)
        received = 0
        while received < 100_000:
            chunk = conn.recv(65536)
            assert chunk, "the module closed early"
            echo.update(chunk)
            received += len(chunk)

    peer = Peer(serve)
    with joined(emulator.url) as module, module.socket() as sock:
        sock.settimeout(WAIT)
        sock.connect(("127.0.0.1", peer.port))
        got = recv_exactly(sock, len(data))
        assert len(got) == len(data)
        assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
        sock.sendall(data[:100_000])
        peer.join()
        assert echo.digest() == hashlib.sha256(data[:100_000]).digest()
        assert module.mac() == MAC


class InjectingLink(SerialLink):
    """A real serial link that slips ``inject`` in front of the reply to the next command."""

    def __init__(self, url: str) -> None:
        super().__init__(SerialLink.open(url).port)
        self.inject = b""
        self._armed = False

    def write(self, data: bytes) -> None:
        super().write(data)
        self._armed = bool(self.inject)

    def read(self, timeout: float) -> bytes:
        if not self._armed:
            return super().read(timeout)
        extra, self.inject, self._armed = self.inject, b"", False
        return extra + super().read(timeout)


@pytest.mark.parametrize(
    "garbage",
    [
        b"\r\nno OK line here\r\n> ",  # malformed: neither OK nor ERROR
        b"stray",  # does not start with CR LF
        b"\r\n\r\nOK\r\n> ",  # a stray reply, taken for the I? reply: not an I? line
    ],
)
def test_after_a_malformed_reply_each_command_gets_its_own(
    emulator: EmulatorProcess, garbage: bytes
) -> None:
    link = InjectingLink(emulator.url)
    with joined(emulator.url, link) as module:
        link.inject = garbage
        with pytest.raises(RemoteProtocolError):
            module.info()
        assert module.info().firmware == "C6.2.1.11"
        assert module.mac() == MAC
        assert module.is_joined()


def test_a_non_numeric_send_reply_is_a_clear_error(emulator: EmulatorProcess) -> None:
    got = bytearray()

    def serve(conn: socket.socket) -> None:
        while len(got) < 10 and (chunk := conn.recv(10)):
            got.extend(chunk)

    peer = Peer(serve)
    link = InjectingLink(emulator.url)
    with joined(emulator.url, link) as module, module.socket() as sock:
        sock.settimeout(WAIT)
        sock.connect(("127.0.0.1", peer.port))
        # A reply that parses but is no byte count (an earlier command's, say).
        link.inject = b"\r\nC4:7F\r\nOK\r\n> "
        with pytest.raises(RemoteProtocolError, match="not a count"):
            sock.sendall(b"hello")
        assert module.mac() == MAC
        sock.sendall(b"world")
        peer.join()
    assert got == b"helloworld"  # the first send did go out; only its reply was spoiled
