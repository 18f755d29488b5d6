"""``eswifi emulate``: run one emulated module on a TCP console, a pty or stdio.

The first line on stdout names the link (``link: socket://127.0.0.1:40123`` or
``link: /dev/pts/5``) so scripts can read it; with ``--stdio`` stdout is the link and
nothing else is printed there. With ``--control`` the next line names the control socket
(``control: 127.0.0.1:40124``). SIGINT and SIGTERM close every socket; the exit status
is then 130 (SIGINT, Ctrl-C) or 0 (SIGTERM). A bad radio file, firmware name or state file
exits with 2 before the link opens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from eswifi.cli import radio
from eswifi.cli.exits import EXIT_INTERRUPTED
from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.links import HostLink, PtyLink, StdioLink, TcpConsoleLink
from eswifi.emulator.pacing import LineRate, spi_rate, uart_rate
from eswifi.emulator.profile import LinkProfile
from eswifi.emulator.runtime import ModuleRuntime
from eswifi.emulator.state import UART_BAUD_RANGE, UART_POWER_UP_BAUD
from eswifi.emulator.timing import TIMINGS
from eswifi.emulator.trace import TraceWriter
from eswifi.errors import ConfigError

DEFAULT_CONSOLE = ("127.0.0.1", 0)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``emulate`` subcommand."""
    parser = subparsers.add_parser(
        "emulate",
        help="run an emulated module",
        description="Run an emulated eS-WiFi module whose sockets are real host sockets.",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--listen",
        metavar="HOST:PORT",
        type=console_address,
        help="serve the host link as a TCP console, one host at a time "
        "(default 127.0.0.1:0, a free port; open it with pyserial socket://HOST:PORT)",
    )
    where.add_argument("--pty", action="store_true", help="serve the host link on a pty")
    where.add_argument("--stdio", action="store_true", help="use stdin/stdout as the host link")
    parser.add_argument(
        "--link",
        choices=[profile.value for profile in LinkProfile],
        default=LinkProfile.UART.value,
        help="module build the host expects (default: uart)",
    )
    parser.add_argument(
        "--host-address",
        type=ipv4_address,
        default="127.0.0.1",
        help="host address module sockets bind to; also the IP the module reports "
        "(default: 127.0.0.1)",
    )
    parser.add_argument(
        "--trace", metavar="FILE", type=Path, help="write every host-link byte, both ways, to FILE"
    )
    parser.add_argument(
        "--timing",
        choices=sorted(TIMINGS),
        default="fast",
        help="fast: answer at once (default); real: pace the host link at its line rate and "
        "take the real module's operation times (boot, ZR, P5=0, join, scan …; a radio "
        "file's [timing] table overrides them); see docs/pins-and-timing.md",
    )
    parser.add_argument(
        "--baud",
        type=baud_rate,
        default=UART_POWER_UP_BAUD,
        help="UART line rate at power-up, paced with --timing real (default 115200; U2/U0 "
        "change it)",
    )
    parser.add_argument(
        "--spi-clock",
        metavar="HZ",
        type=spi_clock,
        help="SPI clock, paced with --timing real (default: the timing table's, 10 MHz)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log hosts attaching and detaching, servers and connections opening and "
        "closing, and OS errors (such as a port already in use) to stderr",
    )
    radio.add_arguments(parser)
    parser.set_defaults(run=run)


def console_address(text: str) -> tuple[str, int]:
    """Parse ``HOST:PORT`` (``[v6]:PORT`` also works) for ``--listen``."""
    host, sep, port_text = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port_text)


def baud_rate(text: str) -> int:
    """Parse ``--baud``: a rate the module's ``U2`` accepts."""
    low, high = UART_BAUD_RANGE
    if not text.isdigit() or not low <= int(text) <= high:
        raise argparse.ArgumentTypeError(f"expected a baud rate {low}..{high}, got {text!r}")
    return int(text)


def spi_clock(text: str) -> int:
    """Parse ``--spi-clock`` in Hz."""
    if not text.isdigit() or not 1_000 <= int(text) <= 50_000_000:
        raise argparse.ArgumentTypeError(f"expected an SPI clock 1000..50000000 Hz, got {text!r}")
    return int(text)


def line_rate(args: argparse.Namespace, engine: ModuleEngine) -> LineRate | None:
    """How fast the host link carries bytes (None: unpaced, ``--timing fast``)."""
    if args.timing != "real":
        return None
    if engine.profile.link is LinkProfile.SPI:
        clock = args.spi_clock or engine.timing.spi_clock_hz
        return spi_rate(clock, engine.timing.spi_turnaround_us)
    return uart_rate(args.baud)


