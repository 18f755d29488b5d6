"""Fault injection: control commands on an engine, and through the runtime."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from conftest import JOIN

from eswifi.cli.radio import StateFile, serve_control
from eswifi.emulator.control import run_control_command
from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.profile import SPI_C3525
from eswifi.emulator.runtime import ModuleRuntime
from eswifi.testing import EmulatorHarness

pytestmark = pytest.mark.timeout(30)


def control(module: EmulatorHarness, line: str) -> str:
    answer = run_control_command(module.engine, line, now=module.now)
    module.pump()
    return answer


def test_vanish_and_appear(joined: EmulatorHarness) -> None:
    assert control(joined, "vanish eswifi-lab") == "ok eswifi-lab gone"
    assert joined.take_output() == b"\r\n[INFO   ] Link Down\r\nOK\r\n> "
    assert control(joined, "status").startswith("ok joined=(lost eswifi-lab) ip=127.0.0.1")
    assert control(joined, "appear eswifi-lab") == "ok eswifi-lab in range"
    assert joined.take_output() == b"\r\n[INFO   ] Link Up\r\nOK\r\n> "
    assert "eswifi-lab:up:-48" in control(joined, "status")


def test_rssi_and_station(module: EmulatorHarness) -> None:
    assert control(module, "rssi eswifi-open -90") == "ok eswifi-open -90 dBm"
    assert b"-90," in module.send(b"F0\r")
    assert control(module, "station 02:00:00:00:00:01").startswith("error:")
    module.send(b"AD\r")
    assert control(module, "station 02:00:00:00:00:01 -55") == "ok 02:00:00:00:00:01 joined"
    assert module.take_output().startswith(b"\r\n[AP DHCP] Assigned 02:00:00:00:00:01 has ")


@pytest.mark.parametrize(
    "line",
    [
        "",
        "vanish",
        "vanish nowhere",
        "rssi eswifi-lab",
        "rssi eswifi-lab loud",
        "station x",
        "station 02:00:00:00:00:01 loud",
        "explode eswifi-lab",
    ],
)
def test_bad_commands(module: EmulatorHarness, line: str) -> None:
    assert control(module, line).startswith("error: ")


def test_help(module: EmulatorHarness) -> None:
    assert control(module, "help").startswith("ok commands: vanish")


class _Link:
    name = "none"

    async def attach(self):
        await asyncio.Event().wait()

    def host_present(self) -> bool:
        return False

    async def aclose(self) -> None:
        pass


async def _over_tcp(tmp_path: Path) -> tuple[list[str], object]:
    saved: list[object] = []
    engine = ModuleEngine()
    runtime = ModuleRuntime(engine, _Link(), save_settings=saved.append)  # type: ignore[arg-type]
    task = asyncio.create_task(runtime.run())
    answers = []
    async with serve_control(runtime, ("127.0.0.1", 0)) as server:
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for line in ("status", "vanish eswifi-lab", "bogus"):
            writer.write(line.encode() + b"\n")
            answers.append((await asyncio.wait_for(reader.readline(), 10)).decode().strip())
        runtime.submit(lambda now: engine.receive_host(JOIN + b"Z1\r", now=now))
        for _ in range(1000):
            if saved:
                break
            await asyncio.sleep(0)
        writer.close()
        await writer.wait_closed()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return answers, saved[0] if saved else None


def test_control_over_tcp_and_saving_through_the_runtime(tmp_path: Path) -> None:
    answers, snapshot = asyncio.run(_over_tcp(tmp_path))
    assert answers[0].startswith("ok joined=- ")
    assert answers[1] == "ok eswifi-lab gone"
    assert answers[2].startswith("error: ")
    assert isinstance(snapshot, dict) and snapshot["spaces"][0]["wifi"]["ssid"] == "eswifi-lab"


def test_state_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "module.json"
    state = StateFile(path)
    factory = ModuleEngine().factory_settings
    assert state.load(factory) is None
    module = EmulatorHarness()
    module.send(b"C1=saved\rZ1\r")
    state.save(module.saved_settings)  # type: ignore[arg-type]
    assert json.loads(path.read_text())["version"] == 1
    stored = state.load(factory)
    assert stored is not None and stored.current().wifi.ssid == "saved"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="cannot read the state file"):
        state.load(factory)


# ----------------------------------------------------------------------------- pins


def test_reset_commands(joined: EmulatorHarness) -> None:
    assert control(joined, "reset hold") == "ok reset held"
    assert control(joined, "pins") == "ok reset=0 wakeup=0 ready=0 power=held discarded=0"
    assert joined.send(b"CS\r") == b""
    assert control(joined, "pins").endswith(" discarded=3")
    assert control(joined, "reset release") == "ok reset released"
    assert joined.take_output() == b"\r\n> "
    assert control(joined, "reset release") == "error: reset is not held"
    assert control(joined, "reset") == "ok reset"
    assert joined.take_output() == b"\r\n> "
    assert control(joined, "RESET Hold") == "ok reset held"


def test_wakeup_and_pins(module: EmulatorHarness) -> None:
    assert control(module, "wakeup high") == "ok wakeup 1"
    assert control(module, "pins").startswith("ok reset=1 wakeup=1 ready=0 ")
    assert control(module, "wakeup 0") == "ok wakeup 0"
    assert module.take_edges() == [("wakeup", 1, 0.0), ("wakeup", 0, 0.0)]


@pytest.mark.parametrize(
    "line", ["reset now", "reset hold release", "wakeup", "wakeup 2", "pins all"]
)
def test_bad_pin_commands(module: EmulatorHarness, line: str) -> None:
    assert control(module, line).startswith("error: ")


async def _watch_pins() -> list[str]:
    engine = ModuleEngine(profile=SPI_C3525, started_at=100.0)
    runtime = ModuleRuntime(engine, _Link())  # type: ignore[arg-type]
    task = asyncio.create_task(runtime.run())
    lines: list[str] = []
    async with serve_control(runtime, ("127.0.0.1", 0)) as server:
        port = server.sockets[0].getsockname()[1]
        watcher = await asyncio.open_connection("127.0.0.1", port)
        commander = await asyncio.open_connection("127.0.0.1", port)

        async def ask(connection: tuple[asyncio.StreamReader, asyncio.StreamWriter], line: str):
            connection[1].write(line.encode() + b"\n")
            return (await asyncio.wait_for(connection[0].readline(), 10)).decode().strip()

        lines.append(await ask(watcher, "watch pins"))
        lines.append(await ask(commander, "reset"))
        for _ in range(4):  # reset 0, ready 0, reset 1, ready 1 (greeting)
            lines.append((await asyncio.wait_for(watcher[0].readline(), 10)).decode().strip())
        lines.append(await ask(watcher, "pins"))
        for _, writer in (watcher, commander):
            writer.close()
            await writer.wait_closed()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return lines


def test_watch_pins_sends_a_line_per_edge() -> None:
    lines = asyncio.run(_watch_pins())
    assert lines[0] == "ok watching pins"
    assert lines[1] == "ok reset"
    edges = [line.split() for line in lines[2:6]]
    assert [(pin, level) for pin, level, _ in edges] == [
        ("reset", "0"),
        ("ready", "0"),
        ("reset", "1"),
        ("ready", "1"),
    ]
    assert all(float(t) >= 0 for _, _, t in edges)
    assert lines[6].startswith("ok reset=1 wakeup=0 ready=1 power=running")


@pytest.mark.parametrize(
    "line",
    ["rssi eswifi-lab -999", "rssi eswifi-lab 5", "rssi eswifi-lab -101"],
)
def test_rssi_out_of_range_is_refused(module: EmulatorHarness, line: str) -> None:
    assert control(module, line).startswith("error: rssi must be -100 to 0 dBm")
    assert "eswifi-lab:up:-48" in control(module, "status")


def test_station_rssi_out_of_range_is_refused(module: EmulatorHarness) -> None:
    module.send(b"AD\r")
    assert control(module, "station 02:00:00:00:00:01 -999").startswith("error: rssi must be")
    assert module.take_output() == b""


async def _long_lines() -> list[str]:
    runtime = ModuleRuntime(ModuleEngine(), _Link())  # type: ignore[arg-type]
    task = asyncio.create_task(runtime.run())
    answers = []
    async with serve_control(runtime, ("127.0.0.1", 0)) as server:
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for line in (b"status " + b"x" * 1100, b"help", b"y" * 70_000, b"status"):
            writer.write(line + b"\n")
            answers.append((await asyncio.wait_for(reader.readline(), 10)).decode().strip())
        writer.close()
        await writer.wait_closed()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return answers


def test_a_line_too_long_is_answered_with_an_error_and_the_channel_stays() -> None:
    answers = asyncio.run(_long_lines())
    assert answers[0] == "error: line longer than 1024 bytes"
    assert answers[1].startswith("ok commands:")
    assert answers[2] == "error: line longer than 1024 bytes"
    assert answers[3].startswith("ok joined=-")
