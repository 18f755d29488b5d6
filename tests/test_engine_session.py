"""The module engine in memory: the application note's session and TCP server behaviour."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from conftest import ERROR, OK
from hypothesis import given
from hypothesis import strategies as st

from eswifi.testing import EmulatorHarness
from eswifi.testing.transcript import TranscriptMismatch, load, parse, replay

TRANSCRIPTS = sorted((Path(__file__).parent / "transcripts").glob("*.txt"))
ACCEPTED = b"\r\n[TCP SVR] Accepted %s:%d\r\n> "


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: p.stem)
def test_golden_transcript(path: Path) -> None:
    replay(load(path))


def test_transcript_replay_detects_a_difference() -> None:
    steps = parse("> P0\\r\n< \\r\\n1\\r\\nOK\\r\\n>\\x20\n")
    with pytest.raises(TranscriptMismatch):
        replay(steps)


def _cut(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: p.stem)
def test_transcript_byte_by_byte(path: Path) -> None:
    replay(load(path), split=lambda data: [data[i : i + 1] for i in range(len(data))])


@given(cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6))
def test_transcript_random_splits(cuts: list[int]) -> None:
    for path in TRANSCRIPTS:
        replay(load(path), split=lambda data: _cut(data, cuts))


def _server(module: EmulatorHarness, *, port: int = 5024, mode: int = 11, backlog: int = 6) -> None:
    reply = module.send(b"P1=0\rP2=%d\rP8=%d\rP5=%d\r" % (port, backlog, mode))
    assert reply.endswith(b"[TCP SVR] Waiting on connection ...\r\n\r\nOK\r\n> ")


def test_r0_without_data_waits_r2_then_answers_blank_ok(joined: EmulatorHarness) -> None:
    _server(joined)
    joined.network.connect("127.0.0.1", 5024, source=("127.0.0.1", 40001))
    assert joined.output() == ACCEPTED % (b"127.0.0.1", 40001)
    assert joined.send(b"R2=250\rR0\r") == OK
    assert joined.advance(0.249) == b""
    assert joined.advance(0.001) == OK


def test_r0_returns_data_that_arrives_while_it_waits(joined: EmulatorHarness) -> None:
    _server(joined)
    peer = joined.network.connect("127.0.0.1", 5024, source=("127.0.0.1", 40001))
    joined.output()
    assert joined.send(b"R0\r") == b""
    joined.advance(1.0)
    peer.send(b"late")
    assert joined.output() == b"\r\nlate\r\nOK\r\n> "


def test_r0_delivers_data_before_reporting_the_close(joined: EmulatorHarness) -> None:
    _server(joined)
    peer = joined.network.connect("127.0.0.1", 5024, source=("127.0.0.1", 40001))
    joined.output()
    peer.send(b"last words")
    peer.close()
    assert joined.send(b"R1=4\rR0\r") == OK + b"\r\nlast\r\nOK\r\n> "
    assert joined.send(b"R1=1460\rR0\r") == OK + b"\r\n words\r\nOK\r\n> "
    assert joined.send(b"R0\r") == b"\r\n-1\r\n\r\nERROR\r\n> "


def test_binary_data_passes_both_ways_untouched(joined: EmulatorHarness) -> None:
    _server(joined)
    peer = joined.network.connect("127.0.0.1", 5024, source=("127.0.0.1", 40001))
    joined.output()
    blob = bytes(range(256)) + b"\r\nOK\r\n> \r"
    peer.send(blob)
    assert joined.send(b"R0\r") == b"\r\n" + blob + b"\r\nOK\r\n> "
    assert joined.send(b"S3=%d\r" % len(blob) + blob) == b"\r\n%d\r\nOK\r\n> " % len(blob)
    assert bytes(peer.received) == blob


def test_s3_without_client_answers_minus_one_and_consumes_its_payload(
    joined: EmulatorHarness,
) -> None:
    _server(joined)
    # The payload looks like a command; it must be swallowed, not executed.
    assert joined.send(b"S3=5\rP0=3\r") == b"\r\n-1\r\n\r\nERROR\r\n> "
    assert joined.send(b"P0\r") == b"\r\n0\r\nOK\r\n> "


def test_s3_waits_for_its_payload_until_s2_then_sends_what_it_got(
    joined: EmulatorHarness,
) -> None:
    _server(joined)
    peer = joined.network.connect("127.0.0.1", 5024, source=("127.0.0.1", 40001))
    joined.output()
    assert joined.send(b"S2=100\rS3=10\rabc") == OK
    assert joined.advance(0.1) == b"\r\n3\r\nOK\r\n> "
    assert bytes(peer.received) == b"abc"
    assert joined.send(b"P0\r") == b"\r\n0\r\nOK\r\n> "


def test_three_queued_clients_are_served_in_arrival_order(joined: EmulatorHarness) -> None:
    _server(joined)
    peers = [
        joined.network.connect("127.0.0.1", 5024, source=("127.0.0.1", 41000 + i)) for i in range(3)
    ]
    for i, peer in enumerate(peers):
        peer.send(b"client %d" % i)
    served = []
    out = joined.output()
    for i in range(3):
        assert out.endswith(ACCEPTED % (b"127.0.0.1", 41000 + i))
        served.append(joined.send(b"R0\r"))
        assert joined.send(b"S3=2\rok") == b"\r\n2\r\nOK\r\n> "
        out = joined.send(b"P5=10\r")
    assert served == [b"\r\nclient %d\r\nOK\r\n> " % i for i in range(3)]
    assert [bytes(p.received) for p in peers] == [b"ok"] * 3
    assert all(p.closed_by_module for p in peers)


def test_single_accept_server_announces_its_local_port(joined: EmulatorHarness) -> None:
    _server(joined, port=8080, mode=1)
    joined.network.connect("127.0.0.1", 8080, source=("127.0.0.1", 40001))
    assert joined.output() == ACCEPTED % (b"127.0.0.1", 8080)
    # A single-connection server never accepts a second client.
    joined.network.connect("127.0.0.1", 8080, source=("127.0.0.1", 40002))
    assert joined.output() == b""
    assert joined.send(b"P5=10\r") == ERROR


def test_accepted_is_never_written_inside_a_reply(joined: EmulatorHarness) -> None:
    _server(joined)
    first = joined.network.connect("127.0.0.1", 5024, source=("127.0.0.1", 40001))
    joined.output()
    joined.send(b"P0=1\r")
    _server(joined, port=6000)
    joined.send(b"P0=0\rR0\r")  # R0 is now waiting for data
    joined.network.connect("127.0.0.1", 6000, source=("127.0.0.1", 40002))
    assert joined.output() == b""
    first.send(b"x")
    assert joined.output() == b"\r\nx\r\nOK\r\n> " + ACCEPTED % (b"127.0.0.1", 40002)


def test_p_query_reports_the_accepted_client(joined: EmulatorHarness) -> None:
    joined.send(b"PK=1,3000\r")
    _server(joined)
    assert joined.send(b"P?\r") == b"\r\n0,0.0.0.0,5024,0.0.0.0,5025,1,0,6,1,0,1,3000\r\nOK\r\n> "
    joined.network.connect("127.0.0.1", 5024, source=("10.1.2.3", 51234))
    joined.output()
    assert joined.send(b"P?\r") == b"\r\n0,10.1.2.3,5024,0.0.0.0,51234,1,0,6,1,0,1,3000\r\nOK\r\n> "
    joined.send(b"P5=10\r")
    assert joined.send(b"P?\r") == b"\r\n0,0.0.0.0,5024,0.0.0.0,0,1,0,6,1,0,1,3000\r\nOK\r\n> "
    joined.send(b"P5=0\r")
    assert joined.send(b"P?\r") == b"\r\n0,0.0.0.0,5024,0.0.0.0,0,0,0,6,0,0,1,3000\r\nOK\r\n> "


def test_settings_are_per_socket(joined: EmulatorHarness) -> None:
    joined.send(b"P0=2\rP2=7000\rR1=100\rPK=1,500\r")
    joined.send(b"P0=1\r")
    assert (
        joined.send(b"P?\r") == b"\r\n0,0.0.0.0,5024,0.0.0.0,5025,0,0,1,0,0,0,7200000\r\nOK\r\n> "
    )
    joined.send(b"P0=2\r")
    assert joined.send(b"P?\r") == b"\r\n0,0.0.0.0,7000,0.0.0.0,5025,0,0,1,0,0,1,500\r\nOK\r\n> "


def test_keepalive_turns_a_vanished_peer_into_minus_one(joined: EmulatorHarness) -> None:
    joined.send(b"PK=1,3000\r")
    _server(joined)
    peer = joined.network.connect("127.0.0.1", 5024, source=("127.0.0.1", 40001))
    joined.output()
    peer.vanish(now=joined.now)
    joined.send(b"R2=1\r")
    joined.advance(11.9)  # idle 3 s + 3 probes of 3 s
    assert joined.send(b"R0\r") == b""
    assert joined.advance(0.001) == OK
    joined.advance(0.2)
    assert joined.send(b"R0\r") == b"\r\n-1\r\n\r\nERROR\r\n> "
    assert joined.send(b"S3=1\rx") == b"\r\n-1\r\n\r\nERROR\r\n> "


def test_without_keepalive_a_vanished_peer_goes_unnoticed(joined: EmulatorHarness) -> None:
    _server(joined)
    peer = joined.network.connect("127.0.0.1", 5024, source=("127.0.0.1", 40001))
    joined.output()
    peer.vanish(now=joined.now)
    joined.advance(3600)
    joined.send(b"R2=1\rR0\r")
    assert joined.advance(0.001) == OK


def test_reset_by_peer_answers_minus_one(joined: EmulatorHarness) -> None:
    _server(joined)
    peer = joined.network.connect("127.0.0.1", 5024, source=("127.0.0.1", 40001))
    joined.output()
    peer.reset()
    assert joined.send(b"R0\r") == b"\r\n-1\r\n\r\nERROR\r\n> "


def test_receive_buffer_is_bounded_and_loses_nothing(joined: EmulatorHarness) -> None:
    _server(joined)
    peer = joined.network.connect("127.0.0.1", 5024, source=("127.0.0.1", 40001))
    joined.output()
    rng = random.Random(7)
    blob = rng.randbytes(200_000)
    peer.send(blob)
    joined.output()
    conn = joined.engine.slot.connection
    assert conn is not None and conn.paused
    assert len(conn.rx) < 32 * 1024  # the network holds the rest, as a kernel would
    received = bytearray()
    joined.send(b"R2=1\r")
    for _ in range(1000):
        reply = joined.send(b"R0\r") or joined.advance(0.001)
        assert reply.startswith(b"\r\n") and reply.endswith(b"\r\nOK\r\n> ")
        chunk = reply[2:-8]
        if not chunk:
            break
        received += chunk
    assert bytes(received) == blob


def test_server_needs_a_network(module: EmulatorHarness) -> None:
    assert module.send(b"P5=11\r") == ERROR
    assert module.send(b"R0\r") == b"\r\n-1\r\nERROR\r\n> "
    assert module.send(b"S3=3\rabc") == b"\r\n-1\r\nERROR\r\n> "
    assert module.network.listening_ports() == []


def test_second_server_on_a_socket_is_refused(joined: EmulatorHarness) -> None:
    _server(joined)
    assert joined.send(b"P5=11\r") == b"\r\n[TCP SVR] Already Connected\r\n\r\nERROR\r\n> "


def test_port_in_use_fails_with_the_bind_message(joined: EmulatorHarness) -> None:
    _server(joined)
    joined.send(b"P0=1\r")
    assert joined.send(b"P2=5024\rP5=11\r") == OK + (
        b"\r\n[TCP SVR] Error binding TCP listen socket to port 5024\r\nERROR\r\n> "
    )
    assert joined.send(b"P?\r").startswith(b"\r\n0,0.0.0.0,5024,0.0.0.0,5025,0,")


def test_stop_when_nothing_runs_still_answers_killed(joined: EmulatorHarness) -> None:
    assert joined.send(b"P5=0\r") == b"\r\n[TCP TSK] Killed\r\n\r\nOK\r\n> "


def test_leaving_the_network_closes_servers_and_connections(joined: EmulatorHarness) -> None:
    _server(joined)
    peer = joined.network.connect("127.0.0.1", 5024, source=("127.0.0.1", 40001))
    joined.output()
    assert joined.send(b"CD\r") == OK
    assert peer.closed_by_module
    assert joined.network.listening_ports() == []
    assert joined.send(b"CS\r") == b"\r\n0\r\nOK\r\n> "
