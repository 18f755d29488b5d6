"""``eswifi emulate`` with the radio options, end to end: a real process, a real console,
real loopback peers, the host resolver (``localhost`` only) and ICMP.

Names that must fail are looked up with a radio file whose ``[dns]`` does not forward, so
no DNS query leaves the machine."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import serial
from test_cli_emulate import HOST, OK, OK_END, WAIT, exchange, expect, free_port, stopped
from test_wifi import parse_scan

from eswifi.testing.launch import EmulatorProcess

pytestmark = [pytest.mark.timeout(60), pytest.mark.subprocess]


def join(console: serial.SerialBase, ssid: bytes = b"eswifi-lab", pw: bytes = b"eswifi-pass"):
    for command in (b"C1=" + ssid + b"\r", b"C2=" + pw + b"\r", b"C3=3\r"):
        assert exchange(console, command) == OK
    return exchange(console, b"C0\r")


def control_port(module: EmulatorProcess) -> tuple[str, int]:
    """Where the module's --control channel listens (read from its 'control: …' line)."""
    assert module.control_address is not None
    return module.control_address


def tell(address: tuple[str, int], line: str) -> str:
    with socket.create_connection(address, timeout=WAIT) as control:
        control.sendall(line.encode() + b"\n")
        return control.makefile("rb").readline().decode().strip()


def test_join_scan_lookup_and_ping(tmp_path: Path) -> None:
    with (
        EmulatorProcess() as module,
        serial.serial_for_url(module.url, timeout=WAIT) as console,
    ):
        assert join(console, pw=b"wrong") == (
            b"\r\n[JOIN   ] eswifi-lab\r\n[JOIN   ] Failed\r\nERROR\r\n> "
        )
        assert exchange(console, b"CS\r") == b"\r\n0" + OK_END
        assert join(console) == b"\r\n[JOIN   ] eswifi-lab,127.0.0.1,0,0" + OK_END
        found = parse_scan(exchange(console, b"F0\r", OK_END))
        assert [ap["ssid"] for ap in found] == ["eswifi-lab", "eswifi-open"]
        assert exchange(console, b"D0=localhost\r", b"> ") == b"\r\n127.0.0.1" + OK_END
        assert exchange(console, b"P?\r").split(b",")[3] == b"127.0.0.1"
        assert exchange(console, b"T1=127.0.0.1\rT2=2\rT3=10\r", OK * 3) == OK * 3
        reply = exchange(console, b"T0=\r", OK_END)
        lines = reply.removesuffix(OK_END).split(b"\r\n")[1:]
        assert len(lines) == 2
        for line in lines:
            host, rtt = line.split(b",")
            assert host == b"127.0.0.1" and rtt.isdigit(), reply
        assert stopped(module) == 0, module.errors()


def test_dns_table_without_forwarding(tmp_path: Path) -> None:
    radio = tmp_path / "dns.toml"
    radio.write_text('[dns]\nforward = false\nhosts = { "printer.lab" = "127.0.0.5" }\n')
    with (
        EmulatorProcess("--radio", str(radio)) as module,
        serial.serial_for_url(module.url, timeout=WAIT) as console,
    ):
        join(console)
        assert exchange(console, b"D0=printer.lab\r", OK_END) == b"\r\n127.0.0.5" + OK_END
        assert exchange(console, b"D0=Printer.LAB\r", OK_END) == b"\r\n127.0.0.5" + OK_END
        assert exchange(console, b"P?\r").split(b",")[3] == b"127.0.0.5"
        assert exchange(console, b"D0=no-such-host.invalid\r") == (
            b"\r\n[DNS  LU] Host not found no-such-host.invalid:-6\r\nERROR\r\n> "
        )
        assert exchange(console, b"D0=127.0.0.9\r", OK_END) == b"\r\n127.0.0.9" + OK_END
        assert stopped(module) == 0, module.errors()


