"""Handlers that set one field of a frozen settings record (``CB=3``, ``F3=6``, ``AT=4`` …).

``path`` names where the record lives on the engine, e.g. ``"wifi.registers"``; a valid
value replaces the whole record, a bad one leaves it unchanged and answers ERROR.
"""

from __future__ import annotations

from dataclasses import replace

from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.handlers import args
from eswifi.emulator.outcomes import OK, Done, Handler, Outcome, error
from eswifi.wire.commands import CommandLine
from eswifi.wire.framing import ErrorCode


def store(module: ModuleEngine, path: str, **changes: object) -> Done:
    """Replace fields of the record at ``path`` and answer OK."""
    *owners, name = path.split(".")
    owner: object = module
    for attribute in owners:
        owner = getattr(owner, attribute)
    setattr(owner, name, replace(getattr(owner, name), **changes))
    return OK


def number(path: str, field: str, low: int, high: int) -> Handler:
    """``XX=<n>`` with ``low <= n <= high``."""

    def handler(module: ModuleEngine, command: CommandLine) -> Outcome:
        value = args.integer(command, 0, low, high)
        if value is None or len(command.args) > 1:
            return error(ErrorCode.BAD_ARGUMENT)
        return store(module, path, **{field: value})

    handler.__name__ = f"set_{field}"
    return handler


def address(path: str, field: str) -> Handler:
    """``XX=<a.b.c.d>``."""

    def handler(module: ModuleEngine, command: CommandLine) -> Outcome:
        value = args.ipv4(command, 0)
        if value is None or len(command.args) > 1:
            return error(ErrorCode.BAD_ADDRESS_VALUE)
        return store(module, path, **{field: value})

    handler.__name__ = f"set_{field}"
    return handler
