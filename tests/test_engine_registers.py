"""Every transport register: valid values, boundaries, bad values (spec §2.1–§2.5).

A bad value answers the module's error reply and leaves every register of every socket
as it was; a good one changes exactly its own socket.
"""

from __future__ import annotations

import copy

import pytest
from conftest import ERROR, OK

from eswifi.emulator.state import SocketRegisters
from eswifi.testing import EmulatorHarness


def _snapshot(module: EmulatorHarness) -> tuple[object, ...]:
    engine = module.engine
    return (
        [slot.registers for slot in engine.sockets],
        engine.current,
        copy.deepcopy(engine.credentials),
        engine.message_suppression,
    )


VALID = {
    # command: (field, value)
    "P1=0": ("protocol", 0),
    "P1=4": ("protocol", 4),
    "P2=0": ("local_port", 0),
    "P2=65535": ("local_port", 65535),
    "P2=00080": ("local_port", 80),
    "P3=0.0.0.0": ("remote_host", "0.0.0.0"),
    "P3=255.255.255.255": ("remote_host", "255.255.255.255"),
    "P4=0": ("remote_port", 0),
    "P4=65535": ("remote_port", 65535),
    "P8=1": ("backlog", 1),
    "P8=16": ("backlog", 16),
    "PK=1,250": ("keepalive_idle_ms", 250),
    "PK=0,7200000": ("keepalive_idle_ms", 7_200_000),
    "PY=1": ("api_timeout_ms", 1),
    "PY=600000": ("api_timeout_ms", 600_000),
    "P9=0": ("tls_verify", 0),
    "P9=2": ("tls_verify", 2),
    "PB=1": ("tls_report_only", True),
    "PB=0": ("tls_report_only", False),
    "PA=1,server.example": ("custom_ca_name", "server.example"),
    "PA=0": ("custom_ca", False),
    "PF=1,2": ("credential_set", 2),
    "PF=0,0": ("credential_kind", 0),
    "R1=1": ("read_size", 1),
    "R1=1460": ("read_size", 1460),
    "R2=0": ("read_timeout_ms", 0),
    "R2=30000": ("read_timeout_ms", 30000),
    "R3=1": ("read_mode", 1),
    "R3=0": ("read_mode", 0),
    "S1=1": ("send_size", 1),
    "S1=1460": ("send_size", 1460),
    "S2=0": ("send_timeout_ms", 0),
    "S2=30000": ("send_timeout_ms", 30000),
}


@pytest.mark.parametrize("command,expected", VALID.items(), ids=VALID.keys())
def test_a_valid_value_changes_only_the_selected_socket(
    module: EmulatorHarness, command: str, expected: tuple[str, object]
) -> None:
    field, want = expected
    module.send(b"P0=2\r")
    assert module.send(command.encode() + b"\r") == OK
    assert getattr(module.engine.sockets[2].registers, field) == want
    for index in (0, 1, 3):
        assert module.engine.sockets[index].registers == SocketRegisters()


BAD = [
    "P0=-1",
    "P0=4",
    "P0=1,2",
    "P1=5",
    "P1=x",
    "P1",
    "P2=65536",
    "P2=1,2",
    "P3=256.1.1.1",
    "P3=1.2.3.4.5",
    "P3=host",
    "P3",
    "P4=65536",
    "P4=-5",
    "P5=2",
    "P5=12",
    "P5",
    "P6=2",
    "P6",
    "P7=4",
    "P7",
    "P8=0",
    "P8=17",
    "P9=3",
    "P9",
    "PA=2,name",
    "PA=1",
    "PA=1," + "n" * 64,
    "PB=2",
    "PE=3",
    "PF=2,0",
    "PF=0,3",
    "PF=0",
    "PG=3,0,10",
    "PG=0,3,10",
    "PG=0,0,8193",
    "PG=0,0",
    "PK=2,1000",
    "PK=1,249",
    "PK=1,7200001",
    "PR=1",
    "PY=0",
    "PY=600001",
    "PY=abc",
    "R1=0",
    "R1=1461",
    "R2=30001",
    "R3=2",
    "S1=0",
    "S1=1461",
    "S2=30001",
    "S3=1461",
    "S3=-1",
    "S0=5",
    "MS=4",
]


@pytest.mark.parametrize("command", BAD)
def test_a_bad_value_is_an_error_and_changes_nothing(module: EmulatorHarness, command: str) -> None:
    module.send(b"P0=1\rP2=7000\rP0=2\r")
    before = _snapshot(module)
    assert module.send(command.encode() + b"\r") == ERROR
    assert _snapshot(module) == before
    assert module.send(b"P0\r") == b"\r\n2\r\nOK\r\n> "


def test_bad_values_get_the_verbose_form_with_mt0(module: EmulatorHarness) -> None:
    module.send(b"MT=0\r")
    assert module.send(b"P7=9\r") == (
        b"\r\n\r\nERROR: Bad Argument\r\nUsage: P7 <0=Kill/1=Start/2=Close/3=Next>\r\n> "
    )
    assert module.send(b"P3=1.2\r") == (
        b"\r\n\r\nERROR: Bad Address Value\r\nUsage: P3 <xxx.xxx.xxx.xxx>\r\n> "
    )


def test_queries_show_receive_send_and_api_settings(module: EmulatorHarness) -> None:
    assert module.send(b"R?\r") == b"\r\n1460,5000,0\r\nOK\r\n> "
    assert module.send(b"S?\r") == b"\r\n1460,5000\r\nOK\r\n> "
    assert module.send(b"PY\r") == b"\r\n10000\r\nOK\r\n> "
    module.send(b"R1=100\rR2=30\rR3=1\rS1=8\rS2=250\rPY=2500\r")
    assert module.send(b"R?\r") == b"\r\n100,30,1\r\nOK\r\n> "
    assert module.send(b"S?\r") == b"\r\n8,250\r\nOK\r\n> "
    assert module.send(b"PY=?\r") == b"\r\n2500\r\nOK\r\n> "
    assert module.send(b"PY=#\r") == OK
    assert module.send(b"PY\r") == b"\r\n10000\r\nOK\r\n> "
    assert module.send(b"P0=1\rR?\r") == OK + b"\r\n1460,5000,0\r\nOK\r\n> "


def test_p_query_has_twelve_fields(module: EmulatorHarness) -> None:
    reply = module.send(b"P?\r")
    assert reply.startswith(b"\r\n") and reply.endswith(b"\r\nOK\r\n> ")
    assert len(reply[2:-8].split(b",")) == 12


def test_pr0_is_accepted_for_zephyr(module: EmulatorHarness) -> None:
    assert module.send(b"PR=0\r") == OK


def test_unimplemented_transport_commands_answer_unknown_command(module: EmulatorHarness) -> None:
    # MQTT (PM), UART streaming (PX) and the deprecated PC/PD are not emulated: a firmware
    # without them answers like this; the payload of PC/PD is then read as commands.
    for command in (b"PM\r", b"PX=0,1\r", b"PC=0,4\r", b"PD=0,4\r"):
        assert module.send(command) == b"\r\n\r\nERROR: Unknown Command\r\n> "
