"""Test helper: an in-process emulated module served on a real TCP port or a real pty.

:class:`HarnessConsole` runs an :class:`~eswifi.testing.EmulatorHarness` (engine + fake
network) in a thread, in real time, behind a loopback TCP listener (pyserial
``socket://``) or a pseudo-terminal (a device path). It lets client tests go through real
pyserial links and lets the CLI run as a subprocess, without the asyncio runtime. Remote
peers are still the fake network's: drive them inside ``with console.lock:``.
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
import tty

from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.profile import SPI_C3525, UART_C6
from eswifi.testing import EmulatorHarness

JOIN = b"C1=eswifi-lab\rC2=eswifi-pass\rC3=3\rC0\r"


class HarnessConsole:
    """Serve one emulated module on ``socket://127.0.0.1:<port>`` or on a pty."""

    def __init__(self, *, spi: bool = False, pty: bool = False, joined: bool = False) -> None:
        profile = SPI_C3525 if spi else UART_C6
        self.harness = EmulatorHarness(ModuleEngine(profile=profile))
        if joined:
            self.harness.send(JOIN)
        self.lock = threading.RLock()
        self._stop = threading.Event()
        self._start = time.monotonic()
        self._wake_r, self._wake_w = os.pipe()
        self._listener: socket.socket | None = None
        self._master: int | None = None
        self._slave: int | None = None
        if pty:
            self._master, self._slave = os.openpty()
            tty.setraw(self._slave)
            self.url = os.ttyname(self._slave)
        else:
            self._listener = socket.create_server(("127.0.0.1", 0))
            self.url = f"socket://127.0.0.1:{self._listener.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def network(self):
        return self.harness.network

    def close(self) -> None:
        self._stop.set()
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=10)
        for fd in (self._master, self._slave, self._wake_r, self._wake_w):
            if fd is not None:
                os.close(fd)
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> HarnessConsole:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wake(self) -> None:
        """Make the serving thread flush output produced by peer actions."""
        os.write(self._wake_w, b"x")

    # ------------------------------------------------------------------ thread

    def _tick(self) -> bytes:
        with self.lock:
            now = time.monotonic() - self._start
            out = self.harness.advance(max(0.0, now - self.harness.now))
            return out + self.harness.output()

    def _timeout(self) -> float:
        with self.lock:
            engine, network = self.harness.engine, self.harness.network
            due = [d for d in (engine.next_deadline(), network.next_deadline()) if d is not None]
            if not due:
                return 0.05
            return max(0.0, min(0.05, min(due) - self.harness.now))

    def _serve(self) -> None:
        if self._master is not None:
            fd = self._master
            with self.lock:
                greeting = self.harness.attach()
            if greeting:
                os.write(fd, greeting)
            self._pump(lambda: os.read(fd, 4096), lambda data: os.write(fd, data), fd)
            return
        assert self._listener is not None
        while not self._stop.is_set():
            ready, _, _ = select.select([self._listener, self._wake_r], [], [], 0.2)
            if self._listener not in ready:
                continue
            conn, _ = self._listener.accept()
            with conn:
                with self.lock:
                    greeting = self.harness.attach()
                if greeting:
                    conn.sendall(greeting)
                self._pump(lambda c=conn: c.recv(4096), conn.sendall, conn.fileno())

    def _pump(self, read, write, fd: int) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([fd, self._wake_r], [], [], self._timeout())
            if self._wake_r in ready:
                os.read(self._wake_r, 64)
            out = self._tick()
            if fd in ready:
                try:
                    data = read()
                except OSError:
                    return
                if not data:
                    return
                with self.lock:
                    out += self.harness.send(data)
            if out:
                try:
                    write(out)
                except OSError:
                    return
