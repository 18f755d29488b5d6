"""The reference demo end to end: `eswifi demo` as a subprocess, over both links."""

from __future__ import annotations

import io
import socket
import subprocess
import sys

import pytest
from test_cli_emulate import free_port

from eswifi.demo import run_demo
from eswifi.testing.launch import EmulatorProcess


@pytest.mark.timeout(60)
@pytest.mark.parametrize("link", [[], ["--pty"]], ids=["tcp-console", "pty"])
def test_demo_command_matches_the_spec(link: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "eswifi", "demo", "--port", str(free_port()), *link],
        capture_output=True,
        timeout=50,
        check=False,
    )
    out = result.stdout.decode()
    assert result.returncode == 0, out + result.stderr.decode()
    assert "demo: 19 replies checked against the protocol reference, all match" in out
    assert out.count("[TCP SVR] Accepted 127.0.0.1:") == 2
    assert "> S3=1\\r2\n1\nOK\n" in out
    assert "[TCP TSK] Killed" in out


@pytest.mark.timeout(60)
def test_demo_reports_a_module_that_differs() -> None:
    # A wrong passphrase: the join fails, the demo says so and exits non-zero.
    out = io.StringIO()
    with EmulatorProcess() as emulator, pytest.raises(RuntimeError, match="did not join"):
        run_demo(emulator.url, out=out, port=free_port(), passphrase="wrong", timeout=10)
    assert "reply differs from the protocol reference" in out.getvalue()


@pytest.mark.timeout(60)
def test_demo_fails_when_the_port_is_taken() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "eswifi", "demo", "--port", str(port)],
            capture_output=True,
            timeout=50,
            check=False,
        )
    assert result.returncode == 1
    assert b"Error binding TCP listen socket to port %d" % port in result.stdout
