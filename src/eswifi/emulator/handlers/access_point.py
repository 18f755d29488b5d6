"""Soft access point: A0, AD, AE, A1, A2, AS, AC, AT, AL, AR, Z6 (docs/protocol.md §3.1).

While the soft AP runs the module's network interface is up, so servers (P5) work as
in station mode; clients are played by the radio's ``stations`` and by the control side
(:meth:`ModuleEngine.station_join`).
"""

from __future__ import annotations

from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.handlers import args, setters
from eswifi.emulator.outcomes import OK, Done, Outcome, error
from eswifi.wire.commands import CommandLine
from eswifi.wire.framing import ErrorCode

AP = "[AP     ] "
SOFT_AP = "soft_ap.registers"


def _set(module: ModuleEngine, **changes: object) -> Done:
    return setters.store(module, SOFT_AP, **changes)


def _ap_line(module: ModuleEngine) -> str:
    regs = module.soft_ap.registers
    return f"{AP}SSID: {module.soft_ap_ssid()}, Channel: {regs.channel}, {module.soft_ap_ip()}"


def _start(module: ModuleEngine, lines: list[str]) -> Outcome:
    if module.wifi.ap_active:
        return error()
    module.wifi.ap_active = True
    module.soft_ap.clients.clear()
    text = "".join("\r\n" + line for line in lines)
    for station in module.radio.stations:
        module.station_join(station.mac, rssi=station.rssi, now=module.now)
    return Done(text=text.encode("latin-1"))


def start_web_config_ap(module: ModuleEngine, command: CommandLine) -> Outcome:
    # ST's ActivateAP parses "[JOIN   ] <ssid>,<ip>,0,0" out of this reply.
    ssid, ip = module.soft_ap_ssid(), module.soft_ap_ip()
    join = f"[JOIN   ] {ssid},{ip},0,0"
    return _start(module, [_ap_line(module), join, "[WEB SVR] Server started"])


def start_direct_ap(module: ModuleEngine, command: CommandLine) -> Outcome:
    return _start(module, [_ap_line(module), "[WEB SVR] CSO Server started"])


def stop_ap(module: ModuleEngine, command: CommandLine) -> Outcome:
    wifi = module.wifi
    if not wifi.ap_active:
        return OK
    wifi.ap_active = False
    module.soft_ap.clients.clear()
    if not wifi.associated:
        module.leave_network()
    return Done(text=f"\r\n{AP}Shutdown".encode())


def show_clients(module: ModuleEngine, command: CommandLine) -> Outcome:
    clients = module.soft_ap.clients
    text = "".join(f"\r\n{i},{c.mac},{c.rssi}" for i, c in enumerate(clients))
    return Done(text=text.encode())


def set_ap_security(module: ModuleEngine, command: CommandLine) -> Outcome:
    security = args.integer(command, 0, 0, 4)
    if security is None or security == 1 or len(command.args) > 1:
        return error(ErrorCode.BAD_ARGUMENT)
    return _set(module, security=security)


def set_ap_passphrase(module: ModuleEngine, command: CommandLine) -> Outcome:
    passphrase = args.text(command, 0, 63)
    if passphrase is None or len(command.args) > 1:
        return error(ErrorCode.BAD_ARGUMENT)
    return _set(module, passphrase=passphrase)


def set_ap_ssid(module: ModuleEngine, command: CommandLine) -> Outcome:
    mode = args.integer(command, 0, 0, 1)
    ssid = args.text(command, 1, 32)
    if mode is None or not ssid or len(command.args) > 2:
        return error(ErrorCode.BAD_ARGUMENT)
    return _set(module, ssid_mode=mode, ssid=ssid)


HANDLERS = {
    "A0": start_web_config_ap,
    "A1": set_ap_security,
    "A2": set_ap_passphrase,
    "AC": setters.number(SOFT_AP, "channel", 0, 13),
    "AD": start_direct_ap,
    "AE": stop_ap,
    "AL": setters.number(SOFT_AP, "lease_time", 1, 65_535),
    "AR": show_clients,
    "AS": set_ap_ssid,
    "AT": setters.number(SOFT_AP, "max_clients", 1, 4),
    "Z6": setters.address(SOFT_AP, "ip"),
}
