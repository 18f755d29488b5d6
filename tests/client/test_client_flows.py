"""Command sequences the emulator cannot answer yet (TCP client, UDP, D0, T0, F0, ZR),
checked against a scripted module that answers with the spec's byte formats."""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable

import pytest

from eswifi.client import Module
from eswifi.errors import NameResolutionError

OK = b"\r\n\r\nOK\r\n> "
Answer = Callable[[str, bytes], bytes | None]


def value(text: str) -> bytes:
    return b"\r\n" + text.encode() + b"\r\nOK\r\n> "


def as_counted(reply: bytes | None) -> bytes | None:
    """The R4 form (count first) of an R0 data reply; error replies stay as they are."""
    if reply is None or not reply.endswith(b"\r\nOK\r\n> "):
        return reply
    data = reply[2 : -len(b"\r\nOK\r\n> ")]
    return b"\r\n%04d" % len(data) + data + b"\r\nOK\r\n> "


class ScriptedModule:
    """A :class:`~eswifi.client.link.Link` whose module answers through a function.

    ``answer(line, payload)`` returns the reply bytes, or None for the default: set
    commands answer OK, everything else ERROR.
    """

    def __init__(self, answer: Answer, *, spi: bool = False) -> None:
        self.answer = answer
        self.spi = spi
        self.counted = True
        """The firmware knows R4 (else it answers Unknown Command)."""
        self.lines: list[str] = []
        self.payloads: list[bytes] = []
        self._pending = bytearray()
        self._out = bytearray()
        self.now = 0.0
        self.read_wait = 5.0

    def write(self, data: bytes) -> None:
        self._pending += data
        while b"\r" in self._pending:
            cr = self._pending.index(b"\r")
            line = bytes(self._pending[:cr]).strip(b"\n").decode("latin-1")
            payload = b""
            if line.startswith("S3="):
                count = int(line[3:])
                payload = bytes(self._pending[cr + 1 : cr + 1 + count])
                del self._pending[: cr + 1 + count]
                self.payloads.append(payload)
            else:
                del self._pending[: cr + 1]
            self._pending = bytearray(self._pending.lstrip(b"\n"))
            self.lines.append(line)
            if line.startswith("R2="):
                self.read_wait = int(line[3:]) / 1000
            if line == "R4" and not self.counted:
                reply = b"\r\n\r\nERROR: Unknown Command\r\n> "
            elif line == "R4":
                reply = as_counted(self.answer("R0", payload))
            else:
                reply = self.answer(line, payload)
            if line in ("R0", "R4") and reply in (OK, as_counted(OK)):
                self.now += self.read_wait  # the module waited R2 for data
            if reply is None:
                reply = OK if "=" in line else b"\r\n\r\nERROR\r\n> "
            if self.spi and len(reply) % 2:
                reply += b"\x15"
            self._out += reply

    def read(self, timeout: float) -> bytes:
        if not self._out:
            self.now += timeout
            return b""
        data = bytes(self._out)
        self._out.clear()
        return data

    def monotonic(self) -> float:
        return self.now

    def discard_input(self) -> None:
        self._out.clear()

    def close(self) -> None:
        pass


def module_with(answer: Answer, *, spi: bool = False) -> tuple[Module, ScriptedModule]:
    link = ScriptedModule(answer, spi=spi)
    return Module(link, spi=spi), link


def test_tcp_client_connect_send_recv_close() -> None:
    reads = [b"\r\nHTTP/1.0 200 OK\r\n\r\nOK\r\n> ", b"\r\n-1\r\n\r\nERROR\r\n> "]

    def answer(line: str, payload: bytes) -> bytes | None:
        if line == "D0=example.test":
            return value("10.1.2.3")
        if line == "C?":
            return value("lab,pw,3,1,0,10.0.0.2,255.255.255.0,10.0.0.1,10.0.0.1,0.0.0.0,5,0,0,US,1")
        if line == "P6=1":
            return b"\r\n[TCP  RC] Connecting to 10.1.2.3\r\nOK\r\n> "
        if line == "S3=18":
            return value("18")
        if line == "R0":
            return reads.pop(0)
        return None

    module, link = module_with(answer)
    with module.socket() as sock:
        sock.settimeout(5)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.connect(("example.test", 80))
        assert sock.getpeername() == ("10.1.2.3", 80)
        host, port = sock.getsockname()
        assert host == "10.0.0.2" and 49152 <= port <= 65535
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert sock.recv(100) == b"HTTP/1.0 200 OK\r\n"
        assert sock.recv(100) == b""
    assert link.lines[:9] == [
        "D0=example.test",
        "P0=0",
        "P1=0",
        "PK=1,7200000",
        f"P2={port}",
        "P3=10.1.2.3",
        "P4=80",
        "P6=1",
        "C?",
    ]
    assert link.payloads == [b"GET / HTTP/1.0\r\n\r\n"]
    assert link.lines[-1] == "P6=0"


