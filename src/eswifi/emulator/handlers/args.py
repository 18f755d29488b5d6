"""Argument parsing shared by the handlers: decimal numbers, IPv4 addresses, text."""

from __future__ import annotations

import ipaddress

from eswifi.wire.commands import CommandLine


def integer(command: CommandLine, index: int, low: int, high: int) -> int | None:
    """The decimal argument at ``index`` if present and within ``low..high`` (leading zeros ok)."""
    if index >= len(command.args):
        return None
    token = command.args[index].strip(b" ")
    if not token.isdigit() or len(token) > 12:
        return None
    number = int(token)
    return number if low <= number <= high else None


def ipv4(command: CommandLine, index: int) -> str | None:
    """The dotted-decimal IPv4 argument at ``index``, normalised, or None."""
    if index >= len(command.args):
        return None
    try:
        return str(ipaddress.IPv4Address(command.args[index].strip(b" ").decode("ascii")))
    except (ValueError, UnicodeDecodeError):
        return None


def text(command: CommandLine, index: int, max_length: int) -> str | None:
    """The text argument at ``index`` (latin-1) if no longer than ``max_length``."""
    if index >= len(command.args) or len(command.args[index]) > max_length:
        return None
    return command.args[index].decode("latin-1")


def mac(command: CommandLine, index: int) -> str | None:
    """A MAC address argument (1–2 hex digits per byte, as ST sends ``%X``), normalised to
    upper-case two-digit form, or None."""
    if index >= len(command.args):
        return None
    parts = command.args[index].strip(b" ").split(b":")
    if len(parts) != 6 or not all(1 <= len(p) <= 2 for p in parts):
        return None
    try:
        return ":".join(f"{int(p, 16):02X}" for p in parts)
    except ValueError:
        return None
