"""The sans-I/O layers stay pure: no sockets, clocks, threads, files or serial ports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parent.parent / "src" / "eswifi"
PURE = [
    *sorted((SRC / "wire").glob("*.py")),
    SRC / "emulator" / "engine.py",
    SRC / "emulator" / "outcomes.py",
    SRC / "emulator" / "state.py",
    SRC / "emulator" / "messages.py",
    SRC / "emulator" / "profile.py",
    SRC / "emulator" / "radio.py",
    SRC / "emulator" / "settings.py",
    SRC / "emulator" / "control.py",
    SRC / "emulator" / "faults.py",
    SRC / "emulator" / "fault_commands.py",
    *sorted((SRC / "emulator" / "handlers").glob("*.py")),
    SRC / "emulator" / "backends" / "fake.py",
    SRC / "testing" / "harness.py",
    SRC / "testing" / "link.py",
    SRC / "client" / "protocol.py",
    SRC / "client" / "timeouts.py",
]
FORBIDDEN = {"socket", "asyncio", "selectors", "serial", "threading", "time", "os", "subprocess"}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(SRC)))
def test_pure_module_does_no_io(path: Path) -> None:
    assert not (_imports(path) & FORBIDDEN)


def test_the_check_sees_imports() -> None:
    assert "eswifi" in _imports(SRC / "emulator" / "engine.py")


def _eswifi_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("eswifi."):
            names.add(".".join(node.module.split(".")[:2]))
        elif isinstance(node, ast.Import):
            names.update(
                ".".join(a.name.split(".")[:2]) for a in node.names if a.name.startswith("eswifi.")
            )
    return names


@pytest.mark.parametrize(
    "package,forbidden",
    [
        ("client", {"eswifi.emulator", "eswifi.testing", "eswifi.aio"}),
        ("aio", {"eswifi.emulator", "eswifi.testing"}),
        ("emulator", {"eswifi.client", "eswifi.aio"}),
    ],
)
def test_client_and_emulator_stay_independent(package: str, forbidden: set[str]) -> None:
    for path in sorted((SRC / package).rglob("*.py")):
        assert not (_eswifi_imports(path) & forbidden), path


def test_every_handler_has_one_family_and_a_table_entry() -> None:
    from eswifi.emulator import handlers
    from eswifi.wire.commands import COMMANDS

    families = [
        handlers.transport, handlers.servers, handlers.clients, handlers.tls, handlers.data,
        handlers.wifi, handlers.system, handlers.lookup, handlers.access_point, handlers.uart,
    ]  # fmt: skip
    codes = [code for family in families for code in family.HANDLERS]
    assert len(codes) == len(set(codes)), "two families claim the same code"
    assert set(codes) <= set(COMMANDS)
    assert set(codes) == set(handlers.ALL_HANDLERS)