def test_connect_failure_is_connection_refused() -> None:
    def answer(line: str, payload: bytes) -> bytes | None:
        if line == "P6=1":
            return (
                b"\r\n[TCP  RC] Connecting to 10.9.9.9"
                b"\r\n[TCP  RC] Failed to connect\r\nERROR\r\n> "
            )
        return None

    module, _ = module_with(answer)
    with module.socket() as sock, pytest.raises(ConnectionRefusedError, match="Failed"):
        sock.connect(("10.9.9.9", 1))


def test_udp_sendto_uses_the_source_port_workaround_and_recvfrom_reads_the_sender() -> None:
    datagrams = [value("pong")]

    def answer(line: str, payload: bytes) -> bytes | None:
        if line == "P6=1":
            return value(f"[UDP  RC] Socket opened on port {line}")
        if line.startswith("S3="):
            return value(str(len(payload)))
        if line == "R0":
            return datagrams.pop(0) if datagrams else OK
        if line == "P?":
            return value("1,0.0.0.0,50000,10.0.0.9,7777,0,1,1,0,0,0,7200000")
        if line == "C?":
            return value("lab,pw,3,1,0,10.0.0.2,255.255.255.0,10.0.0.1,10.0.0.1,0.0.0.0,5,0,0,US,1")
        return None

    module, link = module_with(answer, spi=True)
    with module.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1)
        assert sock.sendto(b"ping", ("10.0.0.9", 7777)) == 4
        local = sock.getsockname()[1]
        data, sender = sock.recvfrom(100)
        assert (data, sender) == (b"pong", ("10.0.0.9", 7777))
        with pytest.raises(TimeoutError):
            sock.recvfrom(100)
        with pytest.raises(OSError) as info:
            sock.sendto(b"x" * 1461, ("10.0.0.9", 7777))
        assert info.value.errno == errno.EMSGSIZE
    start = link.lines.index("P1=1")
    assert link.lines[start : start + 6] == [
        "P1=1",
        f"P2={local}",
        "P3=10.0.0.9",
        f"P4={local}",
        "P6=1",
        "P4=7777",
    ]


def test_udp_bind_starts_a_server() -> None:
    module, link = module_with(lambda line, payload: None)
    with module.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("", 5000))
    assert link.lines == ["P0=0", "P1=1", "P2=5000", "P5=1", "P5=0"]


def test_resolve_failure_is_a_gaierror() -> None:
    def answer(line: str, payload: bytes) -> bytes | None:
        if line.startswith("D0="):
            return b"\r\n[DNS  LU] Host not found nowhere.test:-1\r\nERROR\r\n> "
        return None

    module, _ = module_with(answer)
    with pytest.raises(socket.gaierror) as info:
        module.resolve("nowhere.test")
    assert isinstance(info.value, NameResolutionError)
    with module.socket() as sock, pytest.raises(socket.gaierror):
        sock.connect(("nowhere.test", 80))


