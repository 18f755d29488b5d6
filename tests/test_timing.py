"""Operation times (``--timing``) through the harness's manual clock, the timing table's
radio-file overrides, the line pacer's arithmetic, and a paced emulator end to end (its
rate is measured by ``eswifi bench``, never asserted here)."""

from __future__ import annotations

import asyncio

import pytest
import serial
from conftest import JOIN, OK

from eswifi.bench.pacing import measure_pacing, pacing_rows
from eswifi.emulator.config import parse_config
from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.pacing import PacedQueue, Pacer, spi_rate, uart_rate
from eswifi.emulator.profile import SPI_C3525
from eswifi.emulator.timing import FAST, REAL, timing_named
from eswifi.errors import ConfigError
from eswifi.testing import EmulatorHarness, EmulatorProcess

OK_END = b"\r\nOK\r\n> "
WAIT = 10.0


def real() -> EmulatorHarness:
    return EmulatorHarness(ModuleEngine(timing=REAL))


def test_p5_0_waits_500_ms_in_real_time() -> None:
    module = real()
    assert module.send(b"P1=0\rP2=5024\r") == OK * 2
    assert module.send(b"P5=0\r") == b""
    assert module.advance(0.499) == b""
    assert module.advance(0.001) == b"\r\n[TCP TSK] Killed\r\n" + OK_END


def test_fast_timing_answers_at_once(module: EmulatorHarness) -> None:
    assert module.send(b"P5=0\r") == b"\r\n[TCP TSK] Killed\r\n" + OK_END
    assert module.send(JOIN).endswith(OK_END)


def test_join_scan_lookup_and_connect_take_their_time() -> None:
    module = real()
    assert module.send(JOIN) == OK * 3
    assert module.advance(1.999) == b""
    assert module.advance(0.001).startswith(b"\r\n[JOIN   ] eswifi-lab,")
    assert module.send(b"F0\r") == b""
    assert module.advance(2.0).endswith(OK_END)
    assert module.send(b"D0=127.0.0.9\r") == b""
    assert module.advance(0.05) == b"\r\n127.0.0.9" + OK_END
    module.network.serve("127.0.0.1", 7000)
    module.send(b"P1=0\rP3=127.0.0.1\rP4=7000\r")
    assert module.send(b"P6=1\r") == b""
    assert module.advance(0.05) == b"\r\n[TCP  RC] Connecting to 127.0.0.1" + OK_END


def test_pin_reset_boots_after_the_boot_time_and_zr_after_the_reset_time() -> None:
    module = EmulatorHarness(ModuleEngine(profile=SPI_C3525, timing=REAL))
    assert module.reset() == b""
    assert module.advance(0.5) == b"\x15\x15\r\n> "
    assert module.send(b"ZR\r\n") == b"\r\nReset\x15"
    assert module.advance(0.5) == b"\x15\x15\r\n> "


def test_radio_file_overrides_any_figure() -> None:
    config = parse_config("[timing]\nstop_server_ms = 20\nspi_clock_hz = 20000000\n")
    timing = config.timing("real")
    assert timing.stop_server_ms == 20 and timing.spi_clock_hz == 20_000_000
    assert timing.join_ms == REAL.join_ms
    assert config.timing("fast").stop_server_ms == 20
    module = EmulatorHarness(ModuleEngine(timing=timing))
    module.send(b"P5=0\r")
    assert module.advance(0.02).endswith(OK_END)


@pytest.mark.parametrize(
    "text",
    [
        "[timing]\nstop_server_ms = -1\n",
        "[timing]\nstop_server_ms = 600001\n",
        "[timing]\nboot = 5\n",
        "[timing]\njoin_ms = 1.5\n",
        "[timing]\nspi_clock_hz = 10\n",
    ],
)
def test_bad_timing_figures_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="timing"):
        parse_config(text)


def test_timing_tables_by_name() -> None:
    assert timing_named("fast") == FAST
    assert timing_named("real", {"dns_ms": 7}).dns_ms == 7
    with pytest.raises(ConfigError, match="unknown timing"):
        timing_named("slow")


# ----------------------------------------------------------------------------- the pacer


