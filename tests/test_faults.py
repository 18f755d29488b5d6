"""Injected faults in memory: what the host sees for each, with the manual clock."""

from __future__ import annotations

import pytest
from conftest import ERROR, JOIN, OK

from eswifi.emulator import messages as m
from eswifi.emulator.faults import Faults
from eswifi.errors import ConfigError
from eswifi.testing import EmulatorHarness

SERVER = ("10.0.0.2", 7000)
CONNECTED = b"\r\n[TCP  RC] Connecting to 10.0.0.2\r\nOK\r\n> "
FAILED = b"\r\n[TCP  RC] Connecting to 10.0.0.2\r\n[TCP  RC] Failed to connect\r\nERROR\r\n> "
LOST = b"\r\n-1\r\n\r\nERROR\r\n> "
ACCEPTED = b"\r\n[TCP SVR] Accepted 127.0.0.1:%d\r\n> "


def _client(module: EmulatorHarness) -> bytes:
    module.send(b"P0=1\rP1=0\rP3=10.0.0.2\rP4=7000\r")
    return module.send(b"P6=1\r")


def _serve(module: EmulatorHarness, port: int = 5024) -> None:
    assert module.send(b"P0=0\rP1=0\rP2=%d\rP5=11\r" % port).endswith(OK)


def _accept(module: EmulatorHarness, source_port: int = 40001):  # type: ignore[no-untyped-def]
    peer = module.network.connect("127.0.0.1", 5024, source=("127.0.0.1", source_port))
    assert module.output() == ACCEPTED % source_port
    return peer


# --------------------------------------------------------------------------- peer resets


def test_reset_now_breaks_open_connections_and_keeps_what_arrived(joined: EmulatorHarness) -> None:
    _serve(joined)
    peer = _accept(joined)
    peer.send(b"arrived")
    joined.output()
    assert joined.reset_connections() == 1
    assert peer.closed_by_module  # the peer's side is aborted too
    assert joined.send(b"R0\r") == b"\r\narrived\r\nOK\r\n> "
    assert joined.send(b"R0\r") == LOST
    assert joined.send(b"S3=2\rhi") == LOST


def test_reset_after_cuts_a_transfer_at_the_chosen_byte(joined: EmulatorHarness) -> None:
    joined.reset_after(10)
    _serve(joined)
    peer = _accept(joined)
    peer.send(b"0123456789abcdef")
    assert joined.send(b"R0\r") == b"\r\n0123456789\r\nOK\r\n> "
    assert joined.send(b"R0\r") == LOST
    assert peer.closed_by_module


def test_reset_after_applies_to_client_connections_too(joined: EmulatorHarness) -> None:
    server = joined.network.serve(*SERVER)
    joined.reset_after(3)
    assert _client(joined) == CONNECTED
    server.peers[0].send(b"abcdef")
    assert joined.send(b"R0\r") == b"\r\nabc\r\nOK\r\n> "
    assert joined.send(b"R0\r") == LOST


def test_reset_after_a_range_is_reproducible_from_the_seed() -> None:
    def cut_points(seed: int) -> list[int]:
        module = EmulatorHarness()
        module.send(JOIN)
        server = module.network.serve(*SERVER)
        module.fault_seed(seed)
        module.reset_after(1, 500)
        points = []
        for _ in range(5):
            assert _client(module) == CONNECTED
            server.peers[-1].send(bytes(600))
            received = b""
            for _ in range(10):
                reply = module.send(b"R0\r")
                if reply == LOST:
                    break
                received += reply.removeprefix(b"\r\n").removesuffix(b"\r\nOK\r\n> ")
            points.append(len(received))
            module.send(b"P6=0\r")
        return points

    first = cut_points(7)
    assert first == cut_points(7)
    assert first != cut_points(8)
    assert all(1 <= point <= 500 for point in first)


def test_reset_off_lets_connections_live(joined: EmulatorHarness) -> None:
    joined.reset_after(2)
    joined.control("fault reset off")
    _serve(joined)
    peer = _accept(joined)
    peer.send(b"plenty of bytes")
    assert joined.send(b"R0\r") == b"\r\nplenty of bytes\r\nOK\r\n> "