def ipv4_address(text: str) -> str:
    """Parse a dotted IPv4 address for ``--host-address``."""
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an IPv4 address, got {text!r}") from None


def configure_logging(verbose: bool) -> None:
    """Send the ``eswifi`` loggers' records to stderr: errors only, or from INFO up with -v."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("eswifi emulate: %(message)s"))
    log = logging.getLogger("eswifi")
    log.addHandler(handler)
    log.setLevel(logging.INFO if verbose else logging.ERROR)


def run(args: argparse.Namespace) -> int:
    """Run the emulator until SIGINT/SIGTERM (or, with --stdio, the end of stdin)."""
    configure_logging(args.verbose)
    try:
        return asyncio.run(_emulate(args))
    except KeyboardInterrupt:  # before the signal handlers were installed
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # whoever reads our stdout is gone (its link line went nowhere)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


async def _emulate(args: argparse.Namespace) -> int:
    # Signal handlers first: a script may signal as soon as it has read the link line.
    stop = _Stop()
    with _stop_on_signals(stop):
        return await _serve(args, stop)


class _Stop:
    """A stop request (SIGINT or SIGTERM) and what must happen at once when it comes."""

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self.signum: int | None = None
        self.actions: list[Callable[[], None]] = []

    def __call__(self, signum: int) -> None:
        self.signum = signum
        self.requested.set()
        for action in self.actions:
            action()


async def _serve(args: argparse.Namespace, stop: _Stop) -> int:
    try:
        engine, state = radio.build_engine(
            args, link=LinkProfile(args.link), host_address=args.host_address, now=time.monotonic()
        )
        control = radio.control_address(args.control) if args.control else None
    except ConfigError as exc:
        print(f"eswifi emulate: {exc}", file=sys.stderr)
        return 2
    try:
        link = await _open_link(args)
    except OSError as exc:
        print(f"eswifi emulate: cannot open the host link: {exc}", file=sys.stderr)
        return 1
    try:
        with contextlib.ExitStack() as stack:
            trace = None
            if args.trace is not None:
                try:
                    stream: TextIO = open(args.trace, "w", encoding="ascii", buffering=1)  # noqa: SIM115
                except OSError as exc:
                    print(f"eswifi emulate: cannot write the trace: {exc}", file=sys.stderr)
                    return 1
                stack.callback(_close_quietly, stream)
                trace = TraceWriter(stream, on_error=_trace_failed)
            if not args.stdio:
                print(f"link: {link.name}", flush=True)
            save = state.save if state is not None else None
            runtime = ModuleRuntime(
                engine,
                link,
                trace=trace,
                save_settings=save,
                line_rate=line_rate(args, engine),
            )
            stop.actions.append(runtime.stop_input)  # at once: a writing host must not delay it
            async with contextlib.AsyncExitStack() as services:
                if control is not None:
                    try:
                        server = await services.enter_async_context(
                            radio.serve_control(runtime, control)
                        )
                    except OSError as exc:
                        print(f"eswifi emulate: cannot open --control: {exc}", file=sys.stderr)
                        return 1
                    host, port = server.sockets[0].getsockname()[:2]
                    if not args.stdio:
                        print(f"control: {host}:{port}", flush=True)
                await _run_until(runtime, stop.requested)
    finally:
        await link.aclose()
    return EXIT_INTERRUPTED if stop.signum == signal.SIGINT else 0


def _trace_failed(exc: OSError) -> None:
    print(f"eswifi emulate: tracing stopped: {exc}", file=sys.stderr, flush=True)


def _close_quietly(stream: TextIO) -> None:
    with contextlib.suppress(OSError):  # what a failed trace still buffers is lost
        stream.close()


async def _open_link(args: argparse.Namespace) -> HostLink:
    if args.pty:
        return PtyLink()
    if args.stdio:
        return StdioLink()
    host, port = args.listen or DEFAULT_CONSOLE
    return await TcpConsoleLink.open(host, port)


async def _run_until(runtime: ModuleRuntime, stopping: asyncio.Event) -> None:
    """Run the module until it ends by itself (stdin closed) or ``stopping`` is set."""
    runner = asyncio.create_task(runtime.run())
    stopper = asyncio.create_task(stopping.wait())
    try:
        await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not runner.done():
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
    if not runner.cancelled():
        runner.result()  # an error of the runtime


@contextlib.contextmanager
def _stop_on_signals(stop: Callable[[int], None]) -> Iterator[None]:
    """SIGINT and SIGTERM call ``stop(signum)`` (where the loop can handle signals)."""
    loop = asyncio.get_running_loop()
    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # no loop signal handlers on Windows
            loop.add_signal_handler(signum, stop, signum)
            installed.append(signum)
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