def test_pacer_books_bytes_back_to_back() -> None:
    pacer = Pacer(uart_rate(115_200))  # 11520 bytes per second
    assert pacer.slice_size() == 57
    assert pacer.reserve(1152, 10.0) == pytest.approx(10.1)
    # Ready earlier but the line is busy: it starts when the line is free.
    assert pacer.reserve(1152, 10.05) == pytest.approx(10.2)
    # Ready just as the line frees: back to back.
    assert pacer.reserve(1152, 10.2) == pytest.approx(10.3)
    # An idle line starts at once.
    assert pacer.reserve(1152, 20.0) == pytest.approx(20.1)


def test_spi_reply_on_an_idle_line_waits_the_turnaround() -> None:
    pacer = Pacer(spi_rate(8_000_000, turnaround_us=100))  # 1 byte per microsecond
    assert pacer.reserve(100, 1.0, reply=True) == pytest.approx(1.0002)
    assert pacer.reserve(100, 1.0001, reply=True) == pytest.approx(1.0003)  # busy: no turnaround


# ----------------------------------------------------------------------------- end to end


@pytest.mark.subprocess
@pytest.mark.timeout(60)
@pytest.mark.parametrize("link", ["uart", "spi"])
def test_a_paced_emulator_answers_byte_for_byte(link: str) -> None:
    with (
        EmulatorProcess("--timing", "real", "--link", link) as emulator,
        serial.serial_for_url(emulator.url, timeout=WAIT) as port,
    ):
        if link == "spi":
            assert port.read(6) == b"\x15\x15\r\n> "
        payload = b"I?\r\n" * 20
        port.write(payload)
        replies = b""
        while replies.count(OK_END) < 20:
            chunk = port.read(max(1, port.in_waiting))
            assert chunk, f"timed out with {replies[-80:]!r}"
            replies += chunk
        assert replies.count(b"ISM43362-M3G-L44") == 20
        if link == "uart":  # a new rate from the reply after U0 on: still byte for byte
            port.write(b"U2=9600\r")
            assert port.read_until(OK_END).endswith(b"\r\n\r\nOK\r\n> ")
            port.write(b"U0\r")
            assert port.read_until(b"> ").endswith(b"> ")
            port.write(b"P0\r")
            assert port.read_until(OK_END) == b"\r\n0" + OK_END
        assert emulator.stop(wait=WAIT) == 0, emulator.errors()


@pytest.mark.subprocess
@pytest.mark.timeout(60)
def test_bench_pacing_figures_are_produced() -> None:
    figures = measure_pacing(seconds=0.2, repeats=1)
    assert [f.name for f in figures] == ["UART 115200 out", "UART 115200 in", "SPI 400 kHz out"]
    assert all(f.measured > 0 for f in figures)


def test_bench_pacing_rows_judge_against_the_line_rate() -> None:
    rows = pacing_rows(0.2, 1, lambda message: None)
    assert [row.baseline for row in rows] == [11520, 11520, 50000]
    assert all(row.outcome in ("PASS", "MISS") and row.section == "pacing" for row in rows)


def test_paced_queue_keeps_order_and_changes_rate_after_the_queued_bytes() -> None:
    async def run() -> tuple[list[bytes], list[float]]:
        released: list[bytes] = []
        rates: list[float] = []
        done = asyncio.Event()

        def release(data: bytes) -> None:
            released.append(data)
            if b"".join(released).endswith(b"z"):
                done.set()

        queue = PacedQueue(
            uart_rate(1_000_000), release, on_rate=lambda r: rates.append(r.bytes_per_second)
        )
        queue.put(b"a" * 1000)
        queue.change_rate(uart_rate(2_000_000))  # after the a's
        assert queue.pacer.rate.bytes_per_second == 100_000
        queue.put(b"b" * 999 + b"z")
        await asyncio.wait_for(done.wait(), WAIT)
        assert queue.queued == 0
        return released, rates

    released, rates = asyncio.run(run())
    assert b"".join(released) == b"a" * 1000 + b"b" * 999 + b"z"
    assert max(len(piece) for piece in released) <= 1000  # 5 ms slices at 200 kB/s at most
    assert rates == [200_000]