def test_reset_closes_real_peers_and_greets_again(tmp_path: Path) -> None:
    with (
        EmulatorProcess() as module,
        serial.serial_for_url(module.url, timeout=WAIT) as console,
    ):
        join(console)
        port = free_port()
        exchange(console, b"P2=%d\r" % port)
        exchange(console, b"P5=11\r", OK_END)
        with socket.create_connection((HOST, port), timeout=WAIT) as peer:
            expect(console)  # Accepted
            assert exchange(console, b"ZR\r", b"Reset") == b"\r\nReset"
            try:
                seen = peer.recv(16)
            except ConnectionResetError:
                seen = b""  # an abortive close is a close too
            assert seen == b""
            assert expect(console) == b"\r\n> "
        assert exchange(console, b"CS\r") == b"\r\n0" + OK_END
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((HOST, port), timeout=WAIT).close()
        assert stopped(module) == 0, module.errors()


def test_link_down_from_the_control_channel(tmp_path: Path) -> None:
    with EmulatorProcess("--control", f"{HOST}:0") as module:
        control = control_port(module)
        with serial.serial_for_url(module.url, timeout=WAIT) as console:
            join(console)
            port = free_port()
            exchange(console, b"P2=%d\r" % port)
            exchange(console, b"P5=11\r", OK_END)
            with socket.create_connection((HOST, port), timeout=WAIT) as peer:
                expect(console)
                peer.sendall(b"x")
                assert exchange(console, b"R0\r", OK_END) == b"\r\nx" + OK_END
                assert tell(control, "vanish eswifi-lab") == "ok eswifi-lab gone"
                assert expect(console) == b"\r\n[INFO   ] Link Down\r\nOK\r\n> "
                assert exchange(console, b"R0\r") == b"\r\n-1\r\nERROR\r\n> "
                assert tell(control, "appear eswifi-lab") == "ok eswifi-lab in range"
                assert expect(console) == b"\r\n[INFO   ] Link Up\r\nOK\r\n> "
                assert exchange(console, b"CS\r") == b"\r\n1" + OK_END
            assert tell(control, "nonsense").startswith("error: ")
        assert stopped(module) == 0, module.errors()


def test_settings_survive_a_restart_with_a_state_file(tmp_path: Path) -> None:
    state = tmp_path / "module.json"
    with (
        EmulatorProcess("--state", str(state)) as module,
        serial.serial_for_url(module.url, timeout=WAIT) as console,
    ):
        for command in (b"C1=eswifi-lab\r", b"C2=eswifi-pass\r", b"CC=1\r", b"ZN=Bench 3\r"):
            assert exchange(console, command) == OK
        assert exchange(console, b"Z1\r") == OK
        assert stopped(module) == 0, module.errors()
    assert state.exists()
    with (
        EmulatorProcess("--state", str(state)) as module,
        serial.serial_for_url(module.url, timeout=WAIT) as console,
    ):
        assert exchange(console, b"I?\r", OK_END).endswith(b",Bench 3" + OK_END)
        assert exchange(console, b"CS\r") == b"\r\n1" + OK_END  # auto-connected
        assert exchange(console, b"C?\r", OK_END).startswith(b"\r\neswifi-lab,eswifi-pass,")
        assert stopped(module) == 0, module.errors()


def test_radio_file_and_firmware_choice(tmp_path: Path) -> None:
    with (
        EmulatorProcess("--radio", "example", "--firmware", "C6.2.1.11") as module,
        serial.serial_for_url(module.url, timeout=WAIT) as console,
    ):
        assert b",C6.2.1.11," in exchange(console, b"I?\r", OK_END)
        assert [ap["ssid"] for ap in parse_scan(exchange(console, b"F0\r", OK_END))] == [
            "eswifi-lab",
            "office",
        ]
        assert stopped(module, signal.SIGINT) == 130, module.errors()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[[access_points]]\nssid = "a"\nbssid = "nope"\n', "bad.toml:3: access_points[0].bssid"),
        ('[firmware]\nname = "C0"\n', "bad.toml:2: firmware.name: unknown firmware 'C0'"),
    ],
)
def test_bad_radio_file_exits_with_its_line(tmp_path: Path, content: str, message: str) -> None:
    radio = tmp_path / "bad.toml"
    radio.write_text(content)
    result = subprocess.run(
        [sys.executable, "-m", "eswifi", "emulate", "--radio", str(radio)],
        capture_output=True,
        timeout=WAIT * 3,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2
    assert result.stdout == b""
    assert message in result.stderr.decode()
