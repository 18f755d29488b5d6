"""The radio side of ``eswifi emulate``: ``--radio``, ``--firmware``, ``--state`` and the
``--control`` side channel.

Kept apart from the link and runtime options so that ``emulate`` only calls
:func:`add_arguments`, :func:`build_engine` and :func:`serve_control`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

from eswifi.emulator.config import (
    EXAMPLE,
    EmulatorConfig,
    example_text,
    load_config,
    parse_config,
)
from eswifi.emulator.control import edge_line, run_control_command
from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.faults import Faults
from eswifi.emulator.messages import PinChanged
from eswifi.emulator.profile import PROFILES, LinkProfile
from eswifi.emulator.runtime import ModuleRuntime
from eswifi.emulator.settings import SavedSettings, StoredSettings
from eswifi.emulator.state import UART_POWER_UP_BAUD
from eswifi.errors import ConfigError

MAX_CONTROL_LINE = 1024


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the radio options to the ``emulate`` parser."""
    parser.add_argument(
        "--radio",
        metavar="FILE",
        type=Path,
        help="virtual radio (access points, module MAC/name, DNS names, link events, firmware "
        "overrides) from a TOML file; 'example' runs the example that 'eswifi radio-example' "
        "prints (default: one WPA2 network eswifi-lab and one open network eswifi-open)",
    )
    parser.add_argument(
        "--firmware",
        metavar="NAME",
        choices=sorted(PROFILES),
        help="firmware profile: " + ", ".join(sorted(PROFILES)) + " (default: "
        "C6.2.1.11 for --link uart, C3.5.2.5.STM for --link spi)",
    )
    parser.add_argument(
        "--state",
        metavar="FILE",
        type=Path,
        help="keep what Z1 saves in FILE (JSON) across runs (default: in memory only)",
    )
    parser.add_argument(
        "--control",
        metavar="HOST:PORT",
        help="serve control commands (vanish/appear <ssid>, rssi, station, status, fault …, "
        "reset [hold|release], wakeup, pins, watch pins; see docs/faults.md and "
        "docs/pins-and-timing.md) one per line on a TCP socket; port 0 picks a free one, "
        "printed as 'control: …'",
    )
    parser.add_argument(
        "--seed",
        metavar="N",
        type=int,
        default=0,
        help="seed of the random choices injected faults make, so a run can be repeated "
        "(default: 0)",
    )


class StateFile:
    """The JSON file behind ``--state``: read at start, rewritten whole on every save."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self, factory: SavedSettings) -> StoredSettings | None:
        """The stored settings, or None when the file does not exist yet.

        Raises:
            ConfigError: the file exists but is not a settings snapshot.
        """
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{self.path}: cannot read the state file: {exc}") from None
        except RecursionError:
            raise ConfigError(
                f"{self.path}: cannot read the state file: nested too deeply"
            ) from None
        try:
            return StoredSettings.from_dict(data, factory=factory)
        except ConfigError as exc:
            raise ConfigError(f"{self.path}: {exc}") from None

    def save(self, snapshot: Mapping[str, Any] | None) -> None:
        """Write atomically (a crash leaves the old file or the new one, never half).

        The new text goes to a private temporary file created in the same folder (a fresh
        name, never an existing file or a symbolic link planted there), then replaces the
        file in one step.

        Raises:
            OSError: the folder is gone, full or not writable.
        """
        if snapshot is None:
            self.path.unlink(missing_ok=True)
            return
        text = json.dumps(snapshot, indent=2) + "\n"
        folder = self.path.parent
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as stream:
                stream.write(text)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise


def build_engine(
    args: argparse.Namespace, *, link: LinkProfile, host_address: str, now: float
) -> tuple[ModuleEngine, StateFile | None]:
    """The module engine the options describe, and its state file if any.

    Raises:
        ConfigError: a bad radio file, firmware name or state file.
    """
    if args.radio is None:
        config = EmulatorConfig()
    elif str(args.radio) == EXAMPLE:
        config = parse_config(example_text(), source="radio-example.toml")
    else:
        config = load_config(args.radio)
    profile = config.profile(link=link, name=args.firmware)

    def engine(stored: StoredSettings | None = None) -> ModuleEngine:
        return ModuleEngine(
            profile=profile,
            radio=config.radio,
            host_address=host_address,
            stored_settings=stored,
            started_at=now,
            faults=Faults(seed=getattr(args, "seed", 0)),
            timing=config.timing(getattr(args, "timing", "fast")),
            uart_baud=getattr(args, "baud", UART_POWER_UP_BAUD),
        )

    if args.state is None:
        return engine(), None
    state = StateFile(args.state)
    return engine(state.load(engine().factory_settings)), state


def control_address(text: str) -> tuple[str, int]:
    """Parse ``HOST:PORT`` for ``--control``."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"--control: expected HOST:PORT, got {text!r}")
    return host.removeprefix("[").removesuffix("]"), int(port)


