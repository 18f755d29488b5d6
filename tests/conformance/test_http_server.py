"""``examples/http_server.py`` against real clients: a headless Chromium loading a page with
frames and images, and plain sockets that connect and send nothing, half a request,
garbage, or reset, mixed with parallel well-behaved clients."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from eswifi.testing import EmulatorProcess

from .conftest import start_emulator
from .test_examples import TIMEOUT, Program, free_port

pytestmark = pytest.mark.subprocess

FRAMES = 8
IMAGES = 4
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
BROWSER_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-proxy-server",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
SCRIPT = """
window.addEventListener("load", () => {
  const frames = [...document.querySelectorAll("iframe")].map((frame) => {
    try { return frame.contentDocument.body.dataset.frame || "empty"; }
    catch (error) { return "error"; }
  });
  const images = [...document.querySelectorAll("img")].map(
    (image) => image.naturalWidth > 0 ? image.dataset.image : "broken");
  document.getElementById("result").textContent = frames.concat(images).join(",");
});
"""


@pytest.fixture
def emulator() -> Iterator[EmulatorProcess]:
    served = start_emulator(pty=False, spi=False)
    try:
        yield served
    finally:
        served.close()


def write_site(root: Path) -> list[str]:
    """A page with FRAMES frames and IMAGES images; returns what the page reports when
    every one of them arrived."""
    frames = "\n".join(f'<iframe src="/frame{i}.html"></iframe>' for i in range(FRAMES))
    images = "\n".join(
        f'<img src="/dot{i}.svg" data-image="dot{i}" width="8" height="8">' for i in range(IMAGES)
    )
    (root / "index.html").write_text(
        f"<!doctype html><html><head><title>frames</title></head><body>\n{frames}\n{images}\n"
        f'<pre id="result">pending</pre>\n<script>{SCRIPT}</script>\n</body></html>\n'
    )
    for i in range(FRAMES):
        (root / f"frame{i}.html").write_text(
            f'<!doctype html><html><body data-frame="frame{i}">frame {i}</body></html>\n'
        )
    for i in range(IMAGES):
        (root / f"dot{i}.svg").write_text(
            '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8">'
            '<rect width="8" height="8" fill="teal"/></svg>\n'
        )
    return [f"frame{i}" for i in range(FRAMES)] + [f"dot{i}" for i in range(IMAGES)]


def find_browser() -> str:
    """A Chromium to run; skips when there is none, except in CI where it must exist."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path is not None:
            return path
    if os.environ.get("CI") == "true":
        pytest.fail("no Chromium in CI: .ci/run installs Debian's chromium package")
    pytest.skip("no headless browser: install Chromium (Debian: apt-get install chromium)")


class Server:
    """The example serving ``root`` on the emulator; its log lines are collected."""

    def __init__(self, emulator: EmulatorProcess, *args: str) -> None:
        self.port = free_port()
        self.program = Program(
            ["examples/http_server.py", emulator.url, "--port", str(self.port), *args]
        )
        assert self.program.line() == f"serving http://127.0.0.1:{self.port}/"
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log: list[str] = []

    def wait_for(self, ending: str) -> None:
        """Read log lines until one ends with ``ending`` (the server prints it after it
        has answered, so a client may have its answer before the line is there)."""
        while not any(line.endswith(ending) for line in self.log):
            self.log.append(self.program.line())

    def stop(self) -> list[str]:
        """Interrupt the server (as Ctrl-C does); returns every line it printed."""
        self.program.process.send_signal(signal.SIGINT)
        status, err = self.program.finish()
        assert status == 0, err
        return self.log + self.program.rest().splitlines()


@pytest.mark.timeout(180)
def test_a_browser_loads_every_frame_and_image(emulator: EmulatorProcess, tmp_path: Path) -> None:
    browser = find_browser()
    site = tmp_path / "site"
    site.mkdir()
    expected = write_site(site)
    server = Server(emulator, "--directory", str(site))
    try:
        for run in range(2):
            profile = tmp_path / f"profile{run}"
            result = subprocess.run(
                [browser, *BROWSER_FLAGS, f"--user-data-dir={profile}", "--dump-dom", server.url],
                capture_output=True,
                text=True,
                timeout=90,
                stdin=subprocess.DEVNULL,
                check=False,
            )
            assert result.returncode == 0, result.stderr[-2000:]
            match = re.search(r'<pre id="result">(.*?)</pre>', result.stdout)
            assert match is not None, result.stdout[-2000:]
            assert match.group(1).split(",") == expected
        for path in ["/", *(f"/frame{i}.html" for i in range(FRAMES))]:
            server.wait_for(f" GET {path} 200")
        for path in (f"/dot{i}.svg" for i in range(IMAGES)):
            server.wait_for(f" GET {path} 200")
    finally:
        log = server.stop()
    served = {line.split()[2] for line in log if line.endswith(" 200")}
    assert {"/", *(f"/frame{i}.html" for i in range(FRAMES))} <= served
    assert {f"/dot{i}.svg" for i in range(IMAGES)} <= served


def get(url: str) -> tuple[int, bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only
    with opener.open(url, timeout=TIMEOUT * 2) as response:
        return response.status, response.read()


@pytest.mark.timeout(180)
def test_idle_half_open_and_broken_clients_do_not_stop_the_server(
    emulator: EmulatorProcess,
) -> None:
    server = Server(emulator, "--read-timeout", "1")
    address = ("127.0.0.1", server.port)
    idle = [socket.create_connection(address, timeout=TIMEOUT) for _ in range(2)]
    half = socket.create_connection(address, timeout=TIMEOUT)
    half.sendall(b"GET /half HTTP/1.1\r\nHost: module\r\n")
    garbage = socket.create_connection(address, timeout=TIMEOUT)
    garbage.sendall(bytes(range(256)) + b"\r\n\r\n")
    reset = socket.create_connection(address, timeout=TIMEOUT)
    reset.sendall(b"GET /reset HTTP/1.0\r\n\r\n")
    reset.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    reset.close()  # RST instead of FIN

    results: dict[int, tuple[int, bytes] | BaseException] = {}

    def client(number: int) -> None:
        try:
            results[number] = get(f"{server.url}parallel/{number}")
        except BaseException as exc:  # reported by the assertion below
            results[number] = exc

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT * 3)
    try:
        for number in range(4):
            outcome = results.get(number)
            assert isinstance(outcome, tuple), outcome
            status, body = outcome
            assert status == 200
            assert f"<code>/parallel/{number}</code>".encode() in body
        # The server closed every connection that sent no complete request.
        for sock in [*idle, half]:
            assert sock.recv(100) == b""
        assert garbage.recv(100).startswith(b"HTTP/1.0 400 Bad Request\r\n")
        # And it still serves.
        assert get(server.url + "after")[0] == 200
        server.wait_for(" GET /after 200")
    finally:
        for sock in [*idle, half, garbage]:
            sock.close()
        log = server.stop()
    timeouts = [line for line in log if "sent no complete request within 1 s" in line]
    assert len(timeouts) == 3, log
    assert sum("bad request: 400" in line for line in log) == 1, log
    served = {line.split()[2] for line in log if line.endswith(" 200")}
    assert served == {"/after", *(f"/parallel/{number}" for number in range(4))}, log