# --------------------------------------------------------------------------- connects


def test_refused_connect_gives_the_failure_reply(joined: EmulatorHarness) -> None:
    server = joined.network.serve(*SERVER)
    joined.refuse_connects()
    assert _client(joined) == FAILED
    assert server.peers == []  # the connect never reached the network
    joined.clear_faults()
    assert joined.send(b"P6=1\r") == CONNECTED


def test_never_accepting_peer_times_out_after_py(joined: EmulatorHarness) -> None:
    server = joined.network.serve(*SERVER)
    joined.hang_connects()
    joined.send(b"P0=1\rPY=2000\r")
    assert _client(joined) == b""
    assert joined.advance(1.999) == b""
    assert joined.advance(0.001) == FAILED
    assert server.peers == []


def test_slowly_accepting_peer_connects_late(joined: EmulatorHarness) -> None:
    server = joined.network.serve(*SERVER)
    joined.delay_connects(300)
    assert _client(joined) == b""
    assert joined.advance(0.299) == b""
    assert joined.advance(0.001) == CONNECTED
    assert len(server.peers) == 1


def test_peer_slower_than_the_timeout_is_abandoned(joined: EmulatorHarness) -> None:
    server = joined.network.serve(*SERVER)
    joined.delay_connects(3000)
    joined.send(b"P0=1\rPY=1000\r")
    assert _client(joined) == b""
    assert joined.advance(1.0) == FAILED
    assert joined.advance(5.0) == b""
    assert server.peers == []  # the held connect was dropped with the module's close


def test_a_share_of_connects_fails_the_same_way_for_a_seed() -> None:
    def outcomes(seed: int) -> list[bool]:
        module = EmulatorHarness()
        module.send(JOIN)
        module.network.serve(*SERVER)
        module.fault_seed(seed)
        module.refuse_connects(50)
        results = []
        for _ in range(20):
            reply = _client(module)
            results.append(reply == CONNECTED)
            module.send(b"P6=0\r")
        return results

    first = outcomes(3)
    assert first == outcomes(3)
    assert True in first and False in first
    assert first != outcomes(4)


# --------------------------------------------------------------------------- DNS


def test_dns_failure_fails_table_names_too(joined: EmulatorHarness) -> None:
    assert joined.send(b"D0=localhost\r") == b"\r\n127.0.0.1\r\nOK\r\n> "
    joined.fail_dns()
    assert (
        joined.send(b"D0=localhost\r")
        == b"\r\n[DNS  LU] Host not found localhost:-6\r\nERROR\r\n> "
    )
    assert joined.send(b"D0=10.1.2.3\r") == b"\r\n10.1.2.3\r\nOK\r\n> "  # no lookup needed
    joined.control("fault dns off")
    assert joined.send(b"D0=localhost\r") == b"\r\n127.0.0.1\r\nOK\r\n> "


# --------------------------------------------------------------------------- access point


def test_access_point_lost_and_back(joined: EmulatorHarness) -> None:
    _serve(joined)
    _accept(joined)
    joined.vanish("eswifi-lab")
    assert joined.output() == b"\r\n[INFO   ] Link Down\r\nOK\r\n> "
    assert joined.send(b"R0\r") == b"\r\n-1\r\nERROR\r\n> "
    joined.appear("eswifi-lab")
    assert joined.output() == b"\r\n[INFO   ] Link Up\r\nOK\r\n> "


# --------------------------------------------------------------------------- hang


def test_hung_module_answers_nothing_until_zr(joined: EmulatorHarness) -> None:
    assert joined.hang() == "ok module hung until reset"
    assert joined.send(b"I?\r") == b""
    assert joined.send(b"C?\rP?\r") == b""
    assert joined.advance(60.0) == b""
    assert joined.send(b"ZR\r") == b""
    assert joined.advance(0.5) == b"\r\n> "
    assert joined.send(b"I?\r").endswith(b"\r\nOK\r\n> ")


