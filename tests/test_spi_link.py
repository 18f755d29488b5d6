"""The SPI link profile in memory: greeting, 0x15 padding, pad bytes, MR (spec §1.5, §1.7, §2.8)."""

from __future__ import annotations

import pytest
from conftest import ERROR
from hypothesis import given
from hypothesis import strategies as st

from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.profile import SPI_C3525, UART_C6
from eswifi.testing import EmulatorHarness

OK = b"\r\n\r\nOK\r\n> "
JOIN = b"C1=eswifi-lab\r\nC2=eswifi-pass\rC0\r\n"
EMPTY_MR = b"\r\n[SOMA][EOMA]\r\nOK\r\n> "


@pytest.fixture
def spi() -> EmulatorHarness:
    module = EmulatorHarness(ModuleEngine(profile=SPI_C3525))
    assert module.attach() == b"\x15\x15\r\n> "
    return module


@pytest.fixture
def spi_joined(spi: EmulatorHarness) -> EmulatorHarness:
    assert spi.send(JOIN).endswith(b"\r\n[JOIN   ] eswifi-lab,127.0.0.1,0,0\r\nOK\r\n> ")
    return spi


def _server(module: EmulatorHarness, port: int = 5024) -> None:
    reply = module.send(b"P1=0\r\nP2=%d\rP5=11\r\n" % port)
    assert reply.endswith(b"Waiting on connection ...\r\n\r\nOK\r\n> \x15")


def test_greeting_on_every_attach(spi: EmulatorHarness) -> None:
    assert spi.attach() == b"\x15\x15\r\n> "


def test_uart_profile_does_not_greet_or_pad() -> None:
    module = EmulatorHarness(ModuleEngine(profile=UART_C6))
    assert module.attach() == b""
    assert module.send(b"Z5\r") == b"\r\nC4:7F:51:01:12:31\r\nOK\r\n> "


def test_odd_replies_get_one_pad_byte_even_ones_none(spi: EmulatorHarness) -> None:
    odd = spi.send(b"Z5\r\n")
    assert odd == b"\r\nC4:7F:51:01:12:31\r\nOK\r\n> \x15"
    even = spi.send(b"P0=1\r\n")
    assert even == OK
    assert spi.send(b"\r\n") == b"\r\n> "  # the empty line's prompt is 4 bytes


def test_every_reply_is_even(spi_joined: EmulatorHarness) -> None:
    replies = [spi_joined.send(c) for c in (b"P?\r\n", b"R?\r\n", b"S?\r\n", b"XY\r\n", b"I?\r\n")]
    replies.append(spi_joined.send(b"R2=1\rR0\r\n") + spi_joined.advance(0.001))
    assert all(len(r) % 2 == 0 for r in replies)
    assert replies[3] == b"\r\n\r\nERROR: Unknown Command\r\n> "


def test_pad_bytes_after_commands_are_ignored(spi: EmulatorHarness) -> None:
    # Inventek's summary pads with 0x15, real drivers with 0x0A; both, anywhere.
    assert spi.send(b"P0=1\r\x15") == OK
    assert spi.send(b"\x15\nP0\r\n") == b"\r\n1\r\nOK\r\n> \x15"
    assert spi.send(b"P2=80\x15\r") == OK
    assert spi.engine.slot.registers.local_port == 80


@pytest.mark.parametrize(
    "transfer",
    [
        pytest.param([b"S3=0005\r", b"hello\n"], id="st-header-then-padded-payload"),
        pytest.param([b"S3=0004\r", b"ping"], id="st-even-payload"),
        pytest.param([b"S3=5\rhello"], id="mbed-even-transfer"),
        pytest.param([b"S3=4\rping\n"], id="mbed-odd-transfer-padded"),
        pytest.param([b"S3=4\rping\x15"], id="inventek-0x15-pad"),
        pytest.param([b"S3=5\rhelloX\n"], id="zephyr-stray-byte-and-pad"),
        pytest.param([b"S3=4\rpingK"], id="zephyr-stray-byte"),
        pytest.param([b"S3=4\rping\r"], id="zephyr-stray-carriage-return"),
    ],
)
def test_pad_and_stray_bytes_after_a_payload_are_dropped(
    spi_joined: EmulatorHarness, transfer: list[bytes]
) -> None:
    _server(spi_joined)
    peer = spi_joined.network.connect("127.0.0.1", 5024, source=("127.0.0.1", 40000))
    spi_joined.output()
    reply = b"".join(spi_joined.send(part) for part in transfer)
    size = len(peer.received)
    assert reply == b"\r\n%d\r\nOK\r\n> \x15" % size
    assert bytes(peer.received) in (b"hello", b"ping")
    # The next command runs as sent: nothing of the transfer's tail reached the line.
    assert spi_joined.send(b"P0=2\r\n") == OK
    assert spi_joined.send(b"P0\r\n") == b"\r\n2\r\nOK\r\n> \x15"


