"""Start ``eswifi emulate`` as a subprocess and learn its link.

Used by ``eswifi demo`` and ``eswifi bench`` and by tests that want a real emulator
process::

    with EmulatorProcess("--listen", "127.0.0.1:0", "--link", "spi") as emulator:
        port = serial.serial_for_url(emulator.url)
        ...
        assert emulator.stop() == 0, emulator.errors()

The emulator's stderr goes to a temporary file, so a chatty process can never block on a
full pipe, and :meth:`EmulatorProcess.errors` shows it when something went wrong.

With ``control=True`` (or ``--control``) the process object also drives the module's pins
through the control channel::

    with EmulatorProcess("--link", "spi", control=True) as emulator:
        with serial.serial_for_url(emulator.url, timeout=5) as port:
            emulator.reset()  # after the open: the greeting cannot be flushed away
            assert port.read(6) == b"\x15\x15\r\n> "
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from types import TracebackType
from typing import Self

from eswifi.emulator.fault_commands import FaultControls

START_TIMEOUT = 15.0
"""Seconds the emulator has to print its link line."""


class EmulatorProcess(FaultControls):
    """A running ``python -m eswifi emulate OPTIONS…`` (default: a TCP console on a free port).

    Started with ``--control HOST:PORT``, :meth:`control` runs control commands and the
    fault methods (:meth:`refuse_connects`, :meth:`hang` …) are available.

    Raises:
        RuntimeError: the process exited, or did not print ``link: …`` within ``wait``.
    """

    def __init__(self, *options: str, wait: float = START_TIMEOUT, control: bool = False) -> None:
        args = options or ("--listen", "127.0.0.1:0")
        if control:
            args = (*args, "--control", "127.0.0.1:0")
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives until close()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "eswifi", "emulate", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        self._pending = b""
        try:
            line = self.readline(wait)
            if not line.startswith("link: "):
                raise RuntimeError(f"the emulator did not name its link: {line!r} {self.errors()}")
        except BaseException:
            self.close()
            raise
        self.url = line.removeprefix("link: ")
        """The link: ``socket://127.0.0.1:PORT`` or a pty path such as ``/dev/pts/5``."""
        self.control_address: tuple[str, int] | None = None
        """Where ``--control`` listens, when it was given."""
        self._control: socket.socket | None = None
        self._control_pending = b""
        if "--control" in args and "--stdio" not in args:
            try:
                line = self.readline(wait)
                host, _, port = line.removeprefix("control: ").rpartition(":")
                self.control_address = (host, int(port))
            except BaseException:
                self.close()
                raise

    def control(self, line: str, wait: float = 10.0) -> str:
        """Send one command to the ``--control`` channel and return its answer line."""
        if self.control_address is None:
            raise RuntimeError("the emulator was started without --control")
        if self.process.poll() is not None:
            raise RuntimeError(f"the emulator is not running: {self.errors()}")
        if self._control is None:
            self._control = socket.create_connection(self.control_address, timeout=wait)
        self._control.settimeout(wait)
        self._control.sendall(line.encode() + b"\n")
        while b"\n" not in self._control_pending:
            chunk = self._control.recv(4096)
            if not chunk:
                raise RuntimeError(f"the control channel closed: {self.errors()}")
            self._control_pending += chunk
        answer, _, self._control_pending = self._control_pending.partition(b"\n")
        return answer.decode()

    # ------------------------------------------------------------------ pins

    def reset(self) -> None:
        """Pulse RESET: the module reboots and writes its boot output."""
        self._checked("reset")

    def hold_reset(self) -> None:
        """Hold RESET low: the module is dead (sockets closed, host bytes ignored)."""
        self._checked("reset hold")

    def release_reset(self) -> None:
        """Release RESET: the module boots after its boot time."""
        self._checked("reset release")

    def wakeup(self, high: bool) -> None:
        """Drive WAKEUP (recorded only)."""
        self._checked("wakeup high" if high else "wakeup low")

    def pins(self) -> dict[str, str]:
        """Every pin's level and the power state (``{"reset": "1", "ready": "1", …}``)."""
        answer = self._checked("pins").removeprefix("ok")
        return dict(field.split("=", 1) for field in answer.split())

    @property
    def ready(self) -> int:
        """The DATA-READY level now (SPI builds; always 0 on the UART build)."""
        return int(self.pins()["ready"])

    def watch_pins(self, wait: float = 10.0) -> PinWatch:
        """Start receiving pin edges on a connection of its own (a context manager)."""
        if self.control_address is None:
            raise RuntimeError("the emulator was started without --control")
        return PinWatch(self.control_address, wait)

    def readline(self, wait: float = START_TIMEOUT) -> str:
        """The next line the emulator printed on stdout (without its newline)."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + wait
        while b"\n" not in self._pending:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(0.0, remaining))
            if not ready:
                raise RuntimeError(f"the emulator printed no line in {wait:g} s")
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError(f"the emulator exited: {self.errors()}")
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return line.decode().strip()

    def errors(self) -> str:
        """Everything the emulator wrote on stderr so far."""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def stop(self, signum: int = signal.SIGTERM, wait: float = 10.0) -> int:
        """Signal the emulator and return its exit status."""
        self.process.send_signal(signum)
        return self.process.wait(wait)

    def close(self) -> None:
        """Stop the emulator if it still runs (SIGTERM, then SIGKILL) and free its pipes."""
        control = getattr(self, "_control", None)
        if control is not None:
            control.close()
            self._control = None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class PinWatch:
    """A control connection in ``watch pins`` mode: every pin edge from its start on.

    Edges are kept in :attr:`edges` as ``(pin, level, seconds since the emulator
    started)``; :meth:`wait_for` waits for the next matching one.
    """

    def __init__(self, address: tuple[str, int], wait: float = 10.0) -> None:
        self._socket = socket.create_connection(address, timeout=wait)
        self._buffer = b""
        self._seen = 0
        self.edges: list[tuple[str, int, float]] = []
        try:
            self._socket.sendall(b"watch pins\n")
            answer = self._readline(time.monotonic() + wait)
            if answer != "ok watching pins":
                raise RuntimeError(f"watch pins: {answer or 'no answer'}")
        except BaseException:
            self.close()
            raise

    def wait_for(self, pin: str, level: int, wait: float = 10.0) -> float:
        """The time of the next ``pin`` edge to ``level`` not yet waited for.

        Raises:
            TimeoutError: no such edge within ``wait`` seconds.
        """
        deadline = time.monotonic() + wait
        while True:
            for index in range(self._seen, len(self.edges)):
                name, value, at = self.edges[index]
                if name == pin and value == level:
                    self._seen = index + 1
                    return at
            self._seen = len(self.edges)
            try:
                fields = self._readline(deadline).split()
            except TimeoutError:
                raise TimeoutError(f"no {pin} {level} edge in {wait:g} s") from None
            if len(fields) == 3:
                self.edges.append((fields[0], int(fields[1]), float(fields[2])))

    def _readline(self, deadline: float) -> str:
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no line from the control channel")
            self._socket.settimeout(remaining)
            chunk = self._socket.recv(4096)
            if not chunk:
                raise RuntimeError("the control channel closed")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode().strip()

    def close(self) -> None:
        self._socket.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
