"""Test helper: a program on a real pseudo-terminal, typed at and read like a person would."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time

ANSI = re.compile(rb"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]|\x1b[=>]")


LOGIN_TTY = (
    "import os, signal, sys; os.login_tty(os.open(sys.argv[1], os.O_RDWR)); "
    "signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[2], sys.argv[2:])"
)
"""Run argv[2:] in a new session whose controlling terminal is the tty argv[1], as a shell
runs a foreground job: Ctrl-C typed on that terminal sends SIGINT to the program, even when
this test process was started with SIGINT ignored (a background job)."""


class PtyProgram:
    """A program on a real pseudo-terminal, read and typed at like a person would."""

    def __init__(self, argv: list[str]) -> None:
        self.master, self._slave = pty.openpty()
        slave = self._slave
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
        env = dict(os.environ, TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1", COLUMNS="120")
        self.process = subprocess.Popen(
            [sys.executable, "-c", LOGIN_TTY, os.ttyname(slave), *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        # The parent keeps the slave open: the child opens it by name, and a pty whose
        # slave has no open descriptor at all answers reads on the master with EIO.
        self.screen = b""
        self._log = bytearray()

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def expect(self, pattern: str, timeout: float = 15.0) -> str:
        """Read until ``pattern`` (a regex) shows up in the output, escapes removed."""
        regex = re.compile(pattern.encode())
        deadline = time.monotonic() + timeout
        while True:
            plain = ANSI.sub(b"", self.screen)
            if (match := regex.search(plain)) is not None:
                self.screen = plain[match.end() :]  # what follows may be the next prompt
                return match.group(0).decode(errors="replace")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{pattern!r} not seen; screen: {plain[-1500:]!r}")
            ready, _, _ = select.select([self.master], [], [], remaining)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                    self.screen += chunk
                    self._log += chunk
                except OSError:  # the program ended
                    raise AssertionError(f"program ended; screen: {plain[-1500:]!r}") from None

    def transcript(self) -> str:
        """Everything the program wrote so far, escapes removed."""
        return ANSI.sub(b"", bytes(self._log)).decode(errors="replace")

    def close(self) -> int:
        try:
            return self.process.wait(timeout=10)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(timeout=10)
            os.close(self.master)
            os.close(self._slave)