def test_pad_after_a_pg_payload_is_dropped(spi: EmulatorHarness) -> None:
    ca = b"-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n"  # 60 bytes
    assert spi.send(b"PG=0,0,%d\r" % len(ca) + ca + b"Q\n") == OK  # Zephyr: stray + pad
    assert spi.engine.credentials.sets[0].ca == ca
    assert spi.send(b"PE=0\r\n") == b"\r\n0,1,1\r\nOK\r\n> \x15"


@given(cut=st.integers(min_value=1, max_value=11))
def test_stray_byte_handling_does_not_depend_on_chunking(cut: int) -> None:
    module = EmulatorHarness(ModuleEngine(profile=SPI_C3525))
    module.send(JOIN)
    _server(module)
    peer = module.network.connect("127.0.0.1", 5024, source=("127.0.0.1", 40000))
    module.output()
    transfer = b"S3=5\rhelloX\nP0\r\n"
    out = module.send(transfer[:cut]) + module.send(transfer[cut:])
    assert out == b"\r\n5\r\nOK\r\n> \x15" + b"\r\n0\r\nOK\r\n> \x15"
    assert bytes(peer.received) == b"hello"


def test_async_messages_wait_for_mr_in_order(spi_joined: EmulatorHarness) -> None:
    _server(spi_joined)
    spi_joined.send(b"P0=1\r\n")
    _server(spi_joined, port=6000)
    spi_joined.network.connect("127.0.0.1", 5024, source=("10.0.0.1", 40001))
    spi_joined.network.connect("127.0.0.1", 6000, source=("10.0.0.2", 40002))
    assert spi_joined.output() == b""  # nothing is pushed on SPI
    assert spi_joined.send(b"MR\r\n") == (
        b"\r\n[SOMA][TCP SVR] Accepted 10.0.0.1:40001[EOMA]\r\nOK\r\n> \x15"
    )
    assert spi_joined.send(b"MR\r\n") == (
        b"\r\n[SOMA][TCP SVR] Accepted 10.0.0.2:40002[EOMA]\r\nOK\r\n> \x15"
    )
    assert spi_joined.send(b"MR\r\n") == EMPTY_MR


def test_mr_queue_overflow_drops_the_oldest(spi_joined: EmulatorHarness) -> None:
    depth = SPI_C3525.mr_queue_depth
    spi_joined.send(b"P1=1\rP2=9000\rP5=1\r\n")
    queue = spi_joined.engine.mr_queue
    for i in range(depth + 3):
        queue_before = len(queue.items)
        spi_joined.send(b"P5=0\r\nP5=1\r\n")  # re-arm: the next datagram is "first" again
        spi_joined.network.udp_peer(f"10.0.0.{i + 1}", 1000).sendto(b"x", "127.0.0.1", 9000)
        spi_joined.output()
        assert len(queue.items) == min(queue_before + 1, depth)
    assert queue.dropped == 3
    first = spi_joined.send(b"MR\r\n")
    assert b"[UDP SVR] Accepted 10.0.0.4:1000" in first
    for _ in range(depth - 1):
        assert spi_joined.send(b"MR\r\n") != EMPTY_MR
    assert spi_joined.send(b"MR\r\n") == EMPTY_MR


def test_mr_on_the_uart_build_is_an_error(joined: EmulatorHarness) -> None:
    assert joined.send(b"MR\r") == ERROR


def test_p7_0_reply_is_padded_like_any_other(spi_joined: EmulatorHarness) -> None:
    assert spi_joined.send(b"P7=0\r\n") == b"\r\n[TCP THR] Task Killed\r\n> \x15"


@given(garbage=st.binary(max_size=400))
def test_spi_engine_never_raises_and_every_reply_stays_even(garbage: bytes) -> None:
    module = EmulatorHarness(ModuleEngine(profile=SPI_C3525))
    module.attach()
    module.send(JOIN)
    out = module.send(garbage) + module.advance(31)
    out += module.send(b"\r\n")
    assert len(out) % 2 == 0
    assert module.send(b"Z5\r\n") == b"\r\nC4:7F:51:01:12:31\r\nOK\r\n> \x15"
