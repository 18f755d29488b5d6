"""Thread safety: sockets used from several threads still put one command at a time on the link."""

from __future__ import annotations

import threading

import pytest

from eswifi.client import Module
from eswifi.testing.link import EngineLink

SIZE = 12_000


class WatchedLink(EngineLink):
    """An engine link that notices two threads inside it at the same time."""

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.inside = 0
        self.overlaps = 0
        self.threads: set[int] = set()

    def _enter(self) -> None:
        self.inside += 1
        self.threads.add(threading.get_ident())
        if self.inside > 1:
            self.overlaps += 1

    def write(self, data: bytes) -> None:
        self._enter()
        try:
            super().write(data)
        finally:
            self.inside -= 1

    def read(self, timeout: float) -> bytes:
        self._enter()
        try:
            return super().read(timeout)
        finally:
            self.inside -= 1


@pytest.mark.timeout(60)
@pytest.mark.parametrize("spi", [False, True], ids=["uart", "spi"])
def test_two_threads_two_sockets(spi: bool) -> None:
    link = WatchedLink(spi=spi)
    module = Module(link, spi=spi)
    module.join("eswifi-lab", "eswifi-pass")
    servers = []
    peers = []
    patterns = []
    for index, port in enumerate((8080, 8081)):
        server = module.socket()
        server.bind(("", port))
        server.listen()
        servers.append(server)
        peer = link.network.connect("127.0.0.1", port, source=("10.0.0.7", 40000 + index))
        pattern = bytes((index * 101 + i * 7) % 251 for i in range(SIZE))
        peer.send(pattern)
        peers.append(peer)
        patterns.append(pattern)
    connections = [server.accept()[0] for server in servers]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def echo(conn) -> None:
        try:
            start.wait(timeout=10)
            conn.settimeout(30)
            echoed = 0
            while echoed < SIZE:
                data = conn.recv(97)  # odd sizes: many R0/S3 round trips
                assert data, "unexpected end of stream"
                conn.sendall(data)
                echoed += len(data)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=echo, args=(conn,)) for conn in connections]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=50)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    for peer, pattern in zip(peers, patterns, strict=True):
        assert bytes(peer.received) == pattern
    assert link.overlaps == 0
    assert len(link.threads) >= 2
    for sock in connections + servers:
        sock.close()
