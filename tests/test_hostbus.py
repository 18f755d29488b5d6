"""The C host bus kit (hostbus/): built with the system compiler, warnings as errors and
under AddressSanitizer/UBSan, then its example AT client run against `eswifi emulate` over
the TCP console and a pty, SPI and UART builds."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_cli_emulate import free_port

from eswifi.testing.launch import EmulatorProcess
from eswifi.wire.framing import unescape

pytestmark = pytest.mark.subprocess

KIT = Path(__file__).resolve().parents[1] / "hostbus"
RUN_TIMEOUT = 60


def _compiler() -> str:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        if os.environ.get("CI"):
            pytest.fail("CI has no C compiler: the host bus kit must be built there")
        pytest.skip("no C compiler (cc) on this machine")
    return cc


def _build(out: Path, *, sanitize: bool) -> Path:
    args = ["make", "-C", str(KIT), f"OUT={out}", f"CC={_compiler()}"]
    if sanitize:
        args.append("SANITIZE=1")
    built = subprocess.run(args, capture_output=True, text=True, timeout=180)
    assert built.returncode == 0, built.stdout + built.stderr
    assert "warning" not in built.stderr, built.stderr
    return out / "at_client"


@pytest.fixture(scope="module")
def at_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example, built with the sanitizers (it fails on any report)."""
    return _build(tmp_path_factory.mktemp("hostbus-asan"), sanitize=True)


def test_kit_builds_warning_free_as_c99(tmp_path: Path) -> None:
    binary = _build(tmp_path, sanitize=False)
    assert binary.exists()
    assert (tmp_path / "libhostbus.a").exists()


@pytest.fixture
def echo_port() -> Iterator[int]:
    """A TCP echo server on loopback, serving each client on its own thread."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(RUN_TIMEOUT)
            while data := conn.recv(4096):
                conn.sendall(data)

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(5)
    server.close()


def _clients(process: subprocess.Popen[str], lines: list[str], errors: list[str]) -> None:
    """Follow the example's output; when its server listens, connect two clients in turn."""
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        if not line.startswith("server listening "):
            continue
        port = int(line.split()[-1])
        for number in (1, 2):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=20) as client:
                    client.sendall(f"hello {number}\n".encode())
                    got = b""
                    while not got.endswith(b"\n"):
                        chunk = client.recv(100)
                        if not chunk:
                            break
                        got += chunk
                    if got != f"echo: hello {number}\n".encode():
                        errors.append(f"client {number} got {got!r}")
            except OSError as exc:
                errors.append(f"client {number}: {exc}")


def run_example(binary: Path, *args: str, env: dict[str, str] | None = None) -> list[str]:
    lines: list[str] = []
    errors: list[str] = []
    with subprocess.Popen(
        [str(binary), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    ) as process:
        follower = threading.Thread(target=_clients, args=(process, lines, errors), daemon=True)
        follower.start()
        try:
            process.wait(RUN_TIMEOUT)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        follower.join(10)
        assert process.stderr is not None
        stderr = process.stderr.read()
    assert process.returncode == 0, (lines, stderr)
    assert not errors, errors
    assert "runtime error" not in stderr and "Sanitizer" not in stderr, stderr
    return lines


def _link(url: str) -> str:
    return "tcp:" + url.removeprefix("socket://") if url.startswith("socket://") else url


@pytest.mark.parametrize("transport", ["--listen", "--pty"])
@pytest.mark.parametrize("build", ["spi", "uart"])
def test_example_drives_the_module_through_the_pins(
    at_client: Path, echo_port: int, transport: str, build: str
) -> None:
    where = ["--listen", "127.0.0.1:0"] if transport == "--listen" else ["--pty"]
    with EmulatorProcess(*where, "--link", build, control=True) as emulator:
        assert emulator.control_address is not None
        host, port = emulator.control_address
        control = f"{host}:{port}"
        lines = run_example(
            at_client,
            "--link", _link(emulator.url),
            "--control", control,
            "--build", build,
            "--echo-port", str(echo_port),
            "--server-port", "0",
        )  # fmt: skip
    assert lines == [
        "boot output ok",
        "joined 127.0.0.1",
        "echo ok 600 bytes",
        lines[3],
        "served client 1",
        "served client 2",
        "boot output ok",
        "answers after reset",
        "done",
    ]
    assert lines[3].startswith("server listening ")


def test_uart_build_without_control_channel_synchronises(
    at_client: Path, echo_port: int, tmp_path: Path
) -> None:
    trace = tmp_path / "bus.trace"
    with EmulatorProcess("--listen", "127.0.0.1:0", "--link", "uart") as emulator:
        lines = run_example(
            at_client,
            "--link", _link(emulator.url),
            "--build", "uart",
            "--echo-port", str(echo_port),
            "--server-port", "0",
            env={"HOSTBUS_TRACE": str(trace)},
        )  # fmt: skip
    assert lines[0] == "synchronised" and lines[-1] == "done"
    # The trace has the emulator's own form: seconds, direction, escaped bytes.
    records = [line.split(" ", 2) for line in trace.read_text().splitlines()]
    assert all(float(stamp) >= 0 and way in "<>" for stamp, way, _ in records)
    sent = b"".join(unescape(text) for _, way, text in records if way == ">")
    received = b"".join(unescape(text) for _, way, text in records if way == "<")
    assert b"C1=eswifi-lab\rC2=eswifi-pass\rC3=3\rC0\r" in sent
    assert b"[JOIN   ] eswifi-lab,127.0.0.1" in received


def test_nothing_listening_is_a_clear_error(at_client: Path) -> None:
    port = free_port()
    result = subprocess.run(
        [str(at_client), "--link", f"tcp:127.0.0.1:{port}", "--build", "uart",
         "--echo-port", "1", "--server-port", "2"],
        capture_output=True, text=True, timeout=RUN_TIMEOUT,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stdout.startswith(f"FAIL: nothing listens on 127.0.0.1:{port}")


def test_a_malformed_link_is_named(at_client: Path) -> None:
    result = subprocess.run(
        [str(at_client), "--link", "127.0.0.1:7000", "--build", "uart",
         "--echo-port", "1", "--server-port", "2"],
        capture_output=True, text=True, timeout=RUN_TIMEOUT,
    )  # fmt: skip
    assert result.returncode == 1
    assert "neither tcp:HOST:PORT nor a device path" in result.stdout


def test_link_closed_mid_session_is_an_error_not_a_hang(at_client: Path) -> None:
    """A console that answers the first command, then goes away while the next one waits."""
    with socket.create_server(("127.0.0.1", 0)) as console:
        console.settimeout(RUN_TIMEOUT)
        port = console.getsockname()[1]
        with subprocess.Popen(
            [str(at_client), "--link", f"tcp:127.0.0.1:{port}", "--build", "uart",
             "--echo-port", "1", "--server-port", "2"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ) as process:  # fmt: skip
            conn, _ = console.accept()
            with conn:
                conn.settimeout(RUN_TIMEOUT)
                assert conn.recv(16) == b"\r"
                conn.sendall(b"\r\n> ")
                assert conn.recv(64).startswith(b"C1=eswifi-lab\r")
            out, _ = process.communicate(timeout=RUN_TIMEOUT)
    assert process.returncode == 1
    assert out.splitlines() == [
        "synchronised",
        "FAIL: no reply to C1=eswifi-lab: the emulator closed the link",
    ]
