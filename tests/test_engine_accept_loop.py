"""The legacy P7 accept loop, and all four sockets busy at once, in memory (spec §2.1, §2.2)."""

from __future__ import annotations

from conftest import ERROR, OK

from eswifi.testing import EmulatorHarness

SETUP = b"\r\n[TCP TSK] Setup\r\n[TCP SVR] Waiting on connection ...\r\n\r\nOK\r\n> "
WAITING = b"\r\n[TCP SVR] Waiting on connection ...\r\n\r\nOK\r\n> "
KILLED = b"\r\n[TCP THR] Task Killed\r\n> "


def accepted(host: str, port: int) -> bytes:
    return b"\r\n[TCP SVR] Accepted %s:%d\r\n> " % (host.encode(), port)


def test_p7_1_without_a_server_starts_one(joined: EmulatorHarness) -> None:
    assert joined.send(b"P2=8080\rP7=1\r") == OK + SETUP
    assert joined.network.listening_ports() == [8080]
    joined.network.connect("127.0.0.1", 8080, source=("10.0.0.1", 40000))
    assert joined.output() == accepted("10.0.0.1", 8080)


def test_p7_serves_clients_one_after_the_other(joined: EmulatorHarness) -> None:
    joined.send(b"P2=8080\rP8=6\rP5=1\r")
    assert joined.send(b"P7=1\r") == SETUP
    peers = [
        joined.network.connect("127.0.0.1", 8080, source=("10.0.0.1", 40000 + i)) for i in range(3)
    ]
    assert joined.output() == accepted("10.0.0.1", 8080)  # one at a time
    for i, peer in enumerate(peers):
        peer.send(b"req %d" % i)
        assert joined.send(b"R0\r") == b"\r\nreq %d\r\nOK\r\n> " % i
        assert joined.send(b"S3=3\rres") == b"\r\n3\r\nOK\r\n> "
        assert joined.send(b"P7=2\r") == OK
        assert peer.closed_by_module
        reply = joined.send(b"P7=3\r")
        if i < 2:
            assert reply == WAITING + accepted("10.0.0.1", 8080)
    assert [bytes(p.received) for p in peers] == [b"res"] * 3


def test_p7_3_closes_a_client_still_open(joined: EmulatorHarness) -> None:
    joined.send(b"P2=8080\rP5=1\rP7=1\r")
    first = joined.network.connect("127.0.0.1", 8080, source=("10.0.0.1", 40000))
    joined.network.connect("127.0.0.1", 8080, source=("10.0.0.1", 40001))
    joined.output()
    assert joined.send(b"P7=3\r") == WAITING + accepted("10.0.0.1", 8080)
    assert first.closed_by_module


def test_p7_needs_a_server_and_a_running_loop(joined: EmulatorHarness) -> None:
    assert joined.send(b"P7=2\r") == ERROR
    assert joined.send(b"P7=3\r") == ERROR
    joined.send(b"P2=8080\rP5=1\r")
    assert joined.send(b"P7=3\r") == ERROR  # P5=1 alone accepts one client, ever
    joined.send(b"P7=1\r")
    assert joined.send(b"P7=0\r") == KILLED
    assert joined.send(b"P7=3\r") == ERROR
    assert joined.send(b"P5=0\r") == b"\r\n[TCP TSK] Killed\r\n\r\nOK\r\n> "
    assert joined.network.listening_ports() == []


def test_p7_0_answers_even_without_a_task(joined: EmulatorHarness) -> None:
    assert joined.send(b"P7=0\r") == KILLED


def st_peer(reply: bytes) -> tuple[str, int]:
    """What ST's ES_WIFI_WaitServerConnection takes from P?: field 2 and field 5."""
    fields = reply[2:].split(b"\r")[0].split(b",")
    return fields[1].decode(), int(fields[4])


