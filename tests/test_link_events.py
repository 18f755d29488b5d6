"""Link events in memory: an access point vanishes and comes back."""

from __future__ import annotations

from conftest import JOIN, OK

from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.profile import SPI_C3525
from eswifi.emulator.radio import DEFAULT_RADIO, LinkAction, Radio, RadioEvent
from eswifi.testing import EmulatorHarness

DOWN_C6 = b"\r\n[INFO   ] Link Down\r\nOK\r\n> "
UP_C6 = b"\r\n[INFO   ] Link Up\r\nOK\r\n> "


def _serve(module: EmulatorHarness):
    module.send(b"P1=0\rP2=5024\rP5=11\r")
    peer = module.network.connect("127.0.0.1", 5024, source=("127.0.0.1", 40400))
    module.output()
    return peer


def test_vanish_turns_r0_into_minus_one_once_received_bytes_are_read(
    joined: EmulatorHarness,
) -> None:
    peer = _serve(joined)
    peer.send(b"late")
    joined.pump()  # the module has the bytes
    assert joined.engine.set_ap_present("eswifi-lab", False, now=joined.now)
    assert joined.output() == DOWN_C6
    assert peer.closed_by_module
    assert joined.network.listening_ports() == []
    assert joined.send(b"R1=2\rR0\r") == OK + b"\r\nla\r\nOK\r\n> "
    assert joined.send(b"R4\r") == b"\r\n0002te\r\nOK\r\n> "
    assert joined.send(b"R0\r") == b"\r\n-1\r\nERROR\r\n> "
    assert joined.send(b"S3=2\rxx") == b"\r\n-1\r\nERROR\r\n> "
    assert joined.send(b"CS\r") == b"\r\n0\r\nOK\r\n> "
    assert joined.send(b"F0\r").count(b"#") == 1


def test_access_point_returns(joined: EmulatorHarness) -> None:
    joined.engine.set_ap_present("eswifi-lab", False, now=0)
    joined.output()
    assert joined.engine.set_ap_present("eswifi-lab", True, now=0)
    assert joined.output() == UP_C6
    assert joined.send(b"CS\r") == b"\r\n1\r\nOK\r\n> "


def test_no_link_up_after_cd(joined: EmulatorHarness) -> None:
    joined.engine.set_ap_present("eswifi-lab", False, now=0)
    joined.send(b"CD\r")
    joined.engine.set_ap_present("eswifi-lab", True, now=0)
    assert joined.output() == b""
    assert joined.send(b"CS\r") == b"\r\n0\r\nOK\r\n> "


def test_other_access_points_do_not_matter(joined: EmulatorHarness) -> None:
    assert joined.engine.set_ap_present("eswifi-open", False, now=0)
    assert not joined.engine.set_ap_present("unknown", False, now=0)
    assert joined.output() == b""


def test_link_event_waits_for_the_running_command(joined: EmulatorHarness) -> None:
    peer = _serve(joined)
    joined.send(b"R2=1000\rR0\r")
    joined.engine.set_ap_present("eswifi-lab", False, now=joined.now)
    assert joined.output() == b"\r\n-1\r\n\r\nERROR\r\n> " + DOWN_C6
    assert peer.closed_by_module


def test_spi_queues_link_events_for_mr() -> None:
    module = EmulatorHarness(ModuleEngine(profile=SPI_C3525))
    module.send(JOIN)
    module.engine.set_ap_present("eswifi-lab", False, now=0)
    assert module.output() == b""
    assert module.send(b"MR\r").rstrip(b"\x15") == (
        b"\r\n[SOMA][INFO   ] Link Down[EOMA]\r\nOK\r\n> "
    )


def test_scheduled_events() -> None:
    radio = Radio(
        access_points=DEFAULT_RADIO.access_points,
        events=(
            RadioEvent(at=10, ssid="eswifi-lab", action=LinkAction.VANISH),
            RadioEvent(at=12.5, ssid="eswifi-lab", action=LinkAction.APPEAR),
        ),
    )
    module = EmulatorHarness(ModuleEngine(radio=radio, started_at=100.0))
    module.clock.now = 100.0
    module.send(JOIN)
    assert module.advance(9.999) == b""
    assert module.advance(0.001) == DOWN_C6
    assert module.advance(2.5) == UP_C6
    assert module.engine.next_deadline() is None


def test_rssi_changes(joined: EmulatorHarness) -> None:
    assert joined.engine.set_ap_rssi("eswifi-lab", -81, now=0)
    assert joined.send(b"CR\r") == b"\r\n-81\r\nOK\r\n> "
    assert not joined.engine.set_ap_rssi("nope", -1, now=0)
    assert joined.send(b"CC=1\r") == OK


def test_datagrams_received_before_link_down_are_still_read(joined: EmulatorHarness) -> None:
    assert joined.send(b"P1=1\rP2=7100\rP5=1\r").endswith(b"OK\r\n> ")
    sender = joined.network.udp_peer("127.0.0.1", 7200)
    sender.sendto(b"dgram", "127.0.0.1", 7100)
    joined.pump()
    joined.output()
    assert joined.engine.set_ap_present("eswifi-lab", False, now=joined.now)
    assert joined.output() == DOWN_C6
    assert joined.send(b"R0\r") == b"\r\ndgram\r\nOK\r\n> "
    assert joined.send(b"R0\r") == b"\r\n-1\r\nERROR\r\n> "
