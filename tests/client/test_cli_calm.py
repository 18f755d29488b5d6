"""The CLI under Ctrl-C and slow modules: quiet exits (130), named failures, a terminal
that survives a slow reply.

A scripted module (a loopback TCP server the test answers by hand) makes "the command is
running" an observable event: the test waits for the command's bytes to arrive before it
interrupts, and decides when (or whether) the reply comes.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .ptyprogram import PtyProgram

pytestmark = pytest.mark.subprocess

WAIT = 20.0
INFO = b"\r\nISM43362-M3G-L44,C6.2.1.11,v6.2.1,v2.0.3,v9.0.0,120000000,Inventek eS-WiFi\r\nOK\r\n> "
LATE_SCAN = b'\r\n#001,"late-ap",00:11:22:33:44:55,-40,72.0,3,1,2.4,6\r\nOK\r\n> '


FOREGROUND = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)
"""Run argv[1:] with SIGINT at its default, as a shell runs a foreground job (a test run
started in the background inherits SIGINT ignored)."""


def eswifi(*args: str) -> list[str]:
    return [sys.executable, "-m", "eswifi", *args]


def foreground(*args: str) -> list[str]:
    return [sys.executable, "-c", FOREGROUND, *eswifi(*args)]


class ScriptedModule:
    """A module played by the test on ``socket://127.0.0.1:PORT``, one host at a time.

    A thread reads the host's command lines. ``CS`` (the client's first command) and the
    client's resync marker (``R1=a``,
    ``R2=b``, ``R?``) is answered as a module would, except while the module is *busy*
    (working on a command the test has not answered): a real module answers nothing
    before it has finished, so those answers wait for :meth:`finish`. Every other line is
    handed to the test (:meth:`expect`), which writes replies itself (:meth:`reply`).
    """

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(WAIT)
        self.url = f"socket://127.0.0.1:{self.listener.getsockname()[1]}"
        self.conn: socket.socket | None = None
        self.lines: queue.Queue[bytes] = queue.Queue()
        self._lock = threading.Lock()
        self._busy = False
        self._held: list[bytes] = []
        self._registers = {b"R1": b"0", b"R2": b"0"}
        self._reader: threading.Thread | None = None

    def accept(self) -> None:
        self.conn, _ = self.listener.accept()
        self._reader = threading.Thread(target=self._read, args=(self.conn,), daemon=True)
        self._reader.start()

    def expect(self, line: bytes) -> None:
        """Wait for the host's next command line (not a resync marker); the module is then
        busy with it until :meth:`reply` or :meth:`finish`."""
        assert self.lines.get(timeout=WAIT) == line

    def reply(self, data: bytes) -> None:
        """The module answers the command it was busy with."""
        self.finish(data)

    def finish(self, data: bytes) -> None:
        """Write ``data`` (a late reply), then the answers held meanwhile."""
        assert self.conn is not None
        with self._lock:
            self.conn.sendall(data + b"".join(self._held))
            self._held.clear()
            self._busy = False

    def _read(self, conn: socket.socket) -> None:
        pending = b""
        while True:
            try:
                chunk = conn.recv(4096)
            except OSError:
                return
            if not chunk:
                return
            pending += chunk
            *lines, pending = pending.split(b"\r")
            for line in lines:
                self._command(conn, line)

    def _command(self, conn: socket.socket, line: bytes) -> None:
        code, _, value = line.partition(b"=")
        with self._lock:
            if code in self._registers and value:
                self._registers[code] = value
                answer = b"\r\n\r\nOK\r\n> "
            elif line == b"CS":  # the client's first command: is the module there?
                answer = b"\r\n1\r\nOK\r\n> "
            elif line == b"R?":
                answer = b"\r\n%s,%s,0\r\nOK\r\n> " % (
                    self._registers[b"R1"],
                    self._registers[b"R2"],
                )
            else:
                self._busy = True
                self.lines.put(line)
                return
            if self._busy:
                self._held.append(answer)
            else:
                conn.sendall(answer)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.listener.close()
        if self._reader is not None:
            self._reader.join(timeout=WAIT)


@pytest.fixture
def scripted() -> Iterator[ScriptedModule]:
    module = ScriptedModule()
    yield module
    module.close()


def interrupted(process: subprocess.Popen[str]) -> tuple[int, str]:
    """SIGINT the process; its exit status and stderr."""
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=WAIT)
    return process.returncode, stderr


def started(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        foreground(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_send_ctrl_c_while_waiting_for_a_reply_exits_130_quietly(
    scripted: ScriptedModule,
) -> None:
    process = started("send", scripted.url, "I?", "F0")
    scripted.accept()
    scripted.expect(b"I?")
    scripted.reply(INFO)
    scripted.expect(b"F0")  # the scan is running: the module never answers it
    status, stderr = interrupted(process)
    assert status == 130
    assert stderr == ""


def test_send_names_the_command_that_timed_out(scripted: ScriptedModule) -> None:
    process = started("send", "--timeout", "0.5", scripted.url, "I?", "F0")
    scripted.accept()
    scripted.expect(b"I?")
    scripted.reply(INFO)
    scripted.expect(b"F0")
    _, stderr = process.communicate(timeout=WAIT)
    assert process.returncode == 3
    assert stderr.strip() == (
        "eswifi send: command 2 of 2 ('F0') failed: link error: no reply to 'F0' within 0.5 s"
    )


def test_demo_ctrl_c_exits_130_quietly(scripted: ScriptedModule) -> None:
    process = started("demo", "--url", scripted.url)
    scripted.accept()
    scripted.lines.get(timeout=WAIT)  # the demo's first command is waiting for its reply
    status, stderr = interrupted(process)
    assert status == 130
    assert "Traceback" not in stderr
    assert stderr == ""


def children(pid: int) -> list[str]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return path.read_text().split() if path.exists() else []


def has_socket(pid: str) -> bool:
    """Whether the process has a socket open (an emulator that is up: past its exec)."""
    try:
        return any(
            os.readlink(fd).startswith("socket:") for fd in Path(f"/proc/{pid}/fd").iterdir()
        )
    except OSError:  # it exited meanwhile
        return False


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_bench_ctrl_c_exits_130_quietly_and_stops_its_emulator() -> None:
    process = started("bench", "--rounds", "100000000", "--repeats", "1")
    deadline = time.monotonic() + WAIT
    # The event: bench's emulator is up (a child with a socket), so the benchmark runs.
    while not (kids := [kid for kid in children(process.pid) if has_socket(kid)]):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "bench started no emulator"
        time.sleep(0.05)  # polling for a state change, bounded by the deadline
    status, stderr = interrupted(process)
    assert status == 130
    assert "Traceback" not in stderr, stderr  # bench reports progress on stderr; nothing else
    assert "Error" not in stderr
    # Every process bench started ends: stopped by bench, or (started in the instant the
    # signal came) on its own once it finds its reader gone.
    deadline = time.monotonic() + WAIT
    while alive := [kid for kid in kids if Path(f"/proc/{kid}").exists()]:
        assert time.monotonic() < deadline, f"still running after bench: {alive}"
        time.sleep(0.05)  # polling for the processes to end, bounded by the deadline


@pytest.mark.pty
@pytest.mark.timeout(90)
def test_term_ctrl_c_cancels_the_command_and_a_slow_reply_keeps_the_session(
    scripted: ScriptedModule,
) -> None:
    term = PtyProgram(eswifi("term", "--timeout", "1", scripted.url))
    try:
        scripted.accept()
        term.expect(r"eswifi>")
        # Ctrl-C while the module works on F0: back to the prompt.
        term.type("F0\r")
        scripted.expect(b"F0")
        term.type("\x03")
        term.expect(r"F0: cancelled")
        term.expect(r"eswifi>")
        scripted.finish(LATE_SCAN)  # the cancelled command's reply comes after all
        term.type("I?\r")
        scripted.expect(b"I?")
        scripted.reply(INFO)
        term.expect(r"Inventek eS-WiFi\s+OK")
        # A reply slower than --timeout: reported, and the session goes on.
        term.type("F0\r")
        scripted.expect(b"F0")
        term.expect(r"no reply to 'F0' within 1 s: still connected")
        term.expect(r"eswifi>")
        scripted.finish(LATE_SCAN)
        term.type("I?\r")
        scripted.expect(b"I?")
        scripted.reply(INFO)
        term.expect(r"Inventek eS-WiFi\s+OK")
        assert "late-ap" not in term.transcript()
        term.expect(r"eswifi>")
        term.type("\x04")  # Ctrl-D
        assert term.close() == 0
    finally:
        if term.process.poll() is None:
            term.process.kill()
            term.process.wait(timeout=10)


def test_sigint_reaches_a_program_on_the_pty() -> None:
    """The pty helper gives the program a controlling terminal, as a shell does."""
    program = PtyProgram(
        [sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(30)"]
    )
    try:
        program.expect("ready")
        program.type("\x03")
        assert program.close() == -signal.SIGINT
    finally:
        if program.process.poll() is None:
            program.process.kill()
            program.process.wait(timeout=10)


def test_emulate_whose_reader_is_gone_exits_quietly() -> None:
    """A script that starts the emulator and dies before reading the link line (Ctrl-C at
    the wrong moment) leaves no traceback and no orphan: the emulator exits 1."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            foreground("emulate"), stdout=write_end, stderr=subprocess.PIPE, timeout=WAIT
        )
    finally:
        os.close(write_end)
    assert result.returncode == 1
    assert result.stderr == b""