@contextlib.asynccontextmanager
async def serve_control(
    runtime: ModuleRuntime, address: tuple[str, int]
) -> AsyncIterator[asyncio.Server]:
    """Serve control commands for ``runtime`` on ``address`` while the context is open."""

    handlers: set[asyncio.Task[None]] = set()

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        unwatch = None
        try:
            while True:
                line = await _read_line(reader)
                if line is None:
                    break
                text = line.decode("utf-8", "replace")
                if len(line) > MAX_CONTROL_LINE:
                    answer = f"error: line longer than {MAX_CONTROL_LINE} bytes"
                elif text.split() == ["watch", "pins"]:
                    if unwatch is None:
                        unwatch = runtime.watch_pins(_edge_writer(runtime, writer))
                    answer = "ok watching pins"
                else:
                    answer = await _run(runtime, text)
                writer.write(answer.encode("utf-8") + b"\n")
                await writer.drain()
        except ConnectionError:
            pass
        except asyncio.CancelledError:
            # The emulator stops: drop what the client did not read. Ending normally keeps
            # asyncio from reporting the cancelled handler.
            writer.transport.abort()
        finally:
            if unwatch is not None:
                unwatch()
            handlers.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(client, *address, limit=MAX_CONTROL_LINE)
    try:
        yield server
    finally:
        server.close()
        for handler in list(handlers):
            handler.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()


async def _read_line(reader: asyncio.StreamReader) -> bytes | None:
    """The next line without its end (None at the end of input); a line over the reader's
    limit is read to its end and returned as :data:`MAX_CONTROL_LINE` + 1 bytes."""
    dropped = 0
    while True:
        try:
            line = await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            line = exc.partial
            if not line and not dropped:
                return None
        except asyncio.LimitOverrunError as exc:
            dropped += len(await reader.readexactly(exc.consumed))
            continue
        if dropped:
            return b"x" * (MAX_CONTROL_LINE + 1)
        return line.rstrip(b"\r\n")


def _edge_writer(
    runtime: ModuleRuntime, writer: asyncio.StreamWriter
) -> Callable[[PinChanged], None]:
    def write(edge: PinChanged) -> None:
        if not writer.is_closing():
            writer.write(edge_line(runtime.engine, edge).encode("ascii") + b"\n")

    return write


async def _run(runtime: ModuleRuntime, line: str) -> str:
    done: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def action(now: float) -> None:
        if not done.done():
            done.set_result(run_control_command(runtime.engine, line, now=now))

    await runtime.host_caught_up()
    runtime.submit(action)
    return await done


def register_example(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``radio-example``: print the example radio file."""
    parser = subparsers.add_parser(
        "radio-example",
        help="print an example radio file (every field, with comments) for emulate --radio",
        description="Print the example radio file shipped with eswifi: access points, the "
        "module's identity, DNS names, link events and firmware overrides, every field "
        "commented. Save it, edit it and run 'eswifi emulate --radio FILE'; "
        "'eswifi emulate --radio example' runs it as it is.",
    )
    parser.set_defaults(run=lambda args: _print_example())


def _print_example() -> int:
    print(example_text(), end="")
    return 0
