"""Client sockets in memory: TCP clients (P6), UDP clients and servers (spec §2.2, §2.4)."""

from __future__ import annotations

import pytest
from conftest import ERROR, OK

from eswifi.emulator import messages as m
from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.profile import UART_C6
from eswifi.emulator.state import DATAGRAM_QUEUE_DEPTH
from eswifi.testing import EmulatorHarness

SERVER = ("10.0.0.2", 7000)
CONNECTED = b"\r\n[TCP  RC] Connecting to 10.0.0.2\r\nOK\r\n> "
FAILED = b"\r\n[TCP  RC] Connecting to 10.0.0.2\r\n[TCP  RC] Failed to connect\r\nERROR\r\n> "
MINUS_ONE_CLOSED = b"\r\n-1\r\n\r\nERROR\r\n> "


def _client(module: EmulatorHarness, *, local_port: int = 0) -> bytes:
    module.send(b"P1=0\rP2=%d\rP3=10.0.0.2\rP4=7000\r" % local_port)
    return module.send(b"P6=1\r")


def _effects_of(module: EmulatorHarness, kind: type) -> list[m.Effect]:
    seen: list[m.Effect] = []
    original = module.network.execute

    def spy(effect: m.Effect, *, now: float) -> None:
        if isinstance(effect, kind):
            seen.append(effect)
        original(effect, now=now)

    module.network.execute = spy  # type: ignore[method-assign]
    return seen


# --------------------------------------------------------------------------- TCP clients


def test_tcp_client_connects_and_exchanges_data(joined: EmulatorHarness) -> None:
    server = joined.network.serve(*SERVER)
    assert _client(joined) == CONNECTED
    (peer,) = server.peers
    peer.send(b"welcome")
    assert joined.send(b"R0\r") == b"\r\nwelcome\r\nOK\r\n> "
    assert joined.send(b"S3=4\rthen") == b"\r\n4\r\nOK\r\n> "
    assert bytes(peer.received) == b"then"


def test_tcp_client_binds_p2_or_an_ephemeral_port(joined: EmulatorHarness) -> None:
    joined.network.serve(*SERVER)
    connects = _effects_of(joined, m.Connect)
    _client(joined, local_port=41000)
    joined.send(b"P6=0\r")
    _client(joined, local_port=0)
    assert [(c.local_host, c.local_port) for c in connects] == [
        ("127.0.0.1", 41000),
        ("127.0.0.1", 0),
    ]
    assert connects[0].transport is m.Transport.TCP and connects[0].tls is None


def test_refused_connect_fails_and_leaves_the_socket_free(joined: EmulatorHarness) -> None:
    assert _client(joined) == FAILED
    joined.network.serve(*SERVER)
    assert joined.send(b"P6=1\r") == CONNECTED


def test_connect_that_never_completes_fails_after_py(joined: EmulatorHarness) -> None:
    joined.network.black_hole(*SERVER)
    joined.send(b"PY=2000\r")
    closes = _effects_of(joined, m.CloseConnection)
    assert _client(joined) == b""
    assert joined.advance(1.999) == b""
    assert joined.advance(0.001) == FAILED
    assert len(closes) == 1  # the pending connect is abandoned
    assert joined.send(b"R0\r") == b"\r\n-1\r\nERROR\r\n> "


def test_second_connect_answers_already_connected(joined: EmulatorHarness) -> None:
    joined.network.serve(*SERVER)
    _client(joined)
    assert joined.send(b"P6=1\r") == b"\r\n[TCP  RC] Already Connected\r\nERROR\r\n> "


def test_p6_0_closes_the_client_and_is_ok_on_a_fresh_socket(joined: EmulatorHarness) -> None:
    server = joined.network.serve(*SERVER)
    assert joined.send(b"P6=0\r") == OK
    _client(joined)
    assert joined.send(b"P6=0\r") == OK
    assert server.peers[0].closed_by_module
    assert joined.send(b"R0\r") == b"\r\n-1\r\nERROR\r\n> "


def test_p6_0_does_not_touch_a_servers_client(joined: EmulatorHarness) -> None:
    joined.send(b"P2=5024\rP5=11\r")
    peer = joined.network.connect("127.0.0.1", 5024, source=("10.0.0.9", 40000))
    joined.output()
    assert joined.send(b"P6=0\r") == OK
    assert not peer.closed_by_module


def test_client_needs_a_network_and_a_socket_without_server(module: EmulatorHarness) -> None:
    module.network.serve(*SERVER)
    assert _client(module) == ERROR
    module.send(b"C1=eswifi-lab\rC2=eswifi-pass\rC0\r")
    module.send(b"P2=6000\rP5=1\r")
    assert _client(module, local_port=6000) == b"\r\n[TCP  RC] Already Connected\r\nERROR\r\n> "


