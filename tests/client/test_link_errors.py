"""Links that fail before the module answers say what to do, through the API and the CLI:
a bare ``host:port``, a refused ``socket://`` address, a console another host holds."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from eswifi.client import Module
from eswifi.client.diagnose import BUSY_LINE, BUSY_TEXT, first_reply_failure
from eswifi.errors import ConsoleBusy, LinkClosed, LinkError, LinkRefused
from eswifi.testing import EmulatorProcess

pytestmark = pytest.mark.subprocess

TIMEOUT = 30


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "eswifi", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single line a failed command printed (and nothing on stdout)."""
    assert result.returncode == 3, result
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    with EmulatorProcess("--listen", "127.0.0.1:0") as served:
        yield served


def test_a_bare_host_and_port_hints_at_socket_url() -> None:
    address = f"127.0.0.1:{free_port()}"
    with pytest.raises(LinkError, match=f"socket://{address}"):
        Module.open(address)
    for command in ("send", "term"):
        line = one_line(cli(command, address, "I?") if command == "send" else cli(command, address))
        assert f"write the URL as socket://{address}" in line


def test_a_refused_socket_url_says_nothing_listens_there() -> None:
    url = f"socket://127.0.0.1:{free_port()}"
    with pytest.raises(LinkRefused, match="nothing is listening") as caught:
        Module.open(url)
    assert isinstance(caught.value, ConnectionRefusedError)
    line = one_line(cli("send", url, "I?"))
    assert "nothing is listening on 127.0.0.1" in line and "eswifi emulate --listen" in line


def test_a_busy_console_says_another_host_is_attached(emulator: EmulatorProcess) -> None:
    with Module.open(emulator.url, fresh=False) as holder:
        for _attempt in range(3):
            with pytest.raises(ConsoleBusy, match="another host is attached"):
                Module.open(emulator.url)
        for args in (("send", emulator.url, "I?"), ("term", emulator.url)):
            line = one_line(cli(*args))
            assert "busy: another host is attached" in line and "close that session" in line
        assert holder.is_joined() is False  # the attached host is not disturbed
    # Once it has left, the console takes the next host.
    with Module.open(emulator.url) as module:
        assert module.info().product.startswith("ISM43362")


def reset_error() -> LinkError:
    """A LinkError as a read on a connection the other end reset raises it."""
    try:
        try:
            raise ConnectionResetError(104, "Connection reset by peer")
        except OSError as exc:
            raise LinkError(f"read failed: {exc}") from None
    except LinkError as error:
        error.__context__ = ConnectionResetError(104, "Connection reset by peer")
        return error


@pytest.mark.parametrize("seen", [b"eswifi: con", BUSY_LINE])
def test_a_console_that_hangs_up_after_its_refusal_is_busy(seen: bytes) -> None:
    url = "socket://127.0.0.1:7000"
    for error in (reset_error(), LinkClosed("read failed: socket disconnected")):
        assert isinstance(first_reply_failure(url, seen, error), ConsoleBusy)
    on_a_device = first_reply_failure("/dev/ttyUSB0", seen, reset_error())
    assert isinstance(on_a_device, ConsoleBusy) == (BUSY_TEXT in seen)


def test_a_link_that_hangs_up_without_a_word_keeps_its_own_error() -> None:
    url = "socket://127.0.0.1:7000"
    assert first_reply_failure(url, b"", reset_error()) is None
    assert first_reply_failure(url, b"HTTP/1.1 400", reset_error()) is None