def test_p_query_shows_the_client_port_of_the_accept_loop(joined: EmulatorHarness) -> None:
    joined.send(b"P2=8080\rP4=5025\rP5=1\r")
    first = joined.network.connect("127.0.0.1", 8080, source=("10.0.0.1", 40001))
    assert joined.output() == accepted("10.0.0.1", 8080)
    # P5=1's one-shot accept leaves the P4 field alone (only accept loops write it).
    assert st_peer(joined.send(b"P?\r")) == ("10.0.0.1", 5025)
    joined.send(b"P7=1\r")  # the loop takes over the client being served (ST's UART order)
    assert st_peer(joined.send(b"P?\r")) == ("10.0.0.1", 40001)
    assert joined.send(b"P7=2\r") == OK
    assert first.closed_by_module
    assert st_peer(joined.send(b"P?\r")) == ("0.0.0.0", 0)
    joined.network.connect("127.0.0.1", 8080, source=("10.0.0.2", 40002))
    assert joined.send(b"P7=3\r") == WAITING + accepted("10.0.0.2", 8080)
    assert st_peer(joined.send(b"P?\r")) == ("10.0.0.2", 40002)
    assert joined.send(b"P5=0\r").endswith(b"OK\r\n> ")
    assert st_peer(joined.send(b"P?\r")) == ("0.0.0.0", 0)


def test_p_query_with_the_loop_started_before_the_client(joined: EmulatorHarness) -> None:
    joined.send(b"P2=8080\rP5=1\rP7=1\r")  # ST's SPI order: P7=1 right after P5=1
    joined.network.connect("127.0.0.1", 8080, source=("10.0.0.3", 40003))
    assert joined.output() == accepted("10.0.0.3", 8080)
    assert st_peer(joined.send(b"P?\r")) == ("10.0.0.3", 40003)


def test_p7_loop_shows_in_p_query(joined: EmulatorHarness) -> None:
    joined.send(b"P2=8080\rP5=1\r")
    assert joined.send(b"P?\r").split(b",")[8] == b"0"
    joined.send(b"P7=1\r")
    assert joined.send(b"P?\r").split(b",")[8] == b"1"


def test_four_sockets_at_once(joined: EmulatorHarness) -> None:
    net = joined.network
    remote_tcp = net.serve("10.0.0.2", 7000)
    remote_udp = net.udp_peer("10.0.0.3", 5353)
    # socket 0: TCP server, one client served, one queued
    joined.send(b"P0=0\rP1=0\rP2=8080\rP8=4\rP5=11\r")
    served = net.connect("127.0.0.1", 8080, source=("10.0.0.10", 40000))
    queued = net.connect("127.0.0.1", 8080, source=("10.0.0.11", 40001))
    assert joined.output() == accepted("10.0.0.10", 40000)
    # socket 1: TCP client
    assert joined.send(b"P0=1\rP1=0\rP2=0\rP3=10.0.0.2\rP4=7000\rP6=1\r").endswith(
        b"Connecting to 10.0.0.2\r\nOK\r\n> "
    )
    # socket 2: UDP client (Mbed's source-port workaround)
    joined.send(b"P0=2\rP1=1\rP3=10.0.0.3\rP4=50000\rP6=1\rP4=5353\r")
    # socket 3: UDP server
    joined.send(b"P0=3\rP1=1\rP2=9000\rP5=1\r")
    udp_client = net.udp_peer("10.0.0.12", 41000)

    served.send(b"to-0")
    remote_tcp.peers[0].send(b"to-1")
    remote_udp.sendto(b"to-2", "127.0.0.1", 50000)
    udp_client.sendto(b"to-3", "127.0.0.1", 9000)
    assert joined.output() == b"\r\n[UDP SVR] Accepted 10.0.0.12:41000\r\n> "

    for index in (3, 1, 0, 2):  # any order
        assert joined.send(b"P0=%d\rR0\r" % index) == OK + b"\r\nto-%d\r\nOK\r\n> " % index
        assert joined.send(b"S3=6\rfrom-%d" % index) == b"\r\n6\r\nOK\r\n> "
    assert bytes(served.received) == b"from-0"
    assert bytes(remote_tcp.peers[0].received) == b"from-1"
    assert list(remote_udp.received) == [(b"from-2", "127.0.0.1", 50000)]
    assert list(udp_client.received) == [(b"from-3", "127.0.0.1", 9000)]
    assert queued.received == b""

    # The queued client is served next, and nothing else moved.
    assert joined.send(b"P0=0\rP5=10\r") == OK + WAITING + accepted("10.0.0.11", 40001)
    assert not remote_tcp.peers[0].closed_by_module
    assert joined.send(b"P0=1\rP?\r").startswith(OK + b"\r\n0,0.0.0.0,0,10.0.0.2,7000,0,0,")
    assert joined.send(b"P0=3\rP?\r").startswith(OK + b"\r\n1,10.0.0.12,9000,10.0.0.12,41000,0,1")