def test_mqtt_protocol_cannot_connect(joined: EmulatorHarness) -> None:
    joined.network.serve(*SERVER)
    joined.send(b"P3=10.0.0.2\rP4=7000\rP1=4\r")
    assert joined.send(b"P6=1\r") == ERROR


def test_peer_close_on_a_client_reads_data_then_minus_one(joined: EmulatorHarness) -> None:
    server = joined.network.serve(*SERVER)
    _client(joined)
    server.peers[0].send(b"bye")
    server.peers[0].close()
    assert joined.send(b"R0\r") == b"\r\nbye\r\nOK\r\n> "
    assert joined.send(b"R0\r") == MINUS_ONE_CLOSED
    assert joined.send(b"S3=1\rx") == MINUS_ONE_CLOSED
    # Still "connected" until the host closes it, as on the module.
    assert joined.send(b"P6=1\r").endswith(b"ERROR\r\n> ")
    assert joined.send(b"P6=0\rP6=1\r") == OK + CONNECTED


def test_client_keepalive_detects_a_vanished_server(joined: EmulatorHarness) -> None:
    server = joined.network.serve(*SERVER)
    joined.send(b"PK=1,1000\r")
    _client(joined)
    server.peers[0].vanish(now=joined.now)
    joined.advance(4.0)
    assert joined.send(b"R0\r") == MINUS_ONE_CLOSED


def test_p_query_of_a_client_shows_its_destination(joined: EmulatorHarness) -> None:
    joined.network.serve(*SERVER)
    _client(joined, local_port=41000)
    assert joined.send(b"P?\r") == (
        b"\r\n0,0.0.0.0,41000,10.0.0.2,7000,0,0,1,0,0,0,7200000\r\nOK\r\n> "
    )


# --------------------------------------------------------------------------- UDP clients


def _udp_client(module: EmulatorHarness, *, protocol: int = 1, port: int = 5353) -> bytes:
    return module.send(b"P1=%d\rP2=0\rP3=10.0.0.3\rP4=%d\rP6=1\r" % (protocol, port))


def test_udp_client_binds_the_destination_port_by_default(joined: EmulatorHarness) -> None:
    peer = joined.network.udp_peer("10.0.0.3", 5353)
    assert _udp_client(joined).endswith(b"\r\n[UDP  RC] Socket opened on port 5353\r\nOK\r\n> ")
    assert joined.send(b"S3=5\rquery") == b"\r\n5\r\nOK\r\n> "
    assert list(peer.received) == [(b"query", "127.0.0.1", 5353)]


def test_without_the_quirk_a_udp_client_sends_from_p2() -> None:
    profile = UART_C6.__class__(**{**_fields(UART_C6), "udp_source_port_quirk": False})
    module = EmulatorHarness(ModuleEngine(profile=profile))
    module.send(b"C1=eswifi-lab\rC2=eswifi-pass\rC0\r")
    peer = module.network.udp_peer("10.0.0.3", 5353)
    reply = module.send(b"P1=1\rP2=40000\rP3=10.0.0.3\rP4=5353\rP6=1\r")
    assert reply.endswith(b"\r\n[UDP  RC] Socket opened on port 40000\r\nOK\r\n> ")
    module.send(b"S3=2\rhi")
    assert list(peer.received) == [(b"hi", "127.0.0.1", 40000)]


def _fields(profile: object) -> dict[str, object]:
    return {name: getattr(profile, name) for name in profile.__dataclass_fields__}  # type: ignore[attr-defined]


def test_mbed_workaround_p4_after_p6_redirects_datagrams(joined: EmulatorHarness) -> None:
    # Mbed: P4=<random local port>, P6=1, then P4=<real destination> (spec §5 row 5).
    peer = joined.network.udp_peer("10.0.0.3", 53)
    reply = joined.send(b"P0=1\rP1=1\rP3=10.0.0.3\rP4=50001\rP6=1\rP0=1\rP4=53\r")
    assert b"[UDP  RC] Socket opened on port 50001" in reply
    joined.send(b"R1=1200\rR2=1\rS3=3\rabc")
    assert list(peer.received) == [(b"abc", "127.0.0.1", 50001)]
    peer.sendto(b"answer", "127.0.0.1", 50001)
    assert joined.send(b"R0\r") == b"\r\nanswer\r\nOK\r\n> "


