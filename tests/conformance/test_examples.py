"""Every example program and doc snippet, run twice in a row against one emulator.

The module keeps its state between host programs, as the real one does, so the second run
is the one that shows whether a program leaves the module usable (and whether
``Module.open`` brings back a module that an earlier program left in any state).
"""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from eswifi.client import Module
from eswifi.testing import EmulatorProcess

from .conftest import start_emulator

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 20.0
RUNS = 2
README_URL = "socket://127.0.0.1:7000"

pytestmark = pytest.mark.subprocess


@pytest.fixture(params=["uart", "spi"])
def emulator(request: pytest.FixtureRequest) -> Iterator[EmulatorProcess]:
    served = start_emulator(pty=False, spi=request.param == "spi")
    served.link = request.param  # type: ignore[attr-defined]
    try:
        yield served
    finally:
        served.close()


@pytest.fixture
def uart_emulator() -> Iterator[EmulatorProcess]:
    served = start_emulator(pty=False, spi=False)
    try:
        yield served
    finally:
        served.close()


def free_port() -> int:
    """A TCP port nothing on 127.0.0.1 uses right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Program:
    """A Python program in a subprocess whose stdout is read line by line with a deadline."""

    def __init__(self, argv: list[str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            # Ctrl-C (SIGINT) must reach it even when the tests run as a background job,
            # which starts with SIGINT ignored.
            preexec_fn=_default_sigint,
        )
        self._pending = b""

    def line(self, timeout: float = TIMEOUT) -> str:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._pending:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(0.0, remaining))
            if not ready:
                raise AssertionError(f"no line within {timeout} s; got {self._pending!r}")
            chunk = os.read(fd, 4096)
            if not chunk:
                raise AssertionError(f"program ended: {self.finish()[1]}")
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return line.decode()

    def finish(self) -> tuple[int, str]:
        """Wait for the program to end; returns its exit status and stderr."""
        try:
            out, err = self.process.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate(timeout=TIMEOUT)
        self._pending += out or b""
        return self.process.returncode, err.decode()

    def rest(self) -> str:
        """What the program printed that :meth:`line` has not returned (after finish)."""
        text, self._pending = self._pending.decode(), b""
        return text


def python_block(path: Path, after: str) -> str:
    """The first ```python block after the heading ``after`` in a Markdown file."""
    section = path.read_text(encoding="utf-8").split(after, 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, f"no python block after {after!r} in {path.name}"
    return match.group(1)


class Responder:
    """A loopback TCP server answering every connection with ``reply`` once it has read
    ``expect`` bytes (a stand-in for the web server a snippet talks to)."""

    def __init__(self, expect: bytes, reply: bytes) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(TIMEOUT)
        self.port = self.listener.getsockname()[1]
        self.expect = expect
        self.reply = reply
        self.received: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(TIMEOUT)
                data = b""
                while len(data) < len(self.expect):
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                self.received.append(data)
                conn.sendall(self.reply)

    def close(self) -> None:
        self.listener.close()
        self._thread.join(TIMEOUT)


# ---------------------------------------------------------------------- doc snippets


@pytest.mark.timeout(90)
def test_readme_client_example_runs_twice(uart_emulator: EmulatorProcess) -> None:
    code = python_block(ROOT / "README.md", "## Client library")
    assert len(code.strip().splitlines()) <= 11
    assert README_URL in code
    for _run in range(RUNS):
        program = Program(["-c", code.replace(README_URL, uart_emulator.url)])
        assert program.line() == "joined as 127.0.0.1"
        words = program.line().split()
        assert words[:3] == ["connect", "to", "127.0.0.1"]
        with socket.create_connection(("127.0.0.1", int(words[3])), timeout=TIMEOUT) as peer:
            data = b""
            while chunk := peer.recv(100):
                data += chunk
        assert data == b"hello 127.0.0.1\n"
        status, err = program.finish()
        assert status == 0, err


@pytest.mark.timeout(90)
def test_client_doc_example_runs_twice(emulator: EmulatorProcess) -> None:
    code = python_block(ROOT / "docs" / "client.md", "# The client library")
    assert README_URL in code and '("127.0.0.1", 8000)' in code
    request = b"GET / HTTP/1.0\r\n\r\n"
    server = Responder(request, b"HTTP/1.0 200 OK\r\n\r\nhi")
    try:
        code = code.replace(README_URL, emulator.url).replace(
            'link="uart"', f'link="{emulator.link}"'
        )
        code = code.replace('("127.0.0.1", 8000)', f'("127.0.0.1", {server.port})')
        for run in range(RUNS):
            program = Program(["-c", code])
            assert program.line() == repr(b"HTTP/1.0 200 OK\r\n\r\nhi")
            status, err = program.finish()
            assert status == 0, err
            assert server.received[run] == request
    finally:
        server.close()


@pytest.mark.timeout(60)
def test_in_process_snippets_run_twice() -> None:
    snippets = [
        (ROOT / "README.md", "## Test host code in-process"),
        (ROOT / "docs" / "client.md", "## Testing without hardware"),
        (ROOT / "docs" / "architecture.md", "## The engine's theory of operation"),
    ]
    for path, heading in snippets:
        code = compile(python_block(path, heading), str(path), "exec")
        for _run in range(RUNS):
            exec(code, {})


# ---------------------------------------------------------------------- example programs


def fetch(url: str) -> tuple[int, str]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only
    with opener.open(url, timeout=TIMEOUT) as response:
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        return response.status, response.read().decode()


@pytest.mark.timeout(120)
def test_http_example_serves_pages_twice(emulator: EmulatorProcess) -> None:
    port = free_port()
    for _run in range(RUNS):
        program = Program(
            [
                "examples/http_server.py",
                emulator.url,
                "--link",
                emulator.link,
                "--port",
                str(port),
                "--requests",
                "2",
            ]
        )
        assert program.line() == f"serving http://127.0.0.1:{port}/"
        for number, path in enumerate(("", "hello?x=1"), start=1):
            status, page = fetch(f"http://127.0.0.1:{port}/{path}")
            assert status == 200
            assert "Hello from the eS-WiFi module" in page
            assert f"<code>/{path}</code>" in page
            assert f"this is request {number}" in page
            assert program.line().endswith(f"GET /{path} 200")
        status, err = program.finish()
        assert status == 0, err


@pytest.mark.timeout(90)
def test_echo_client_example_runs_twice(emulator: EmulatorProcess) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(TIMEOUT)

        def echo(times: int) -> None:
            for _ in range(times):
                conn, _ = listener.accept()
                with conn:
                    conn.settimeout(TIMEOUT)
                    while data := conn.recv(4096):
                        conn.sendall(data)

        thread = threading.Thread(target=echo, args=(RUNS,), daemon=True)
        thread.start()
        port = str(listener.getsockname()[1])
        for run in range(RUNS):
            message = f"hi {run}"
            program = Program(
                [
                    "examples/echo_client.py",
                    emulator.url,
                    "127.0.0.1",
                    port,
                    message,
                    "--link",
                    emulator.link,
                ]
            )
            assert program.line() == message
            status, err = program.finish()
            assert status == 0, err
        thread.join(TIMEOUT)
        assert not thread.is_alive()


CRASHING_SCRIPT = """
import os, sys
from eswifi.client import Module
url, link, peer_port, server_port = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
module = Module.open(url, link)
module.join("eswifi-lab", "eswifi-pass")
client = module.socket()
client.connect(("127.0.0.1", peer_port))
server = module.socket()
server.bind(("", server_port))
server.listen()
udp = module.socket(type=2)
udp.bind(("", 0))
print("open", flush=True)
os._exit(1)
"""


@pytest.mark.timeout(120)
def test_a_crashed_script_does_not_break_the_next_run(emulator: EmulatorProcess) -> None:
    """A program that dies with three module sockets open, one of them listening on the
    port the HTTP example wants, and an HTTP example killed while serving: the next run
    of the example still serves its pages."""
    port = free_port()
    with socket.create_server(("127.0.0.1", 0)) as peer:
        crashed = Program(
            [
                "-c",
                CRASHING_SCRIPT,
                emulator.url,
                emulator.link,
                str(peer.getsockname()[1]),
                str(port),
            ]
        )
        assert crashed.line() == "open"
        assert crashed.finish()[0] == 1
        killed = Program(
            [
                "examples/http_server.py",
                emulator.url,
                "--link",
                emulator.link,
                "--port",
                str(free_port()),
            ]
        )
        assert killed.line().startswith("serving ")
        killed.process.send_signal(signal.SIGKILL)
        killed.finish()
    program = Program(
        [
            "examples/http_server.py",
            emulator.url,
            "--link",
            emulator.link,
            "--port",
            str(port),
            "--requests",
            "1",
        ]
    )
    assert program.line() == f"serving http://127.0.0.1:{port}/"
    status, page = fetch(f"http://127.0.0.1:{port}/again")
    assert status == 200 and "<code>/again</code>" in page
    assert program.line().endswith("GET /again 200")
    status, err = program.finish()
    assert status == 0, err


@pytest.mark.pty
@pytest.mark.timeout(90)
@pytest.mark.parametrize("control", [False, True], ids=["resync", "reset-pin"])
def test_a_module_left_halfway_through_a_payload_serves_the_next_program(control: bool) -> None:
    """A program died after ``S3=100`` and 4 of its 100 bytes: the module waits for the
    rest. The next ``Module.open`` resynchronises the link, or pulses the RESET pin when it
    has the emulator's control channel, and the module works again."""
    with EmulatorProcess("--pty", control=control) as emulator:
        with serial.serial_for_url(emulator.url, timeout=TIMEOUT) as port:
            port.write(b"C1=eswifi-lab\rC2=eswifi-pass\rC3=3\rC0\rP6=0\rS3=100\rhalf")
            seen = b""
            while seen.count(b"OK\r\n> ") < 5:
                chunk = port.read(1)
                assert chunk, f"no replies: {seen!r}"
                seen += chunk + port.read(port.in_waiting)
        with Module.open(emulator.url, timeout=3, control=emulator.control_address) as module:
            assert module.join("eswifi-lab", "eswifi-pass") == "127.0.0.1"
            with socket.create_server(("127.0.0.1", 0)) as peer, module.socket() as sock:
                sock.settimeout(TIMEOUT)
                sock.connect(peer.getsockname())
                sock.sendall(b"back")
                conn, _ = peer.accept()
                with conn:
                    conn.settimeout(TIMEOUT)
                    assert conn.recv(4) == b"back"


@pytest.mark.timeout(90)
def test_echo_client_example_reports_a_refused_connection_in_one_line(
    uart_emulator: EmulatorProcess,
) -> None:
    port = str(free_port())  # nothing listens there
    for _run in range(RUNS):
        program = Program(["examples/echo_client.py", uart_emulator.url, "127.0.0.1", port])
        status, err = program.finish()
        assert status == 1
        assert err == (
            f"echo_client: 127.0.0.1:{port} refused the connection; "
            "is an echo server running there?\n"
        )
