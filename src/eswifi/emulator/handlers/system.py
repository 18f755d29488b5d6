"""System and message commands: I?, Z?, Z0–Z5, ZN, ZR, $$$, ---, MT, MS, MR
(docs/protocol.md §1.3, §2.8, §3.1)."""

from __future__ import annotations

from dataclasses import replace

from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.handlers import args
from eswifi.emulator.handlers.wifi import next_async_scan_entry
from eswifi.emulator.outcomes import OK, Done, Outcome, error, value
from eswifi.emulator.profile import LinkProfile
from eswifi.emulator.settings import SPACES
from eswifi.wire.commands import CommandLine
from eswifi.wire.framing import EOMA, SOMA, ErrorCode

WPS_PIN = 12345670


def show_info(module: ModuleEngine, command: CommandLine) -> Outcome:
    return value(module.profile.info_line(module.product_name))


def show_mac(module: ModuleEngine, command: CommandLine) -> Outcome:
    return value(module.mac)


def set_mac(module: ModuleEngine, command: CommandLine) -> Outcome:
    mac = args.mac(command, 0)
    if mac is None or len(command.args) > 1:
        return error(ErrorCode.BAD_ARGUMENT)
    module.mac = mac
    return OK


def set_product_name(module: ModuleEngine, command: CommandLine) -> Outcome:
    name = args.text(command, 0, 32)
    if not name or len(command.args) > 1:
        return error(ErrorCode.BAD_ARGUMENT)
    module.product_name = name
    return OK


def show_system(module: ModuleEngine, command: CommandLine) -> Outcome:
    # Config, WPS pin, VID, PID, MAC, AP IP, PS mode, radio, current/previous beacon, name
    fields = (0, WPS_PIN, 0, 0, module.mac, module.soft_ap_ip(), 0, 0, 0, 0, module.product_name)
    return value(",".join(str(f) for f in fields).encode("latin-1"))


def factory_reset(module: ModuleEngine, command: CommandLine) -> Outcome:
    module.apply_settings(module.factory_settings)
    return OK


def save_settings(module: ModuleEngine, command: CommandLine) -> Outcome:
    return module.store_settings(module.stored_settings.with_current(module.live_settings()), OK)


def clear_settings(module: ModuleEngine, command: CommandLine) -> Outcome:
    return module.store_settings(
        module.stored_settings.with_current(None),
        Done(text=b"\r\n[EEPROM ] Erasing\r\n[EEPROM ] Complete"),
    )


def select_settings_space(module: ModuleEngine, command: CommandLine) -> Outcome:
    if not command.args:
        return value(str(module.stored_settings.selected))
    space = args.integer(command, 0, 0, SPACES - 1)
    if space is None or len(command.args) > 1:
        return error(ErrorCode.BAD_ARGUMENT)
    return module.store_settings(replace(module.stored_settings, selected=space), OK)


def reset(module: ModuleEngine, command: CommandLine) -> Outcome:
    human = module.human_mode
    module.schedule_reset()
    if human:
        return Done(text=b"\r\n[MODULE ] Resetting...")
    return Done(text=b"\r\nReset", raw=True)


def enter_human_mode(module: ModuleEngine, command: CommandLine) -> Outcome:
    module.human_mode = True
    return value("Entering CMD mode...")


def leave_human_mode(module: ModuleEngine, command: CommandLine) -> Outcome:
    module.human_mode = False
    return value("Exiting CMD mode...")


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
    scan_entry = next_async_scan_entry(module)
    if scan_entry is not None:
        return scan_entry
    return Done(text=b"\r\n" + SOMA + (module.mr_queue.pop() or b"") + EOMA)


HANDLERS = {
    "I?": show_info,
    "Z?": show_system,
    "Z0": factory_reset,
    "Z1": save_settings,
    "Z2": clear_settings,
    "Z3": select_settings_space,
    "Z4": set_mac,
    "Z5": show_mac,
    "ZN": set_product_name,
    "ZR": reset,
    "$$$": enter_human_mode,
    "---": leave_human_mode,
    "MT": set_message_type,
    "MS": set_message_suppression,
    "MR": read_message,
}
