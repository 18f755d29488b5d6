"""``eswifi send`` as a subprocess and ``eswifi term`` driven through a real pty."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from eswifi.cli.linecmd import hexdump, parse_typed
from eswifi.cli.term import completions
from eswifi.testing import EmulatorProcess

from .console import HarnessConsole
from .ptyprogram import PtyProgram

pytestmark = pytest.mark.subprocess


def eswifi(command: str, *args: str) -> list[str]:
    """The command line that runs ``eswifi <command> <args>`` with this interpreter."""
    return [sys.executable, "-m", "eswifi", command, *args]


@pytest.fixture
def console() -> Iterator[HarnessConsole]:
    with HarnessConsole(joined=True) as served:
        yield served


def send(console: HarnessConsole, *commands: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        eswifi("send", console.url, *commands),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


# ---------------------------------------------------------------------- eswifi send


@pytest.mark.timeout(60)
def test_send_prints_replies_and_exits_0(console: HarnessConsole) -> None:
    result = send(console, "I?", "Z5", "CS", "P0=2", "P0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "ISM43362-M3G-L44,C6.2.1.11,v6.2.1,v2.0.3,v9.0.0,120000000,Inventek eS-WiFi",
        "C4:7F:51:01:12:31",
        "1",
        "2",
    ]


@pytest.mark.timeout(60)
def test_send_stops_at_the_first_error_with_status_1(console: HarnessConsole) -> None:
    result = send(console, "CS", "P1=9", "CD")
    assert result.returncode == 1
    assert result.stdout == "1\n"
    assert result.stderr.startswith("eswifi send: command 2 of 3 ('P1=9') answered ERROR:\n")
    assert "ERROR" in result.stderr.splitlines()[-1]
    with console.lock:
        assert console.harness.engine.wifi.joined  # CD was never sent
    unknown = send(console, "QQ")
    assert unknown.returncode == 1 and "Unknown Command" in unknown.stderr


@pytest.mark.timeout(60)
def test_send_s3_shorthand_and_hex(console: HarnessConsole) -> None:
    with console.lock:
        console.harness.send(b"P1=0\rP2=5024\rP5=11\r")
        peer = console.network.connect("127.0.0.1", 5024, source=("10.0.0.7", 40000))
        console.harness.output()
    result = send(console, "--hex", "S3 GET /\\r\\n")
    assert result.returncode == 0, result.stderr
    assert "0d 0a 37 0d 0a 4f 4b" in result.stdout  # "\r\n7\r\nOK"
    with console.lock:
        assert bytes(peer.received) == b"GET /\r\n"


@pytest.mark.timeout(60)
def test_send_link_failure_is_status_3() -> None:
    with HarnessConsole() as served:
        url = served.url
    result = subprocess.run(
        eswifi("send", url, "I?"), capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 3
    assert "link error" in result.stderr


def test_send_usage_error_is_status_2() -> None:
    result = subprocess.run(eswifi("send"), capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2


def test_typed_lines_and_helpers() -> None:
    assert parse_typed("S3 ab\\r\\n").line == b"S3=4"
    assert parse_typed("S3 ab\\r\\n").payload == b"ab\r\n"
    assert parse_typed("P3=10.0.0.1").payload is None
    assert ("P?", "Show the transport settings of the current socket") in completions("p?")
    assert [code for code, _ in completions(":h")] == [":hex", ":help"]
    assert hexdump(b"OK\r\n") == "0000  " + "4f 4b 0d 0a".ljust(47) + "  OK.."


# ---------------------------------------------------------------------- eswifi term


@pytest.mark.pty
@pytest.mark.timeout(90)
def test_term_session(console: HarnessConsole) -> None:
    with console.lock:
        console.harness.send(b"P1=0\rP2=5024\rP8=6\rP5=11\r")
    term = PtyProgram(eswifi("term", console.url))
    try:
        term.expect(r"eswifi>")
        term.type("I?\r")
        term.expect(r"Inventek eS-WiFi\s+OK")
        # Tab completion lists codes with their help from the command table.
        term.type("P")
        term.type("\t")
        term.expect(r"Select the current socket")
        term.type("\x15")  # Ctrl-U: clear the line
        term.type("\x1b")
        # An async message shows up while the prompt waits for input.
        with console.lock:
            peer = console.network.connect("127.0.0.1", 5024, source=("10.0.0.7", 40000))
            peer.send(b"hi")
        console.wake()
        term.expect(r"\[TCP SVR\] Accepted 10\.0\.0\.7:40000")
        term.type("R0\r")
        term.expect(r"hi\s+OK")
        # S3 payloads: the shorthand, and the payload prompt after S3=<n>.
        term.type("S3 pong\\r\\n\r")
        term.expect(r"6\s+OK")
        term.type("S3=3\r")
        term.expect(r"payload \(3 bytes\)>")
        term.type("abc\r")
        term.expect(r"3\s+OK")
        with console.lock:
            assert bytes(peer.received) == b"pong\r\nabc"
        # Hex view toggle.
        term.type(":hex\r")
        term.expect(r"hex view on")
        term.type("CS\r")
        term.expect(r"0000  0d 0a 31 0d 0a 4f 4b 0d 0a 3e 20")
        # History: up arrow brings back the last command.
        term.type("\x1b[A")
        term.expect(r"eswifi>\s*CS")
        term.type("\x15")
        term.type("\x04")  # Ctrl-D
        assert term.close() == 0
    finally:
        if term.process.poll() is None:
            term.process.kill()
            term.process.wait(timeout=10)


@pytest.mark.timeout(60)
def test_send_over_an_spi_link() -> None:
    with HarnessConsole(spi=True) as served:
        result = subprocess.run(
            eswifi("send", served.url, "--link", "spi", "I?", "MR"),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("ISM43362-M3G-L44-SPI,C3.5.2.5.STM")
    assert result.stdout.splitlines()[1] == "[SOMA][EOMA]"


@pytest.mark.subprocess
@pytest.mark.timeout(60)
def test_send_to_the_spi_build_without_link_spi_says_to_add_it() -> None:
    with EmulatorProcess("--link", "spi") as emulator:
        result = subprocess.run(
            [sys.executable, "-m", "eswifi", "send", emulator.url, "Z5"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 3
    assert result.stderr.startswith("link error: malformed reply")
    assert result.stderr.endswith("(0x15 pad bytes come from the SPI build: add --link spi)\n")
