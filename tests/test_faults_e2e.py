"""Injected faults against a real ``eswifi emulate`` subprocess, driven over --control."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest
import serial
from test_cli_emulate import OK, OK_END, WAIT, exchange, expect, free_port, join
from test_runtime import JOIN, Running, async_test

from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.faults import Faults
from eswifi.testing.launch import EmulatorProcess

pytestmark = pytest.mark.timeout(60)
LOST = b"\r\n-1\r\n\r\nERROR\r\n> "


def setup(console: serial.SerialBase, *lines: bytes) -> bytes:
    """Run each command and return the last reply."""
    reply = b""
    for line in lines:
        reply = exchange(console, line + b"\r")
    return reply


@pytest.fixture
def emulator() -> Iterator[EmulatorProcess]:
    with EmulatorProcess("--listen", "127.0.0.1:0", "--control", "127.0.0.1:0", "--seed", "5") as e:
        yield e


@pytest.fixture
def console(emulator: EmulatorProcess) -> Iterator[serial.SerialBase]:
    port = serial.serial_for_url(emulator.url, timeout=WAIT)
    try:
        join(port)
        yield port
    finally:
        port.close()


@pytest.mark.subprocess
def test_seed_and_faults_show_on_the_control_channel(emulator: EmulatorProcess) -> None:
    assert emulator.control("fault") == ("ok seed=5 connect=off dns=off reset=off fragment=off")
    assert emulator.control("fault connect teleport").startswith("error: usage: fault")


@pytest.mark.subprocess
def test_refused_connect_never_reaches_the_peer(
    emulator: EmulatorProcess, console: serial.SerialBase
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.setblocking(False)
        port = server.getsockname()[1]
        emulator.refuse_connects()
        assert setup(console, b"P0=1", b"P1=0", b"P3=127.0.0.1", b"P4=%d" % port).endswith(OK)
        reply = exchange(console, b"P6=1\r")
        assert reply.endswith(b"[TCP  RC] Failed to connect\r\nERROR\r\n> "), reply
        with pytest.raises(BlockingIOError):
            server.accept()
        emulator.clear_faults()
        assert exchange(console, b"P6=1\r").endswith(b"Connecting to 127.0.0.1" + OK_END)
        server.setblocking(True)
        server.settimeout(WAIT)
        accepted, _ = server.accept()
        accepted.close()


@pytest.mark.subprocess
def test_peer_reset_mid_transfer(emulator: EmulatorProcess, console: serial.SerialBase) -> None:
    port = free_port()
    emulator.reset_after(10)
    assert setup(console, b"P0=0", b"P1=0", b"P2=%d" % port, b"P5=1").endswith(OK)
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as peer:
        assert expect(console).startswith(b"\r\n[TCP SVR] Accepted 127.0.0.1:")
        peer.sendall(b"0123456789abcdefghij")
        received = b""
        for _ in range(50):
            reply = exchange(console, b"R0\r")
            if reply == LOST:
                break
            received += reply.removeprefix(b"\r\n").removesuffix(b"\r\nOK\r\n> ")
        assert received == b"0123456789"
        with pytest.raises(ConnectionResetError):
            while peer.recv(100):
                pass


@pytest.mark.subprocess
def test_dns_failure(emulator: EmulatorProcess, console: serial.SerialBase) -> None:
    emulator.fail_dns()
    assert exchange(console, b"D0=localhost\r") == (
        b"\r\n[DNS  LU] Host not found localhost:-6\r\nERROR\r\n> "
    )


@pytest.mark.subprocess
def test_hung_module_comes_back_with_zr(
    emulator: EmulatorProcess, console: serial.SerialBase
) -> None:
    emulator.hang()
    console.write(b"I?\rP?\r")
    console.write(b"ZR\r")
    assert expect(console) == b"\r\n> "  # nothing for I? and P?: only the reboot prompt
    assert exchange(console, b"I?\r").endswith(OK_END)


@pytest.mark.subprocess
def test_fragmented_output_arrives_whole(
    emulator: EmulatorProcess, console: serial.SerialBase
) -> None:
    whole = exchange(console, b"I?\r")
    emulator.fragment_output(2, 1)
    assert exchange(console, b"I?\r") == whole


@async_test
async def test_link_writer_cuts_output_into_seeded_pieces() -> None:
    async def pieces(seed: int) -> tuple[list[bytes], bytes]:
        engine = ModuleEngine(faults=Faults(seed=seed, fragment_max=3))
        writes: list[bytes] = []
        async with Running(engine) as running:
            host = await running.attach()
            original = host.write

            def recording(data: bytes) -> None:
                writes.append(data)
                original(data)

            host.write = recording  # type: ignore[method-assign]
            reply = await host.command(JOIN + b"I?\r", ending=b"OK\r\n> ")
            while not reply.endswith(b"I?") and b"\r\nOK\r\n> " not in reply.split(b"[JOIN")[-1]:
                reply += await host.reply()
        return writes, reply

    writes, reply = await pieces(9)
    assert all(1 <= len(chunk) <= 3 for chunk in writes)
    assert b"".join(writes) == reply
    assert (await pieces(9))[0] == writes
    await asyncio.sleep(0)


@pytest.mark.subprocess
def test_control_needs_a_running_emulator_started_with_control() -> None:
    with (
        EmulatorProcess("--listen", "127.0.0.1:0") as plain,
        pytest.raises(RuntimeError, match="without --control"),
    ):
        plain.refuse_connects()
    with EmulatorProcess("--listen", "127.0.0.1:0", "--control", "127.0.0.1:0") as emulator:
        assert emulator.control("fault").startswith("ok seed=0")
        assert emulator.stop() == 0
        with pytest.raises(RuntimeError, match="not running"):
            emulator.control("fault")
