"""The sans-I/O transaction layer alone: framing, chunking, async messages, bad input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eswifi.client.protocol import ClientProtocol
from eswifi.errors import LocalProtocolError, RemoteProtocolError
from eswifi.testing import EmulatorHarness
from eswifi.wire.replies import AsyncMessage, Reply

ACCEPTED = b"\r\n[TCP SVR] Accepted 127.0.0.1:5024\r\n> "
INFO = b"\r\nISM43362-M3G-L44,C6.2.1.11,v6.2.1,v2.0.3,v9.0.0,120000000,Inventek eS-WiFi\r\nOK\r\n> "


def events(proto: ClientProtocol, data: bytes, chunks: list[int] | None = None) -> list:
    """Feed ``data`` (whole, or cut at ``chunks`` sizes) and collect every event."""
    out = []
    pieces = [data] if chunks is None else _cut(data, chunks)
    for piece in pieces:
        proto.receive_data(piece)
        while (event := proto.next_event()) is not None:
            out.append(event)
    return out


def _cut(data: bytes, sizes: list[int]) -> list[bytes]:
    pieces, pos = [], 0
    for size in sizes:
        if pos >= len(data):
            break
        pieces.append(data[pos : pos + size])
        pos += size
    if pos < len(data):
        pieces.append(data[pos:])
    return pieces


def test_text_reply_whole() -> None:
    proto = ClientProtocol()
    assert proto.send_command("I?") == b"I?\r"
    [reply] = events(proto, INFO)
    assert isinstance(reply, Reply)
    assert reply.ok and reply.code == "I?"
    assert reply.value.startswith("ISM43362-M3G-L44,C6.2.1.11")
    assert reply.raw == INFO
    assert proto.in_flight is None


def test_text_reply_byte_by_byte() -> None:
    proto = ClientProtocol()
    proto.send_command("I?")
    got = events(proto, INFO, [1] * len(INFO))
    assert [type(e) for e in got] == [Reply]
    assert got[0].value.endswith("Inventek eS-WiFi")


@settings(max_examples=200)
@given(st.lists(st.integers(min_value=1, max_value=12), max_size=40))
def test_any_chunking_gives_the_same_events(sizes: list[int]) -> None:
    stream = ACCEPTED + b"\r\n[TCP TSK] Killed\r\n\r\nOK\r\n> " + ACCEPTED
    whole = ClientProtocol()
    whole.send_command("P5", 0)
    cut = ClientProtocol()
    cut.send_command("P5", 0)
    assert events(cut, stream, sizes) == events(whole, stream)


def test_set_command_blank_line_and_body() -> None:
    proto = ClientProtocol()
    proto.send_command("P0", 1)
    [reply] = events(proto, b"\r\n\r\nOK\r\n> ")
    assert reply.ok and reply.body == b"" and reply.lines == []
    proto.send_command("P5", 0)
    [reply] = events(proto, b"\r\n[TCP TSK] Killed\r\n\r\nOK\r\n> ")
    assert reply.lines == ["[TCP TSK] Killed"]


@pytest.mark.parametrize(
    ("raw", "message", "body"),
    [
        (b"\r\n\r\nERROR\r\n> ", "", b""),
        (b"\r\n\r\nERROR: Unknown Command\r\n> ", "Unknown Command", b""),
        (b"\r\n\r\nERROR: Bad Argument\r\nUsage: P1 <0=TCP/1=UDP>\r\n> ", "Bad Argument", b""),
        (b"\r\n-1\r\n\r\nERROR\r\n> ", "", b"-1\r\n"),
        (
            b"\r\n[JOIN   ] x\r\n[JOIN   ] Failed\r\nERROR\r\n> ",
            "",
            b"[JOIN   ] x\r\n[JOIN   ] Failed",
        ),
    ],
)
def test_error_replies(raw: bytes, message: str, body: bytes) -> None:
    proto = ClientProtocol()
    proto.send_line("XX=1")
    [reply] = events(proto, raw)
    assert not reply.ok
    assert reply.message == message
    assert reply.body == body


def test_async_message_before_and_after_a_reply() -> None:
    proto = ClientProtocol()
    proto.send_command("P?")
    stream = (
        ACCEPTED + b"\r\n0,127.0.0.1,5024,0.0.0.0,5024,1,0,6,1,0,0,7200000\r\nOK\r\n> " + ACCEPTED
    )
    got = events(proto, stream)
    assert [type(e) for e in got] == [AsyncMessage, Reply, AsyncMessage]
    assert got[0].accepted == ("127.0.0.1", 5024)
    assert got[0].tag == "TCP SVR"
    assert got[1].value.startswith("0,127.0.0.1,5024")


def test_async_message_with_nothing_in_flight() -> None:
    proto = ClientProtocol()
    got = events(proto, ACCEPTED + b"\r\n> " + ACCEPTED)
    assert [e.text for e in got] == [ACCEPTED[2:-4]] * 2


def test_a_reply_that_starts_with_a_tag_is_not_an_async_message() -> None:
    proto = ClientProtocol()
    proto.send_command("C0")
    stream = b"\r\n[JOIN   ] eswifi-lab,127.0.0.1,0,0\r\nOK\r\n> "
    got = events(proto, stream, [1] * len(stream))
    assert [type(e) for e in got] == [Reply]
    assert got[0].value == "[JOIN   ] eswifi-lab,127.0.0.1,0,0"


# ---------------------------------------------------------------------- R0 data


def test_data_reply_is_binary_and_may_contain_the_terminator() -> None:
    payload = b"\x00\xff\r\n> \r\nOK\r\n> \x15tail"
    proto = ClientProtocol()
    proto.send_command("R0", read_limit=100)
    [reply] = events(proto, b"\r\n" + payload + b"\r\nOK\r\n> ")
    assert reply.ok and reply.body == payload


def test_data_reply_respects_the_read_size() -> None:
    # Only the terminator within R1 bytes can end the reply.
    payload = b"ab\r\nOK\r\n> cd"
    proto = ClientProtocol()
    proto.send_command("R0", read_limit=2)
    [reply] = events(proto, b"\r\n" + payload[:2] + b"\r\nOK\r\n> ")
    assert reply.body == b"ab"


def test_data_reply_chunked() -> None:
    payload = bytes(range(256)) * 5
    stream = b"\r\n" + payload + b"\r\nOK\r\n> "
    proto = ClientProtocol()
    proto.send_command("R0")
    got = events(proto, stream, [7] * (len(stream) // 7 + 1))
    assert [e.body for e in got] == [payload]


@pytest.mark.parametrize(
    "raw",
    [
        b"\r\n-1\r\n\r\nERROR\r\n> ",
        b"\r\n-1\r\nERROR\r\n> ",
        b"\r\n-1\r\nERROR: Unknown Error\r\nUsage: R0 \r\n> ",
    ],
)
def test_data_reply_minus_one_means_closed(raw: bytes) -> None:
    proto = ClientProtocol()
    proto.send_command("R0")
    [reply] = events(proto, raw)
    assert not reply.ok and reply.minus_one


def test_data_reply_empty_and_then_async() -> None:
    proto = ClientProtocol()
    proto.send_command("R0")
    got = events(proto, ACCEPTED + b"\r\n\r\nOK\r\n> " + ACCEPTED)
    assert [type(e) for e in got] == [AsyncMessage, Reply, AsyncMessage]
    assert got[1].ok and got[1].body == b""


def test_data_longer_than_the_read_size_is_an_error() -> None:
    proto = ClientProtocol()
    proto.send_command("R0", read_limit=4)
    with pytest.raises(RemoteProtocolError, match="longer than the read size"):
        events(proto, b"\r\n" + b"x" * 200)


# ---------------------------------------------------------------------- SPI


def test_spi_commands_are_padded_to_even_length() -> None:
    proto = ClientProtocol(spi=True)
    assert proto.send_command("P0", 1) == b"P0=1\r\n"
    proto.abandon()
    assert proto.send_command("P5", 10) == b"P5=10\r"
    proto.abandon()
    assert proto.send_command("S3", 3, payload=b"abc") == b"S3=3\rabc"
    proto.abandon()
    assert proto.send_command("S3", 2, payload=b"ab") == b"S3=2\rab\n"


def test_spi_pads_and_greeting_are_skipped() -> None:
    proto = ClientProtocol(spi=True)
    proto.send_command("CS")
    stream = b"\x15\x15\r\n> " + b"\x15\x15\x15\r\n1\r\nOK\r\n> \x15"
    got = events(proto, stream, [1] * len(stream))
    assert [e.value for e in got] == ["1"]


def test_spi_data_keeps_pad_bytes_inside_the_payload() -> None:
    proto = ClientProtocol(spi=True)
    proto.send_command("R0")
    [reply] = events(proto, b"\r\n\x15a\x15\r\nOK\r\n> \x15")
    assert reply.body == b"\x15a\x15"


def test_mr_message_is_reported_as_async_then_the_reply() -> None:
    proto = ClientProtocol(spi=True)
    proto.send_command("MR")
    got = events(proto, b"\r\n[SOMA][TCP SVR] Accepted 10.0.0.7:40000[EOMA]\r\nOK\r\n> \x15")
    assert [type(e) for e in got] == [AsyncMessage, Reply]
    assert got[0].accepted == ("10.0.0.7", 40000), got
    proto.send_command("MR")
    assert [type(e) for e in events(proto, b"\r\n[SOMA][EOMA]\r\nOK\r\n> ")] == [Reply]


# ---------------------------------------------------------------------- other shapes


@pytest.mark.parametrize("spi", [False, True])
def test_reset_reply_waits_for_the_reboot_prompt(spi: bool) -> None:
    proto = ClientProtocol(spi=spi)
    proto.send_command("ZR")
    assert events(proto, b"\r\nReset") == []
    boot = b"\x15\x15\r\n> " if spi else b"\r\n> "
    [reply] = events(proto, boot)
    assert reply.ok and reply.code == "ZR"


def test_p7_kill_reply_has_no_ok_line() -> None:
    proto = ClientProtocol()
    proto.send_line("P7=0")
    [reply] = events(proto, b"\r\n[TCP THR] Task Killed\r\n> ")
    assert reply.ok and reply.value == "[TCP THR] Task Killed"


# ---------------------------------------------------------------------- misuse and garbage


def test_one_command_in_flight() -> None:
    proto = ClientProtocol()
    proto.send_command("CS")
    with pytest.raises(LocalProtocolError, match="one command at a time"):
        proto.send_command("CR")


def test_command_line_cannot_hold_a_line_break() -> None:
    with pytest.raises(LocalProtocolError):
        ClientProtocol().send_line("C1=a\rC0")


def test_abandoned_command_reply_is_dropped() -> None:
    proto = ClientProtocol()
    proto.send_command("R0")
    proto.abandon()
    assert proto.in_flight is None
    proto.send_command("CS")
    got = events(proto, b"\r\nlate data\r\nOK\r\n> " + b"\r\n1\r\nOK\r\n> ")
    assert [(e.code, e.value) for e in got] == [("CS", "1")]


@pytest.mark.parametrize(
    "garbage",
    [b"OK\r\n> ", b"hello\r\n> ", b"\r\nno terminator line\r\n> ", b"\xff\xfe\r\n> "],
)
def test_malformed_reply_is_a_clear_error_and_the_stream_recovers(garbage: bytes) -> None:
    proto = ClientProtocol()
    proto.send_command("CS")
    with pytest.raises(RemoteProtocolError, match="malformed reply to 'CS'"):
        events(proto, garbage)
    assert proto.in_flight is None and proto.buffered == 0
    proto.send_command("CS")
    assert [e.value for e in events(proto, b"\r\n1\r\nOK\r\n> ")] == ["1"]


def test_unsolicited_reply_is_an_error() -> None:
    with pytest.raises(RemoteProtocolError, match="unsolicited"):
        events(ClientProtocol(), b"\r\n\r\nOK\r\n> ")


def test_endless_reply_is_an_error() -> None:
    proto = ClientProtocol()
    proto.send_command("C?")
    with pytest.raises(RemoteProtocolError, match="no prompt"):
        events(proto, b"\r\n" + b"x" * 70_000)


# ---------------------------------------------------------------------- against the engine


@pytest.mark.parametrize("profile", ["uart", "spi"])
def test_engine_session_parses(profile: str) -> None:
    """Every reply the emulator gives in a server session parses as the expected event."""
    from eswifi.emulator.engine import ModuleEngine
    from eswifi.emulator.profile import SPI_C3525, UART_C6

    bench = EmulatorHarness(ModuleEngine(profile=SPI_C3525 if profile == "spi" else UART_C6))
    proto = ClientProtocol(spi=profile == "spi")
    proto.receive_data(bench.attach())

    def run(line: str, payload: bytes | None = None) -> list:
        data = proto.send_line(line, payload=payload)
        return events(proto, bench.send(data))

    for line in ("C1=eswifi-lab", "C2=eswifi-pass", "C3=3", "P1=0", "P2=5024", "P8=6"):
        [reply] = run(line)
        assert reply.ok, line
    [join] = run("C0")
    assert join.value.startswith("[JOIN   ] eswifi-lab,")
    [server] = run("P5=11")
    assert server.lines == ["[TCP TSK] Multi-Accept Setup", "[TCP SVR] Waiting on connection ..."]
    peer = bench.network.connect("127.0.0.1", 5024, source=("10.0.0.7", 40000))
    peer.send(b"ping\r\nOK\r\n> ")
    pushed = bench.output()  # the module takes the connection; UART pushes the message
    got = run("MR") if profile == "spi" else events(proto, pushed)
    assert got[0].accepted == ("10.0.0.7", 40000), got
    [data] = run("R0")
    assert data.body == b"ping\r\nOK\r\n> "
    [sent] = run("S3=4", b"pong")
    assert sent.value == "4"
    peer.close()
    [closed] = run("R0")
    assert closed.minus_one and not closed.ok
    [bad] = run("P1=9")
    assert not bad.ok
    [unknown] = run("QQ")
    assert unknown.message == "Unknown Command"
