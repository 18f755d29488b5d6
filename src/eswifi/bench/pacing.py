"""The pacing section of ``eswifi bench``: bytes per second through the host link of
``eswifi emulate --timing real`` against the line's theoretical rate (goal: within 1 %).

* **UART out**: the host sends empty lines (1 byte each); the module answers each with
  its prompt (4 bytes), so the module's side of the line is the bottleneck.
* **UART in**: the host sends over-long lines (2001 bytes each), answered by a short
  error: the host's side of the line is the bottleneck, measured from the replies' times.
* **SPI out**: as UART out, on the SPI build at a given clock (8 clocks a byte).

The rate is the least-squares slope of bytes (or replies) received over time, from the
second reading on, so start-up does not count and one late reading weighs little; each
figure is the median of a few runs.
"""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from eswifi.bench.report import Row
from eswifi.testing.launch import EmulatorProcess

PROMPT = b"\r\n> "
LONG_LINE = b"A" * 2000 + b"\r"


@dataclass(frozen=True, slots=True, kw_only=True)
class PacingFigure:
    """One paced direction: what was measured against what the line carries."""

    name: str
    line_rate: float
    """Theoretical bytes per second."""
    measured: float
    """Measured bytes per second."""

    @property
    def error(self) -> float:
        """Relative difference, e.g. -0.004 for 0.4 % slow."""
        return self.measured / self.line_rate - 1


def _console(emulator: EmulatorProcess) -> socket.socket:
    host, port = emulator.url.removeprefix("socket://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _slope(times: list[float], amounts: list[float]) -> float:
    """Bytes per second: the least-squares slope of the amounts over time (one late
    reading moves it far less than it moves a first-to-last difference)."""
    return statistics.linear_regression(times, amounts).slope


def _output_rate(options: tuple[str, ...], seconds: float, rate: float, *, pad: bool) -> float:
    """Bytes per second the module writes when the host asks faster than the line."""
    replies = int(rate * seconds / 4)
    with EmulatorProcess(*options) as emulator, _console(emulator) as sock:
        if pad:  # the SPI build greets first: take it out of the measurement
            greeting = b""
            while len(greeting) < 6:
                greeting += sock.recv(6 - len(greeting))
        sock.sendall(b"\r" * replies)
        total = 0
        times: list[float] = []
        amounts: list[float] = []
        while total < replies * len(PROMPT):
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the module closed the console")
            total += len(chunk)
            times.append(time.perf_counter())
            amounts.append(total)
    return _slope(times[1:], amounts[1:])


def _input_rate(options: tuple[str, ...], lines: int) -> float:
    """Bytes per second the module takes from the host, from the times of its replies."""
    with EmulatorProcess(*options) as emulator, _console(emulator) as sock:
        sock.sendall(LONG_LINE * lines)
        times: list[float] = []
        buffer = b""
        while len(times) < lines:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the module closed the console")
            buffer += chunk
            for _ in range(buffer.count(PROMPT)):
                times.append(time.perf_counter())
            buffer = buffer[buffer.rfind(PROMPT) + len(PROMPT) :] if PROMPT in buffer else buffer
    return _slope(times, [index * len(LONG_LINE) for index in range(len(times))])


def measure_pacing(seconds: float = 1.5, repeats: int = 3) -> list[PacingFigure]:
    """UART out and in at 115200 baud, SPI out at 400 kHz; each run lasts about
    ``seconds`` and each figure is the median of ``repeats`` runs."""
    uart = ("--timing", "real", "--baud", "115200")
    spi_clock = 400_000
    spi = ("--timing", "real", "--link", "spi", "--spi-clock", str(spi_clock))
    uart_line = 115_200 / 10
    spi_line = spi_clock / 8
    lines = max(3, int(uart_line * seconds / len(LONG_LINE)))
    runs: dict[tuple[str, float], Callable[[], float]] = {
        ("UART 115200 out", uart_line): lambda: _output_rate(uart, seconds, uart_line, pad=False),
        ("UART 115200 in", uart_line): lambda: _input_rate(uart, lines),
        ("SPI 400 kHz out", spi_line): lambda: _output_rate(spi, seconds, spi_line, pad=True),
    }
    return [
        PacingFigure(
            name=name,
            line_rate=line,
            measured=statistics.median(run() for _ in range(max(1, repeats))),
        )
        for (name, line), run in runs.items()
    ]


PACING_TOLERANCE = 0.01
"""How far the measured rate may be from the line rate, either way."""


def pacing_rows(seconds: float, repeats: int, progress: Callable[[str], None]) -> list[Row]:
    """The pacing figures as benchmark rows; the baseline is the theoretical line rate."""
    progress("pacing: --timing real, UART 115200 and SPI 400 kHz")
    return [
        Row(
            section="pacing",
            name=figure.name,
            link="tcp",
            unit=" B/s",
            value=figure.measured,
            baseline=figure.line_rate,
            baseline_name="line rate",
            verdict="PASS" if abs(figure.error) <= PACING_TOLERANCE else "MISS",
            detail=f"{figure.error:+.2%} of the line rate (goal within 1 %)",
        )
        for figure in measure_pacing(seconds, repeats)
    ]
