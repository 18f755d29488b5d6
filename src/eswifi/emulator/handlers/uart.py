"""UART settings: U? (show), U2 (set the baud rate), U0 (apply it) (docs/protocol.md §1.6).

The rate is volatile: ``U2`` stores it, ``U0`` switches the line to it after its own
reply (the engine emits :class:`~eswifi.emulator.messages.LinkRateChanged` right after
that reply), and a reset brings the power-up 115200 back. Data width, parity, stop bits
and mode are fixed at 8N1, command mode.

SPI builds keep these codes but answer a plain error, as the UART build does for ``MR``
(its handler returns -1): the SPI build's host link is not a UART.
"""

from __future__ import annotations

from dataclasses import replace

from eswifi.emulator import messages as m
from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.handlers import args
from eswifi.emulator.outcomes import OK, Done, Outcome, error, value
from eswifi.emulator.profile import LinkProfile
from eswifi.emulator.state import UART_BAUD_RANGE
from eswifi.wire.commands import CommandLine
from eswifi.wire.framing import ErrorCode

UART_PORT = 0
DATA_WIDTH = 8
PARITY_NONE = "0"
STOP_BITS = 1
MODE_COMMAND = "0"


def _on_uart(module: ModuleEngine) -> bool:
    return module.profile.link is LinkProfile.UART


def show_uart(module: ModuleEngine, command: CommandLine) -> Outcome:
    if not _on_uart(module):
        return error()
    # Port, baud, data width, parity, stop bits, mode: the firmware prints them with
    # "%d," "%ld," "%d,%s,%d,%s"; the two %s fields are printed as digits (see decisions).
    fields = (UART_PORT, module.uart.baud, DATA_WIDTH, PARITY_NONE, STOP_BITS, MODE_COMMAND)
    return value(",".join(str(f) for f in fields))


def set_baud(module: ModuleEngine, command: CommandLine) -> Outcome:
    if not _on_uart(module):
        return error()
    baud = args.integer(command, 0, *UART_BAUD_RANGE)
    if baud is None or len(command.args) > 1:
        return error(ErrorCode.BAD_ARGUMENT)
    module.uart = replace(module.uart, baud=baud)
    return OK


def apply_settings(module: ModuleEngine, command: CommandLine) -> Outcome:
    if not _on_uart(module):
        return error()
    if command.args:
        return error(ErrorCode.TOO_MANY_ARGUMENTS)
    uart = module.uart
    if uart.baud == uart.line_baud:
        return OK
    module.uart = replace(uart, line_baud=uart.baud)
    return Done(after_reply=(m.LinkRateChanged(baud=uart.baud),))


HANDLERS = {
    "U?": show_uart,
    "U2": set_baud,
    "U0": apply_settings,
}