def test_mbed_p5_0_before_p6_leaves_an_ephemeral_source_port(joined: EmulatorHarness) -> None:
    # Mbed also sends P5=0 before P6=1; P5=0 resets the remote port (spec §2.2), so the
    # quirk binds port 0: the source port is ephemeral, never the destination's.
    peer = joined.network.udp_peer("10.0.0.3", 53)
    reply = joined.send(b"P0=1\rP1=1\rP3=10.0.0.3\rP4=50001\rP5=0\rP6=1\rP0=1\rP4=53\r")
    port = int(reply.split(b"Socket opened on port ")[1].split(b"\r")[0])
    joined.send(b"S3=3\rabc")
    assert list(peer.received) == [(b"abc", "127.0.0.1", port)]
    assert port not in (0, 53)


def test_udp_bind_conflict_fails_p6(joined: EmulatorHarness) -> None:
    joined.network.udp_peer("127.0.0.1", 5353)
    assert _udp_client(joined).endswith(b"\r\n[UDP  RC] Failed to bind port 5353\r\nERROR\r\n> ")
    assert joined.send(b"P?\r").startswith(b"\r\n1,0.0.0.0,0,10.0.0.3,5353,0,0,")


def test_udp_r0_returns_one_datagram_and_drops_its_tail(joined: EmulatorHarness) -> None:
    peer = joined.network.udp_peer("10.0.0.3", 5353)
    _udp_client(joined)
    peer.sendto(b"first datagram", "127.0.0.1", 5353)
    peer.sendto(b"second", "127.0.0.1", 5353)
    assert joined.send(b"R1=5\rR0\r") == OK + b"\r\nfirst\r\nOK\r\n> "
    assert joined.send(b"R0\r") == b"\r\nsecon\r\nOK\r\n> "
    joined.send(b"R2=10\r")
    assert joined.send(b"R0\r") + joined.advance(0.01) == OK


def test_udp_p_query_shows_the_source_of_the_last_datagram(joined: EmulatorHarness) -> None:
    joined.network.udp_peer("10.0.0.3", 5353)
    other = joined.network.udp_peer("10.0.0.4", 6000)
    _udp_client(joined)
    other.sendto(b"hello", "127.0.0.1", 5353)
    assert joined.send(b"P?\r").startswith(b"\r\n1,0.0.0.0,0,10.0.0.3,5353,")
    joined.send(b"R0\r")
    assert joined.send(b"P?\r").startswith(b"\r\n1,0.0.0.0,0,10.0.0.4,6000,0,0,")
    # S3 still goes to P3:P4 on a client.
    joined.send(b"S3=1\rx")
    assert list(other.received) == []


def test_udp_datagram_queue_is_bounded(joined: EmulatorHarness) -> None:
    peer = joined.network.udp_peer("10.0.0.3", 5353)
    _udp_client(joined)
    for i in range(DATAGRAM_QUEUE_DEPTH + 5):
        peer.sendto(b"%d" % i, "127.0.0.1", 5353)
    joined.send(b"R2=1\r")
    got = []
    for _ in range(DATAGRAM_QUEUE_DEPTH + 5):
        reply = joined.send(b"R0\r") or joined.advance(0.001)
        got.append(reply[2:-8])
    assert got[:DATAGRAM_QUEUE_DEPTH] == [b"%d" % i for i in range(DATAGRAM_QUEUE_DEPTH)]
    assert got[DATAGRAM_QUEUE_DEPTH:] == [b""] * 5
    assert joined.engine.slot.connection.dropped_datagrams == 5


def test_udp_lite_opens_a_udp_lite_socket(joined: EmulatorHarness) -> None:
    joined.network.udp_peer("10.0.0.3", 5353)
    connects = _effects_of(joined, m.Connect)
    assert _udp_client(joined, protocol=2).endswith(b"Socket opened on port 5353\r\nOK\r\n> ")
    assert connects[0].transport is m.Transport.UDP_LITE


def test_p6_0_closes_a_udp_client(joined: EmulatorHarness) -> None:
    _udp_client(joined)
    assert joined.network.udp_ports() == [("127.0.0.1", 5353)]
    assert joined.send(b"P6=0\r") == OK
    assert joined.network.udp_ports() == []


# --------------------------------------------------------------------------- UDP servers

UDP_SETUP = b"\r\n[UDP TSK] Setup\r\n[UDP SVR] Waiting on connection ...\r\n\r\nOK\r\n> "


