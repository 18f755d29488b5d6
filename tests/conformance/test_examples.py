"""The README's client example and the example programs, end to end against the emulator."""

from __future__ import annotations

import os
import re
import select
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from eswifi.client import Module
from eswifi.testing.launch import EmulatorProcess

from .conftest import start_emulator

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 20.0

pytestmark = pytest.mark.subprocess


@pytest.fixture
def emulator() -> Iterator[EmulatorProcess]:
    served = start_emulator(pty=False, spi=False)
    try:
        yield served
    finally:
        served.close()


class Program:
    """A Python program in a subprocess whose stdout is read line by line with a deadline."""

    def __init__(self, argv: list[str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT
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
        try:
            _, err = self.process.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate(timeout=TIMEOUT)
        return self.process.returncode, err.decode()


def readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Client library", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


@pytest.mark.timeout(60)
def test_readme_client_example_works_as_written(emulator: EmulatorProcess) -> None:
    code = readme_example()
    assert len(code.strip().splitlines()) <= 11
    program = Program(["-c", code.replace("socket://127.0.0.1:7000", emulator.url)])
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


@pytest.mark.timeout(60)
def test_http_example_serves_a_page(emulator: EmulatorProcess) -> None:
    program = Program(["examples/http_server.py", emulator.url, "--port", "0", "--requests", "2"])
    first = program.line()
    match = re.fullmatch(r"serving (http://127\.0\.0\.1:\d+/)", first)
    assert match, first
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only
    for number, path in enumerate(("", "hello?x=1"), start=1):
        with opener.open(match.group(1) + path, timeout=TIMEOUT) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "text/html; charset=utf-8"
            page = response.read().decode()
        assert "Hello from the eS-WiFi module" in page
        assert f"<code>/{path}</code>" in page
        assert f"this is request {number}" in page
        assert program.line().endswith(f"GET /{path}")
    status, err = program.finish()
    assert status == 0, err


@pytest.mark.timeout(60)
def test_echo_client_example(emulator: EmulatorProcess) -> None:
    with Module.open(emulator.url) as module:
        module.join("eswifi-lab", "eswifi-pass")
        module.leave()  # the example joins by itself
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(TIMEOUT)

        def echo_once() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(TIMEOUT)
                while data := conn.recv(4096):
                    conn.sendall(data)

        thread = threading.Thread(target=echo_once, daemon=True)
        thread.start()
        port = listener.getsockname()[1]
        program = Program(["examples/echo_client.py", emulator.url, "127.0.0.1", str(port), "hi"])
        assert program.line() == "hi"
        status, err = program.finish()
        assert status == 0, err
        thread.join(TIMEOUT)
