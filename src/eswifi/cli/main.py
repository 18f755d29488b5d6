"""The ``eswifi`` command line: argument parsing and subcommand dispatch only.

Each subcommand lives in its own module with a ``register(subparsers)`` function that adds
its parser and sets ``run=<function(args) -> int>`` as a default. Adding a subcommand means
adding its ``register`` to :data:`SUBCOMMANDS`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from eswifi import __version__
from eswifi.cli import bench, demo, emulate, radio, send, soak, term
from eswifi.cli.exits import EXIT_INTERRUPTED

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

SUBCOMMANDS: tuple[Register, ...] = (
    emulate.register,
    demo.register,
    bench.register,
    term.register,
    send.register,
    radio.register_example,
    soak.register,
)
"""Every subcommand's ``register`` function, in the order ``--help`` lists them."""


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="eswifi",
        description="An emulated Inventek eS-WiFi (ISM43362) module and tools to drive it.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in SUBCOMMANDS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status (130 after Ctrl-C)."""
    try:
        args = build_parser().parse_args(argv)
        status: int = args.run(args)
        return status
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