def test_hung_module_sends_no_async_messages_and_zr_split_anywhere_releases_it(
    joined: EmulatorHarness,
) -> None:
    _serve(joined)
    joined.hang()
    joined.network.connect("127.0.0.1", 5024, source=("127.0.0.1", 40009))
    assert joined.output() == b""
    assert joined.send(b"Z") == b""
    assert joined.send(b"R\r") == b""
    assert joined.advance(0.5) == b"\r\n> "
    assert "hung" not in joined.control("fault")


# --------------------------------------------------------------------------- grammar


@pytest.mark.parametrize(
    "line",
    [
        "fault bogus",
        "fault seed -1",
        "fault seed x",
        "fault reset after 9-3",
        "fault reset after",
        "fault connect refuse 101%",
        "fault connect delay",
        "fault dns fail 0%",
        "fault fragment 0",
        "fault fragment 4 x",
    ],
)
def test_bad_fault_commands_get_a_usage_error(module: EmulatorHarness, line: str) -> None:
    answer = module.control(line)
    assert answer.startswith("error: usage: fault")
    assert module.engine.faults.describe() == Faults().describe()


def test_fault_listing_names_every_setting(module: EmulatorHarness) -> None:
    module.fault_seed(42)
    module.delay_connects(10, 20, percent=30)
    module.fail_dns(50)
    module.reset_after(5)
    module.fragment_output(3, 2)
    assert module.control("faults") == (
        "ok seed=42 connect=delay 10-20ms 30% dns=fail 50% reset=after 5 fragment=3 2ms"
    )
    assert module.control("FAULT CLEAR") == (
        "ok seed=42 connect=off dns=off reset=off fragment=off"
    )


def test_python_api_raises_on_a_refused_command(module: EmulatorHarness) -> None:
    with pytest.raises(ConfigError, match="no access point"):
        module.vanish("nowhere")


def test_fragments_cover_the_data_and_repeat_for_a_seed() -> None:
    data = bytes(range(256)) * 4

    def cut(seed: int) -> list[tuple[bytes, float]]:
        faults = Faults(seed=seed, fragment_max=7, fragment_delay_ms=5)
        return list(faults.fragments(data))

    pieces = cut(1)
    assert b"".join(chunk for chunk, _ in pieces) == data
    assert all(1 <= len(chunk) <= 7 and 0 <= pause <= 0.005 for chunk, pause in pieces)
    assert pieces == cut(1) and pieces != cut(2)
    assert list(Faults().fragments(data)) == [(data, 0.0)]


def test_faults_layer_forwards_everything_when_nothing_is_on() -> None:
    faults = Faults()
    connect = m.Connect(
        conn=1,
        transport=m.Transport.TCP,
        host="h",
        port=1,
        local_host="",
        local_port=0,
        keepalive=None,
    )
    assert faults.route(connect, now=0.0).effects == (connect,)
    received = m.Received(conn=1, data=b"x")
    assert faults.observe(m.Connected(conn=1, local_port=5)).events == (
        m.Connected(conn=1, local_port=5),
    )
    assert faults.observe(received).events == (received,)
    assert faults.live_connections == 1
    faults.route(m.CloseConnection(conn=1), now=0.0)
    assert faults.live_connections == 0


def test_error_reply_constant_is_the_blank_error() -> None:
    assert ERROR.endswith(b"ERROR\r\n> ")


def test_hung_module_comes_back_with_the_reset_pin(joined: EmulatorHarness) -> None:
    joined.hang()
    assert joined.send(b"I?\r") == b""
    assert joined.control("reset") == "ok reset"
    assert joined.advance(5.0).endswith(b"\r\n> ")
    assert joined.send(b"I?\r").endswith(b"\r\nOK\r\n> ")
    assert not joined.engine.hung


def test_a_connect_completing_after_the_reset_pin_is_closed(joined: EmulatorHarness) -> None:
    server = joined.network.serve(*SERVER)
    joined.delay_connects(300)
    assert _client(joined) == b""
    assert joined.control("reset") == "ok reset"
    joined.advance(1.0)  # the slow peer accepts after the module rebooted
    (peer,) = server.peers
    assert peer.closed_by_module  # not left open with nobody to close it
    assert joined.engine.faults.live_connections == 0
