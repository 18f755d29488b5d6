"""The command channel over links: timeouts, garbage, real pyserial URLs (TCP, pty, loop)."""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from eswifi.client import Module
from eswifi.client.link import CommandChannel, SerialLink
from eswifi.errors import (
    CommandError,
    LinkClosed,
    LinkError,
    LinkTimeout,
    RemoteProtocolError,
)

from .console import HarnessConsole


class ScriptedLink:
    """A link whose module answers from a script, in virtual time.

    ``answers`` are read in order whatever was written; a written command line found in
    ``replies`` queues that reply; the resync marker (``R1``/``R2``/``R?``) is answered as
    the module would.
    """

    def __init__(self, answers: list[bytes] | None = None, *, endless: bytes = b"") -> None:
        self.answers = list(answers or [])
        self.replies: dict[bytes, bytes] = {}
        self.endless = endless
        self.now = 0.0
        self.written: list[bytes] = []
        self.closed = False
        self.registers = {b"R1": b"1460", b"R2": b"1000"}
        self.silent = False

    def write(self, data: bytes) -> None:
        self.written.append(data)
        if self.silent:
            return
        for line in data.split(b"\r")[:-1]:
            code, _, value = line.partition(b"=")
            if code in self.registers and value:
                self.registers[code] = value
                self.answers.append(b"\r\n\r\nOK\r\n> ")
            elif line == b"R?":
                r1, r2 = self.registers[b"R1"], self.registers[b"R2"]
                self.answers.append(b"\r\n" + r1 + b"," + r2 + b",0\r\nOK\r\n> ")
            elif line in self.replies:
                self.answers.append(self.replies[line])

    def read(self, timeout: float) -> bytes:
        if timeout <= 0:
            return b""  # the scripted answers arrive while a command waits
        if self.answers:
            return self.answers.pop(0)
        if self.endless:
            return self.endless
        self.now += timeout
        return b""

    def monotonic(self) -> float:
        return self.now

    def discard_input(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def test_silent_module_times_out() -> None:
    link = ScriptedLink()
    channel = CommandChannel(link, timeout=2.0)
    with pytest.raises(LinkTimeout, match="no reply to 'CS' within 2 s"):
        channel.transact("CS")
    assert link.now == pytest.approx(2.0)


def test_late_reply_after_a_timeout_is_not_taken_for_the_next_one() -> None:
    link = ScriptedLink()
    channel = CommandChannel(link, timeout=1.0)
    with pytest.raises(LinkTimeout):
        channel.transact("CS")
    assert channel.out_of_step
    link.answers = [b"\r\n1\r\nOK\r\n> "]  # the late reply to CS
    link.replies[b"CR"] = b"\r\n-48\r\nOK\r\n> "
    assert channel.transact("CR").value == "-48"
    assert not channel.out_of_step
    assert link.answers == []


def test_late_reply_split_by_the_link_is_still_dropped() -> None:
    """A late R0 reply whose data holds the terminator, split right after it."""
    link = ScriptedLink()
    channel = CommandChannel(link, timeout=1.0)
    with pytest.raises(LinkTimeout):
        channel.transact("R0")
    link.answers = [b"\r\nA\r\nOK\r\n> ", b"B\r\nOK\r\n> "]
    link.replies[b"Z5"] = b"\r\nC4:7F:51:01:12:31\r\nOK\r\n> "
    assert channel.transact("Z5").value == "C4:7F:51:01:12:31"


def test_resync_tells_listeners_and_gives_up_in_time() -> None:
    link = ScriptedLink()
    channel = CommandChannel(link, timeout=2.0)
    told = []
    channel.add_resync_listener(lambda: told.append(link.now))
    channel.lose_step()
    link.silent = True  # the module no longer answers
    with pytest.raises(LinkTimeout, match="resync marker"):
        channel.transact("CS")
    assert channel.out_of_step
    assert link.now == pytest.approx(2.0)
    assert len(told) >= 3  # new marker values after each growing wait


def test_endless_garbage_is_an_error_not_a_hang() -> None:
    channel = CommandChannel(ScriptedLink(endless=b"\r\n" + b"x" * 4096), timeout=60.0)
    with pytest.raises(RemoteProtocolError, match="no prompt"):
        channel.transact("C?")


def test_garbage_reply_is_an_error_and_the_channel_recovers() -> None:
    link = ScriptedLink([b"garbage\r\n> "])
    channel = CommandChannel(link)
    with pytest.raises(RemoteProtocolError, match="malformed reply to 'CS'"):
        channel.transact("CS")
    # The rest of the broken reply, and a stale OK, arrive after the error.
    link.answers = [b"more garbage\r\n\r\nOK\r\n> "]
    link.replies[b"CS"] = b"\r\n1\r\nOK\r\n> "
    assert channel.transact("CS").value == "1"
    assert link.written[1].startswith(b"R1=")  # the marker went out first


def test_async_messages_are_kept_and_passed_to_listeners() -> None:
    link = ScriptedLink([b"\r\n[TCP SVR] Accepted 1.2.3.4:5\r\n> \r\n1\r\nOK\r\n> "])
    channel = CommandChannel(link)
    seen = []
    channel.add_listener(seen.append)
    assert channel.transact("CS").value == "1"
    assert [m.accepted for m in seen] == [("1.2.3.4", 5)]
    assert [m.text for m in channel.take_messages()] == [b"[TCP SVR] Accepted 1.2.3.4:5"]
    assert channel.take_messages() == []


def test_wait_messages_returns_when_a_message_arrives() -> None:
    link = ScriptedLink([b"", b"\r\n[TCP SVR] Accepted 1.2.3.4:5\r\n> "])
    channel = CommandChannel(link)
    assert channel.wait_messages(10.0) == 1


def test_closed_channel_refuses_commands() -> None:
    link = ScriptedLink()
    channel = CommandChannel(link)
    channel.close()
    assert link.closed
    with pytest.raises(LinkClosed):
        channel.transact("CS")


# ---------------------------------------------------------------------- pyserial URLs


@pytest.mark.timeout(20)
def test_loop_url_echo_is_a_malformed_reply() -> None:
    """On ``loop://`` the 'module' echoes the command: a clear error, not a hang."""
    channel = CommandChannel(SerialLink.open("loop://"), timeout=2.0)
    with pytest.raises(RemoteProtocolError):
        channel.transact("CS")
    channel.close()


def test_unopenable_url_is_a_link_error() -> None:
    with pytest.raises(LinkError, match="cannot open"):
        SerialLink.open("/dev/does-not-exist-eswifi")
    with pytest.raises(ValueError, match="link must be"):
        Module.open("loop://", link="i2c")  # type: ignore[arg-type]


@pytest.fixture(params=["tcp", "pty"])
def console(request: pytest.FixtureRequest) -> Iterator[HarnessConsole]:
    with HarnessConsole(pty=request.param == "pty") as served:
        yield served


@pytest.mark.timeout(30)
def test_module_over_a_real_link(console: HarnessConsole) -> None:
    with Module.open(console.url) as module:
        assert module.info().firmware == "C6.2.1.11"
        assert module.join("eswifi-lab", "eswifi-pass") == "127.0.0.1"
        with pytest.raises(CommandError):
            module.command("P1=9")
        server = module.socket()
        server.bind(("", 5024))
        server.listen(2)
        with console.lock:
            peer = console.network.connect("127.0.0.1", 5024, source=("10.0.0.7", 40000))
            peer.send(b"hello")
        console.wake()
        server.settimeout(10)
        conn, address = server.accept()
        assert address == ("10.0.0.7", 40000)
        conn.settimeout(10)
        assert conn.recv(100) == b"hello"
        conn.sendall(b"x" * 3000)
        conn.close()
        server.close()
        with console.lock:
            assert bytes(peer.received) == b"x" * 3000


@pytest.mark.timeout(30)
def test_spi_module_over_tcp_reads_the_greeting_and_polls_mr() -> None:
    with HarnessConsole(spi=True) as console, Module.open(console.url, link="spi") as module:
        assert module.info().firmware == "C3.5.2.5.STM"
        module.join("eswifi-lab", "eswifi-pass")
        server = module.socket()
        server.bind(("", 6000))
        server.listen()
        done = threading.Event()

        def connect_later() -> None:
            with console.lock:
                console.network.connect("127.0.0.1", 6000, source=("10.0.0.9", 41000))
            done.set()

        threading.Thread(target=connect_later).start()
        server.settimeout(10)
        conn, address = server.accept()
        assert done.wait(5)
        assert address == ("10.0.0.9", 41000)
        conn.close()
        server.close()


@pytest.mark.pty
@pytest.mark.timeout(30)
# pyserial's spy handler never closes its trace file (a pyserial leak, not ours).
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_spy_url_traces_a_device_link(tmp_path) -> None:
    trace = tmp_path / "spy.txt"
    with HarnessConsole(pty=True) as served, Module.open(f"spy://{served.url}?file={trace}") as m:
        assert m.mac() == "C4:7F:51:01:12:31"
    text = trace.read_text()
    assert "5A 35 0D" in text  # "Z5\r" went out
    assert "RX" in text


@pytest.mark.subprocess
@pytest.mark.timeout(30)
def test_send_names_a_reset_link_once() -> None:
    """A console that resets the connection: one clear 'read failed', not two."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(10)

    def reset_after_the_command() -> None:
        conn, _ = server.accept()
        with conn:
            conn.settimeout(10)
            conn.recv(16)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        server.close()

    thread = threading.Thread(target=reset_after_the_command, daemon=True)
    thread.start()
    url = f"socket://127.0.0.1:{server.getsockname()[1]}"
    result = subprocess.run(
        [sys.executable, "-m", "eswifi", "send", url, "I?"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    thread.join(10)
    assert result.returncode == 3, result.stderr
    assert result.stderr.count("read failed") == 1, result.stderr
    assert "Connection reset by peer" in result.stderr
