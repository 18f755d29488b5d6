"""The RESET and DATA-READY pins end to end: ``eswifi emulate --control`` as a subprocess,
hosts on pyserial over the TCP console and a real pty, real loopback peers."""

from __future__ import annotations

import socket
import sys
import time

import pytest
import serial
from test_cli_emulate import OK_END, exchange, expect, free_port, join

from eswifi.client import Module
from eswifi.testing import EmulatorProcess

pytestmark = [pytest.mark.timeout(60), pytest.mark.subprocess]

WAIT = 10.0
HOST = "127.0.0.1"
GREETING = b"\x15\x15\r\n> "


def read_exactly(port: serial.SerialBase, count: int) -> bytes:
    data = port.read(count)
    assert len(data) == count, f"timed out with {data!r}"
    return data


def wait_discarded(module: EmulatorProcess, count: int) -> None:
    """Wait until the held module has taken (and dropped) ``count`` host bytes."""
    deadline = time.monotonic() + WAIT
    while (seen := int(module.pins()["discarded"])) < count:
        assert time.monotonic() < deadline, f"only {seen} bytes discarded"
        time.sleep(0.01)
    assert seen == count


def test_held_in_reset_host_bytes_are_ignored_and_peers_closed() -> None:
    with (
        EmulatorProcess(control=True) as module,
        serial.serial_for_url(module.url, timeout=WAIT) as console,
    ):
        join(console)
        port = free_port()
        exchange(console, b"P2=%d\r" % port)
        exchange(console, b"P5=11\r", OK_END)
        with socket.create_connection((HOST, port), timeout=WAIT) as peer:
            expect(console)  # Accepted
            module.hold_reset()
            try:
                seen = peer.recv(16)
            except ConnectionResetError:
                seen = b""  # an abortive close is a close too
            assert seen == b""
        console.write(b"CS\rP0\r")
        wait_discarded(module, 6)  # taken and dropped, no answer
        with module.watch_pins() as pins:
            module.release_reset()
            pins.wait_for("reset", 1)
        assert expect(console) == b"\r\n> "  # the boot prompt, exactly once:
        assert exchange(console, b"CS\r") == b"\r\n0" + OK_END
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((HOST, port), timeout=WAIT).close()
        assert module.stop(wait=WAIT) == 0, module.errors()


def test_uart_boot_prompt_after_a_pulse_over_tcp() -> None:
    with (
        EmulatorProcess(control=True) as module,
        serial.serial_for_url(module.url, timeout=WAIT) as console,
    ):
        module.reset()
        assert expect(console) == b"\r\n> "
        assert exchange(console, b"P0\r") == b"\r\n0" + OK_END
        assert module.stop(wait=WAIT) == 0, module.errors()


def test_pyserial_host_opens_then_pulses_reset_over_tcp_spi() -> None:
    with (
        EmulatorProcess("--link", "spi", control=True) as module,
        serial.serial_for_url(module.url, timeout=WAIT) as console,
    ):
        console.write(b"P0\r\n")  # speaking first ends the attach: greeting, then the reply
        assert expect(console, b"\r\n0" + OK_END + b"\x15").endswith(b"\r\n0" + OK_END + b"\x15")
        with module.watch_pins() as pins:
            module.reset()
            pins.wait_for("ready", 0)
            pins.wait_for("ready", 1)
        assert read_exactly(console, 6) == GREETING
        assert module.ready == 1
        assert exchange(console, b"P0\r\n", OK_END) == b"\r\n0" + OK_END
        assert module.stop(wait=WAIT) == 0, module.errors()


@pytest.mark.pty
@pytest.mark.skipif(sys.platform != "linux", reason="needs a Linux pty")
@pytest.mark.parametrize("link", ["spi", "uart"])
def test_pyserial_host_on_a_pty_sees_the_boot_output_after_a_pulse(link: str) -> None:
    with EmulatorProcess("--pty", "--link", link, control=True) as module:
        with serial.Serial(module.url, timeout=WAIT) as port:
            if link == "spi":
                assert read_exactly(port, 6) == GREETING  # the attach greeting
            module.hold_reset()
            port.write(b"P0\r\n")  # dead: ignored
            wait_discarded(module, 4)
            module.release_reset()
            boot = GREETING if link == "spi" else b"\r\n> "
            assert read_exactly(port, len(boot)) == boot
            reply = exchange(port, b"P0\r\n", OK_END)
            assert reply == b"\r\n0" + OK_END  # nothing before it: the boot output came once
        assert module.stop(wait=WAIT) == 0, module.errors()


@pytest.mark.parametrize("link", ["uart", "spi"])
def test_client_hard_reset_uses_the_pin(link: str) -> None:
    with EmulatorProcess("--link", link, control=True) as emulator:
        host, port = emulator.control_address
        with Module.open(emulator.url, link, control=f"{host}:{port}") as module:
            module.join("eswifi-lab", "eswifi-pass")
            assert module.status().connected
            with emulator.watch_pins() as pins:
                module.reset(hard=True)
                pins.wait_for("reset", 0)
            assert not module.status().connected
            assert module.info().firmware
        assert emulator.stop(wait=WAIT) == 0, emulator.errors()
