"""Files the emulator reads and writes (``--trace``, ``--state``, ``--radio``): a file that
cannot be written or read is reported, never a crash; the state is written atomically."""

from __future__ import annotations

import io
import json
import os
import socket
from pathlib import Path

import pytest
import serial
from test_cli_emulate import OK, OK_END, WAIT, exchange, expect, stopped

from eswifi.cli.main import main
from eswifi.emulator.settings import StoredSettings
from eswifi.emulator.trace import TraceWriter
from eswifi.testing import EmulatorProcess

pytestmark = pytest.mark.timeout(60)

ERROR = b"\r\n\r\nERROR\r\n> "


# ---------------------------------------------------------------- --trace


class FullDisk(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError(28, "No space left on device")


def test_a_trace_that_cannot_be_written_stops_once_and_says_so() -> None:
    reported: list[OSError] = []
    trace = TraceWriter(FullDisk(), on_error=reported.append)
    trace(">", b"I?\r")
    trace("<", b"\r\n> ")
    assert trace.stopped
    assert [e.errno for e in reported] == [28]


@pytest.mark.subprocess
@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_trace_to_a_full_device_keeps_the_module_running() -> None:
    with (
        EmulatorProcess("--trace", "/dev/full") as module,
        serial.serial_for_url(module.url, timeout=WAIT) as console,
    ):
        for _ in range(3):
            assert exchange(console, b"I?\r", OK_END).startswith(b"\r\nISM43362")
        assert module.stop(wait=WAIT) == 0
        errors = module.errors().splitlines()
        assert errors == ["eswifi emulate: tracing stopped: [Errno 28] No space left on device"]


# ---------------------------------------------------------------- --state


@pytest.mark.subprocess
def test_z1_after_the_state_folder_was_removed_answers_error(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    state = folder / "module.json"
    with (
        EmulatorProcess("--state", str(state)) as module,
        serial.serial_for_url(module.url, timeout=WAIT) as console,
    ):
        assert exchange(console, b"ZN=Saved\r") == OK
        assert exchange(console, b"Z1\r") == OK
        state.unlink()
        folder.rmdir()
        assert exchange(console, b"ZN=Lost\r") == OK
        assert exchange(console, b"Z1\r") == ERROR
        assert exchange(console, b"ZR\r", b"Reset") == b"\r\nReset"
        assert exchange(console, b"", b"> ") == b"\r\n> "
        assert exchange(console, b"I?\r", OK_END).endswith(b",Saved" + OK_END)
        folder.mkdir()
        assert exchange(console, b"Z1\r") == OK
        assert stopped(module) == 0
    assert json.loads(state.read_text())["spaces"][0]["product_name"] == "Saved"


@pytest.mark.subprocess
def test_the_state_is_written_through_a_private_file_never_a_planted_link(
    tmp_path: Path,
) -> None:
    state = tmp_path / "module.json"
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    for name in ("module.json.tmp", ".module.json.tmp", "module.json~"):
        (tmp_path / name).symlink_to(victim)
    with (
        EmulatorProcess("--state", str(state)) as module,
        serial.serial_for_url(module.url, timeout=WAIT) as console,
    ):
        for _ in range(3):
            assert exchange(console, b"Z1\r") == OK
        assert stopped(module) == 0
    assert victim.read_text() == "precious\n"
    assert not state.is_symlink()
    assert json.loads(state.read_text())["version"] == 1
    assert state.stat().st_mode & 0o077 == 0  # private: it holds passphrases
    planted = {"module.json.tmp", ".module.json.tmp", "module.json~"}
    assert {p.name for p in tmp_path.iterdir()} == {"module.json", "victim.txt", *planted}


def test_a_settings_save_is_all_or_nothing(tmp_path: Path) -> None:
    from eswifi.cli.radio import StateFile

    state = StateFile(tmp_path / "gone" / "module.json")
    with pytest.raises(OSError):
        state.save({"version": 1})
    assert not (tmp_path / "gone").exists()
    state = StateFile(tmp_path / "module.json")
    state.save({"version": 1})
    state.save({"version": 1, "selected": 0})
    assert [p.name for p in tmp_path.iterdir()] == ["module.json"]


# ---------------------------------------------------------------- bad files: exit 2


def run_emulate(*options: str) -> int:
    return main(["emulate", "--listen", "127.0.0.1:0", *options])


def test_a_deeply_nested_radio_file_is_exit_2(tmp_path: Path, capsys) -> None:
    radio = tmp_path / "deep.toml"
    radio.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    assert run_emulate("--radio", str(radio)) == 2
    err = capsys.readouterr().err
    assert err.startswith("eswifi emulate: ") and "deep.toml: nested too deeply" in err


def test_a_deeply_nested_state_file_is_exit_2(tmp_path: Path, capsys) -> None:
    state = tmp_path / "deep.json"
    state.write_text("[" * 100_000 + "]" * 100_000)
    assert run_emulate("--state", str(state)) == 2
    err = capsys.readouterr().err
    assert err.startswith("eswifi emulate: ") and "deep.json" in err and "nested" in err


def snapshot(**space: object) -> dict[str, object]:
    return {"version": 1, "selected": 0, "spaces": [space, None]}


BAD_VALUES = {
    "security": ({"wifi": {"security": 99}}, "wifi.security"),
    "static ip": ({"wifi": {"static_ip": "not-an-ip"}}, "wifi.static_ip"),
    "country": ({"wifi": {"country": "usa"}}, "wifi.country"),
    "ssid too long": ({"wifi": {"ssid": "s" * 33}}, "wifi.ssid"),
    "ssid with a CR": ({"wifi": {"ssid": "a\rb"}}, "wifi.ssid"),
    "join retries": ({"wifi": {"join_retries": -1}}, "wifi.join_retries"),
    "soft AP clients": ({"access_point": {"max_clients": 9}}, "access_point.max_clients"),
    "soft AP address": ({"access_point": {"ip": "10.0.0"}}, "access_point.ip"),
    "mac": ({"mac": "not a mac"}, "mac"),
    "product name": ({"product_name": "x" * 400}, "product_name"),
    "empty product name": ({"product_name": ""}, "product_name"),
    "non-Latin-1 name": ({"product_name": "bench ☃"}, "product_name"),
}


@pytest.mark.parametrize("space,field", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_state_values_are_checked_and_the_field_named(
    tmp_path: Path, capsys, space: dict[str, object], field: str
) -> None:
    state = tmp_path / "module.json"
    state.write_text(json.dumps(snapshot(**space)))
    assert run_emulate("--state", str(state)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"eswifi emulate: {state}: {field}: "), err
    assert len(err.splitlines()) == 1


def test_valid_state_values_load(tmp_path: Path) -> None:
    from eswifi.emulator.engine import ModuleEngine

    good = snapshot(
        wifi={"ssid": "lab ünï", "security": 5, "static_ip": "10.0.0.9", "country": "FR"},
        access_point={"ip": "", "max_clients": 4},
        mac="02:00:00:AA:BB:CC",
        product_name="x" * 32,
    )
    factory = ModuleEngine().factory_settings
    stored = StoredSettings.from_dict(good, factory=factory)
    assert stored.current() is not None
    assert stored.current().product_name == "x" * 32


# ---------------------------------------------------------------- ZR with pipelined commands


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.mark.subprocess
@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs Linux /proc")
def test_sockets_pipelined_after_zr_never_open_and_fds_stay_flat() -> None:
    from test_cli_emulate import free_port, join

    with (
        socket.create_server(("127.0.0.1", 0)) as remote,
        EmulatorProcess() as module,
        serial.serial_for_url(module.url, timeout=WAIT) as console,
    ):
        server_port = free_port()
        remote_port = remote.getsockname()[1]
        join(console)
        before = open_fds(module.process.pid)
        for _ in range(5):
            setup = b"P0=1\rP1=0\rP3=127.0.0.1\rP4=%d\rP0=0\rP1=0\rP2=%d\r" % (
                remote_port,
                server_port,
            )
            assert exchange(console, setup, OK * 7) == OK * 7
            assert exchange(console, b"ZR\rP5=1\rP0=1\rP6=1\r", b"Reset") == b"\r\nReset"
            assert expect(console, b"> ") == b"\r\n> "  # booted; nothing else was run
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", server_port), timeout=WAIT).close()
            join(console)
        assert open_fds(module.process.pid) == before
        remote.settimeout(0)
        with pytest.raises(BlockingIOError):
            remote.accept()  # no module client ever connected
        assert stopped(module) == 0