def test_ping_scan_and_reset() -> None:
    def answer(line: str, payload: bytes) -> bytes | None:
        if line == "T0":
            return b"\r\n10.0.0.1,12\r\n10.0.0.1,Timeout\r\nOK\r\n> "
        if line == "F0":
            return (
                b'\r\n#001,"eswifi-lab",02:E5:00:00:00:01,-48,54.0,Infrastructure,WPA2 AES,2.4GHz,6'
                b'\r\n#002,"a, b",02:E5:00:00:00:02,-67,54.0,Infrastructure,Open,2.4GHz,11'
                b"\r\nOK\r\n> "
            )
        if line == "ZR":
            return b"\r\nReset\r\n> "
        return None

    module, link = module_with(answer)
    assert module.ping("10.0.0.1", count=2, interval=0.5) == [0.012, None]
    assert link.lines[-4:] == ["T1=10.0.0.1", "T2=2", "T3=500", "T0"]
    found = module.scan()
    assert [(ap.ssid, ap.rssi, ap.security, ap.channel) for ap in found] == [
        ("eswifi-lab", -48, "WPA2 AES", 6),
        ("a, b", -67, "Open", 11),
    ]
    sock = module.socket()
    module.reset()
    with pytest.raises(OSError):
        sock.recv(1)
    sock.close()  # nothing left to close on the module
    assert link.lines[-1] == "ZR"


def test_firmware_without_r4_is_read_with_r0() -> None:
    reads = [b"\r\nA\r\nOK\r\n> B\r\nOK\r\n> ", b"\r\nmore\r\nOK\r\n> "]

    def answer(line: str, payload: bytes) -> bytes | None:
        if line == "C?":
            return value("lab,pw,3,1,0,10.0.0.2,255.255.255.0,10.0.0.1,10.0.0.1,0.0.0.0,5,0,0,US,1")
        if line == "P6=1":
            return b"\r\n[TCP  RC] Connecting to 10.1.2.3\r\nOK\r\n> "
        if line == "R0":
            return reads.pop(0)
        return None

    module, link = module_with(answer)
    link.counted = False
    with module.socket() as sock:
        sock.settimeout(5)
        sock.connect(("10.1.2.3", 80))
        # Arriving whole, data holding the terminator is still read exactly with R0.
        assert sock.recv(100) == b"A\r\nOK\r\n> B"
        assert sock.recv(100) == b"more"
    reads_sent = [line for line in link.lines if line in ("R0", "R4")]
    assert reads_sent == ["R4", "R0", "R0"]  # R4 is tried once, then R0 from then on


def taken_once(reply_ok: bytes, code: str) -> tuple[Answer, list[str]]:
    """An answer where ``code`` fails for the first local port tried, then succeeds."""
    ports: list[str] = []
    status = value("lab,pw,3,1,0,10.0.0.2,255.255.255.0,10.0.0.1,10.0.0.1,0.0.0.0,5,0,0,US,1")

    def answer(line: str, payload: bytes) -> bytes | None:
        if line == "C?":
            return status
        if line.startswith("P2="):
            ports.append(line[3:])
        if line == code:
            return reply_ok if len(ports) > 1 else b"\r\n[TCP  RC] Failed to connect\r\nERROR\r\n> "
        return None

    return answer, ports


def test_connect_from_a_taken_random_port_tries_another() -> None:
    answer, ports = taken_once(b"\r\n[TCP  RC] Connecting to 10.1.2.3\r\nOK\r\n> ", "P6=1")
    module, _ = module_with(answer)
    with module.socket() as sock:
        sock.connect(("10.1.2.3", 80))
        assert sock.getsockname()[1] == int(ports[-1])
    assert len(ports) == 2


def test_refused_connect_gives_up_after_three_ports_and_a_bound_one_at_once() -> None:
    def refuse(line: str, payload: bytes) -> bytes | None:
        if line == "P6=1":
            return b"\r\n[TCP  RC] Failed to connect\r\nERROR\r\n> "
        return None

    module, link = module_with(refuse)
    with module.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("10.1.2.3", 80))
    assert link.lines.count("P6=1") == 3
    link.lines.clear()
    with module.socket() as sock:
        sock.bind(("", 40000))
        with pytest.raises(ConnectionRefusedError):
            sock.connect(("10.1.2.3", 80))
    assert link.lines.count("P6=1") == 1


def test_udp_bind_to_a_taken_random_port_tries_another() -> None:
    answer, ports = taken_once(OK, "P5=1")
    module, _ = module_with(answer)
    with module.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("", 0))
        assert sock.getsockname()[1] == int(ports[-1])
    assert len(ports) == 2
