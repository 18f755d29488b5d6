"""System and message commands: I?, Z5, MT, MS, MR (spec §1.3, §2.8, §3.1)."""

from __future__ import annotations

from eswifi.emulator.engine import OK, Done, ModuleEngine, Outcome, error, value
from eswifi.emulator.handlers import args
from eswifi.emulator.profile import LinkProfile
from eswifi.wire.commands import CommandLine
from eswifi.wire.framing import EOMA, SOMA, ErrorCode


def show_info(module: ModuleEngine, command: CommandLine) -> Outcome:
    return value(module.profile.info)


def show_mac(module: ModuleEngine, command: CommandLine) -> Outcome:
    return value(module.mac)


def set_message_type(module: ModuleEngine, command: CommandLine) -> Outcome:
    if not command.args:
        return error()
    mode = args.integer(command, 0, 0, 1)
    if mode is None:
        return error(ErrorCode.BAD_ARGUMENT)
    module.message_type = mode
    return OK


def set_message_suppression(module: ModuleEngine, command: CommandLine) -> Outcome:
    mask = args.integer(command, 0, 0, 3)
    if mask is None:
        return error(ErrorCode.BAD_ARGUMENT)
    module.message_suppression = mask
    return OK


def read_message(module: ModuleEngine, command: CommandLine) -> Outcome:
    if module.profile.link is not LinkProfile.SPI:
        return error()  # the UART build has no message queue
    return Done(text=b"\r\n" + SOMA + (module.mr_queue.pop() or b"") + EOMA)


HANDLERS = {
    "I?": show_info,
    "Z5": show_mac,
    "MT": set_message_type,
    "MS": set_message_suppression,
    "MR": read_message,
}
