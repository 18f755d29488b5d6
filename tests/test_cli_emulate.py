"""``eswifi emulate`` as a real subprocess, driven over its link by pyserial and real peers."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import serial

from eswifi.cli.main import main
from eswifi.emulator.links import BUSY_MESSAGE
from eswifi.testing.launch import EmulatorProcess

pytestmark = pytest.mark.timeout(60)

WAIT = 10.0
OK = b"\r\n\r\nOK\r\n> "
OK_END = b"\r\nOK\r\n> "
HOST = "127.0.0.1"


def stopped(module: EmulatorProcess, signum: int = signal.SIGTERM) -> int:
    """Signal the emulator; its exit status, once it exited without a complaint."""
    status = module.stop(signum, WAIT)
    assert module.errors() == ""
    return status


def exchange(port: serial.SerialBase, data: bytes, ending: bytes = b"> ") -> bytes:
    port.write(data)
    return expect(port, ending)


def expect(port: serial.SerialBase, ending: bytes = b"> ") -> bytes:
    reply = port.read_until(ending)
    assert reply.endswith(ending), f"timed out with {reply!r}"
    return reply


def join(port: serial.SerialBase) -> None:
    for command in (b"C1=eswifi-lab\r", b"C2=eswifi-pass\r", b"C3=3\r"):
        assert exchange(port, command) == OK
    assert exchange(port, b"C0\r") == b"\r\n[JOIN   ] eswifi-lab,127.0.0.1,0,0" + OK_END


def free_port(kind: int = socket.SOCK_STREAM, host: str = HOST) -> int:
    """A port nothing on ``host`` uses right now (tests never hard-code one)."""
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def console_address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("socket://").rsplit(":", 1)
    return host, int(port)


def recv_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    return data


@pytest.mark.subprocess
def test_tcp_console_session_with_a_real_peer(tmp_path: Path) -> None:
    trace = tmp_path / "link.trace"
    with EmulatorProcess("--listen", f"{HOST}:0", "--trace", str(trace)) as module:
        assert module.url.startswith(f"socket://{HOST}:")
        server_port = free_port()
        with serial.serial_for_url(module.url, timeout=WAIT) as console:
            join(console)
            assert exchange(console, b"P2=%d\r" % server_port) == OK
            assert exchange(console, b"P5=11\r", OK_END) == (
                b"\r\n[TCP TSK] Multi-Accept Setup\r\n[TCP SVR] Waiting on connection ...\r\n"
                + OK_END
            )
            peer = socket.create_connection((HOST, server_port), timeout=WAIT)
            with peer:
                peer_port = peer.getsockname()[1]
                accepted = b"\r\n[TCP SVR] Accepted 127.0.0.1:%d\r\n> " % peer_port
                assert expect(console) == accepted
                data = b"Data from client \x00\xff\r\n"
                peer.sendall(data)
                assert exchange(console, b"R0\r", OK_END) == b"\r\n" + data + OK_END
                assert exchange(console, b"S3=5\rhello", OK_END) == b"\r\n5" + OK_END
                assert recv_exactly(peer, 5) == b"hello"

                # A second console host is refused; the first keeps working.
                with socket.create_connection(console_address(module.url), timeout=WAIT) as other:
                    assert recv_to_eof(other) == BUSY_MESSAGE
                assert exchange(console, b"CS\r") == b"\r\n1" + OK_END

            # The peer closed: its module socket reports the loss.
            assert exchange(console, b"R0\r") == b"\r\n-1\r\n\r\nERROR\r\n> "
        exit_code = stopped(module, signal.SIGTERM)
        assert exit_code == 0, module.errors()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((HOST, server_port), timeout=WAIT).close()
    lines = trace.read_text(encoding="ascii").splitlines()
    assert any(line.endswith(" > C0\\r") for line in lines)
    assert any(line.endswith(" < " + repr_escaped(accepted)) for line in lines)
    times = [float(line.split(" ", 1)[0]) for line in lines]
    assert times == sorted(times)


def recv_to_eof(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(1024):
        data += chunk
    return data


def repr_escaped(data: bytes) -> str:
    from eswifi.wire.framing import escape

    return escape(data)


@pytest.mark.subprocess
def test_console_host_can_leave_and_come_back_to_the_same_module(tmp_path: Path) -> None:
    with EmulatorProcess("--listen", f"{HOST}:0") as module:
        with serial.serial_for_url(module.url, timeout=WAIT) as console:
            join(console)
            assert exchange(console, b"P0=3\r") == OK
            console.write(b"P0=")  # half a line, then the host goes away
        with serial.serial_for_url(module.url, timeout=WAIT) as console:
            assert exchange(console, b"CS\r") == b"\r\n1" + OK_END
            assert exchange(console, b"P0\r") == b"\r\n3" + OK_END
        assert stopped(module, signal.SIGINT) == 130, module.errors()


@pytest.mark.subprocess
def test_spi_link_greets_each_host(tmp_path: Path) -> None:
    with EmulatorProcess("--link", "spi") as module:
        assert module.url.startswith(f"socket://{HOST}:")
        with serial.serial_for_url(module.url, timeout=WAIT) as console:
            assert expect(console) == b"\x15\x15\r\n> "
            assert exchange(console, b"MR\r\n", OK_END) == b"\r\n[SOMA][EOMA]" + OK_END
        assert stopped(module) == 0, module.errors()


@pytest.mark.subprocess
@pytest.mark.skipif(sys.platform != "linux", reason="needs the whole 127/8 on loopback")
def test_host_address_is_where_module_servers_listen(tmp_path: Path) -> None:
    address = "127.0.0.2"
    with EmulatorProcess("--host-address", address) as module:
        server_port = free_port(host=address)
        with serial.serial_for_url(module.url, timeout=WAIT) as console:
            for command in (b"C1=eswifi-lab\r", b"C2=eswifi-pass\r", b"C3=3\r"):
                exchange(console, command)
            assert exchange(console, b"C0\r") == b"\r\n[JOIN   ] eswifi-lab,127.0.0.2,0,0" + OK_END
            exchange(console, b"P2=%d\r" % server_port)
            assert exchange(console, b"P5=1\r", OK_END).endswith(b"...\r\n" + OK_END)
            with socket.create_connection((address, server_port), timeout=WAIT) as peer:
                assert expect(console) == b"\r\n[TCP SVR] Accepted %s:%d\r\n> " % (
                    peer.getsockname()[0].encode(),
                    server_port,
                )
        assert stopped(module) == 0, module.errors()


@pytest.mark.subprocess
@pytest.mark.pty
@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pty")
def test_pty_link_can_be_closed_and_reopened(tmp_path: Path) -> None:
    with EmulatorProcess("--pty") as module:
        assert module.url.startswith("/dev/")
        for _ in range(2):
            with serial.Serial(module.url, timeout=WAIT) as port:
                reply = exchange(port, b"I?\r", OK_END)
                assert reply.startswith(b"\r\nISM43362-M3G-L44,C6.2.1.11,")
                assert exchange(port, b"P0\r") == b"\r\n0" + OK_END
        assert stopped(module, signal.SIGINT) == 130, module.errors()


@pytest.mark.subprocess
def test_stdio_link_answers_on_stdout_and_ends_with_stdin(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "eswifi", "emulate", "--stdio"],
        input=b"Z5\rP0\r",
        capture_output=True,
        timeout=WAIT * 3,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"\r\nC4:7F:51:01:12:31" + OK_END + b"\r\n0" + OK_END


def test_bad_options_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["emulate", "--listen", "no-port"],
        ["emulate", "--listen", "127.0.0.1:70000"],
        ["emulate", "--host-address", "not-an-ip"],
        ["emulate", "--pty", "--stdio"],
        ["emulate", "--link", "i2c"],
        [],
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2, argv
    assert "HOST:PORT" in capsys.readouterr().err


@pytest.mark.subprocess
def test_a_console_port_in_use_is_reported(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind((HOST, 0))
        busy.listen()
        host, port = busy.getsockname()
        result = subprocess.run(
            [sys.executable, "-m", "eswifi", "emulate", "--listen", f"{host}:{port}"],
            capture_output=True,
            timeout=WAIT * 3,
            check=False,
        )
    assert result.returncode == 1
    assert result.stdout == b""
    assert b"cannot open the host link" in result.stderr
