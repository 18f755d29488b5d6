"""SIGTERM ends ``eswifi emulate`` promptly and quietly, whatever its clients do: a console
host or a control client that stopped reading, or a control client that says nothing."""

from __future__ import annotations

import signal
import socket

import pytest
from test_cli_emulate import WAIT, console_address

from eswifi.testing import EmulatorProcess

pytestmark = [pytest.mark.timeout(60), pytest.mark.subprocess]


def control_address(module: EmulatorProcess) -> tuple[str, int]:
    assert module.control_address is not None
    return module.control_address


def stuff(sock: socket.socket, data: bytes, *, until_blocked: bool = True) -> None:
    """Write ``data`` over and over without reading, until the kernel buffers are full."""
    sock.setblocking(False)
    for _ in range(100_000):
        try:
            sock.send(data)
        except BlockingIOError:
            if until_blocked:
                return
    raise AssertionError("the emulator never stopped taking bytes")


def quiet_exit(module: EmulatorProcess, signum: int = signal.SIGTERM) -> None:
    assert module.stop(signum, wait=WAIT) == (130 if signum == signal.SIGINT else 0)
    assert module.errors() == ""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_a_console_host_that_does_not_read(signum: int) -> None:
    with (
        EmulatorProcess() as module,
        socket.create_connection(console_address(module.url), timeout=WAIT) as host,
    ):
        stuff(host, b"I?\r" * 1000)
        quiet_exit(module, signum)


def test_a_control_client_that_does_not_read() -> None:
    with (
        EmulatorProcess(control=True) as module,
        socket.create_connection(control_address(module), timeout=WAIT) as control,
    ):
        stuff(control, b"status\n" * 1000)
        quiet_exit(module)


def test_an_idle_control_client() -> None:
    with (
        EmulatorProcess(control=True) as module,
        socket.create_connection(control_address(module), timeout=WAIT) as control,
    ):
        control.sendall(b"status\n")
        assert control.recv(1000).startswith(b"ok ")
        quiet_exit(module)


def test_an_idle_console_host_and_control_client() -> None:
    with EmulatorProcess(control=True) as module:
        address = control_address(module)
        with (
            socket.create_connection(console_address(module.url), timeout=WAIT),
            socket.create_connection(address, timeout=WAIT),
        ):
            quiet_exit(module)