def test_udp_server_accepts_on_first_datagram_and_answers_the_sender(
    joined: EmulatorHarness,
) -> None:
    assert joined.send(b"P0=3\rP1=1\rP2=9000\rP5=1\r") == OK * 3 + UDP_SETUP
    first = joined.network.udp_peer("10.0.0.5", 40000)
    second = joined.network.udp_peer("10.0.0.6", 40001)
    first.sendto(b"one", "127.0.0.1", 9000)
    assert joined.output() == b"\r\n[UDP SVR] Accepted 10.0.0.5:40000\r\n> "
    second.sendto(b"two", "127.0.0.1", 9000)
    assert joined.output() == b""  # only the first datagram is announced
    assert joined.send(b"P?\r") == (
        b"\r\n1,10.0.0.5,9000,0.0.0.0,5025,0,1,1,0,0,0,7200000\r\nOK\r\n> "
    )
    assert joined.send(b"R0\r") == b"\r\none\r\nOK\r\n> "
    assert joined.send(b"S3=3\rack") == b"\r\n3\r\nOK\r\n> "
    assert joined.send(b"R0\r") == b"\r\ntwo\r\nOK\r\n> "
    assert joined.send(b"P?\r").startswith(b"\r\n1,10.0.0.5,9000,10.0.0.6,40001,0,1,")
    assert joined.send(b"S3=3\rack") == b"\r\n3\r\nOK\r\n> "
    assert [d[0] for d in first.received] == [b"ack"]
    assert [d[0] for d in second.received] == [b"ack"]
    assert joined.send(b"P5=0\r") == b"\r\n[UDP TSK] Killed\r\n\r\nOK\r\n> "
    assert joined.network.udp_ports() == []


def test_udp_server_send_before_any_datagram_is_minus_one(joined: EmulatorHarness) -> None:
    joined.send(b"P1=1\rP2=9000\rP5=1\r")
    assert joined.send(b"S3=2\rhi") == MINUS_ONE_CLOSED


def test_udp_server_refuses_multi_accept_and_busy_sockets(joined: EmulatorHarness) -> None:
    joined.send(b"P1=1\rP2=9000\r")
    assert joined.send(b"P5=11\r") == ERROR
    assert joined.send(b"P5=10\r") == ERROR
    joined.send(b"P5=1\r")
    assert joined.send(b"P5=1\r") == b"\r\n[TCP SVR] Already Connected\r\n\r\nERROR\r\n> "
    assert joined.send(b"P6=1\r") == b"\r\n[TCP  RC] Already Connected\r\nERROR\r\n> "
    assert joined.send(b"P6=0\r") == OK  # P6=0 leaves a server alone
    assert joined.network.udp_ports() == [("127.0.0.1", 9000)]


def test_udp_server_port_in_use(joined: EmulatorHarness) -> None:
    joined.network.udp_peer("127.0.0.1", 9000)
    assert joined.send(b"P1=1\rP2=9000\rP5=1\r") == OK * 2 + (
        b"\r\n[UDP SVR] Error binding UDP socket to port 9000\r\nERROR\r\n> "
    )


def test_ms_bit1_suppresses_server_messages(joined: EmulatorHarness) -> None:
    assert joined.send(b"MS=2\r") == OK
    joined.send(b"P1=1\rP2=9000\rP5=1\r")
    joined.network.udp_peer("10.0.0.5", 40000).sendto(b"x", "127.0.0.1", 9000)
    assert joined.output() == b""
    assert joined.send(b"R0\r") == b"\r\nx\r\nOK\r\n> "


@pytest.mark.parametrize("mode", [b"1", b"11"])
def test_tcp_server_on_tls_socket_is_refused(joined: EmulatorHarness, mode: bytes) -> None:
    assert joined.send(b"P1=3\rP5=" + mode + b"\r") == OK + ERROR


def test_st_udp_client_send_to_and_receive_from(joined: EmulatorHarness) -> None:
    # ES_WIFI_StartClientConnection (UDP: no P3/P4), ES_WIFI_SendDataTo, ReceiveDataFrom.
    peer = joined.network.udp_peer("10.0.0.3", 9999)
    reply = joined.send(b"P0=1\rP1=1\rP2=0\rP6=1\r")
    assert reply.endswith(b"\r\n[UDP  RC] Socket opened on port 5025\r\nOK\r\n> ")  # P4 default
    joined.send(b"P0=1\rP2=56830\rP4=9999\rP3=10.0.0.3\rS2=1000\r")
    assert joined.send(b"S3=0005\rhello") == b"\r\n5\r\nOK\r\n> "
    assert list(peer.received) == [(b"hello", "127.0.0.1", 5025)]
    peer.sendto(b"world", "127.0.0.1", 5025)
    assert joined.send(b"P0=1\rR1=1200\rR2=100\rR0\r") == OK * 3 + b"\r\nworld\r\nOK\r\n> "
    fields = joined.send(b"P?\r")[2:-8].split(b",")
    assert (fields[3], fields[4]) == (b"10.0.0.3", b"9999")
